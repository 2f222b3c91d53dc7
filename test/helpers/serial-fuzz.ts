// Mutated-frame generator for the serial fuzz tests: a seeded PRNG, a corpus
// of valid client frames, and mutations at two levels — line bytes (bit
// flips, inserts, deletes, truncation, splices, noise) and frame fields
// re-sealed with a valid CRC (so they reach the session layer).

import { encodeFrame, FLAG_MORE, FrameType, type Frame } from "../../daemon/transports/serial-frames.js";
import { encodeJson } from "../../daemon/transports/serial-messages.js";

export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  /** xorshift32 */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.next() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

const json = (v: unknown): Uint8Array => encodeJson(v as never);

export function corpus(): Frame[] {
  const fr = (type: number, requestId: number, seq: number, payload: Uint8Array, flags = 0): Frame => ({ version: 1, type, flags, requestId, seq, payload });
  return [
    fr(FrameType.HELLO, 0, 0, json({ versions: [1], maxPayloadBytes: 512, nonce: "ab".repeat(32), client: "fuzz" })),
    fr(FrameType.AUTH, 0, 1, json({ mac: "cd".repeat(32) })),
    fr(FrameType.REQUEST, 1, 0, json({ method: "echo", params: { a: [1, 2, { b: "c" }] } })),
    fr(FrameType.REQUEST, 2, 0, json({ method: "stream", params: { count: 5 } })),
    fr(FrameType.REQUEST, 3, 0, json({ method: "slow", params: { ms: 5 } })),
    fr(FrameType.REQUEST, 4, 0, json({ method: "echo", params: "x".repeat(100) }).subarray(0, 60), FLAG_MORE),
    fr(FrameType.REQUEST, 4, 1, json({ method: "echo", params: "x".repeat(100) }).subarray(60)),
    fr(FrameType.CANCEL, 3, 1, new Uint8Array(0)),
    fr(FrameType.PING, 0, 5, Uint8Array.of(1, 2, 3)),
    fr(FrameType.REQUEST, 5, 0, json({ method: "fail", params: { code: "BUSY" } })),
  ];
}

/** One mutated piece of line bytes, from a corpus frame. */
export function mutate(rng: Prng, frames: readonly Frame[]): Uint8Array {
  const base = rng.pick(frames);
  const kind = rng.int(10);
  if (kind < 4) {
    // Field-level, re-sealed: valid COBS and CRC, hostile contents.
    const f: Frame = { ...base, payload: base.payload.slice() };
    switch (rng.int(7)) {
      case 0:
        f.type = rng.int(256);
        break;
      case 1:
        f.flags = rng.int(256);
        break;
      case 2:
        f.requestId = rng.int(65536);
        break;
      case 3:
        f.seq = rng.next();
        break;
      case 4:
        f.version = rng.int(4);
        break;
      case 5:
        for (let i = 0, n = 1 + rng.int(4); i < n && f.payload.length > 0; i++) f.payload[rng.int(f.payload.length)] = rng.int(256);
        break;
      default:
        f.payload = f.payload.subarray(0, rng.int(f.payload.length + 1));
    }
    return encodeFrame(f);
  }
  const line = encodeFrame(base);
  switch (kind) {
    case 4: {
      const b = line.slice();
      for (let i = 0, n = 1 + rng.int(3); i < n; i++) b[rng.int(b.length)]! ^= 1 << rng.int(8);
      return b;
    }
    case 5: {
      const at = rng.int(line.length);
      return Buffer.concat([line.subarray(0, at), Uint8Array.of(rng.int(256)), line.subarray(at)]);
    }
    case 6: {
      const at = rng.int(line.length);
      return Buffer.concat([line.subarray(0, at), line.subarray(at + 1 + rng.int(4))]);
    }
    case 7:
      return line.subarray(0, rng.int(line.length));
    case 8: {
      const other = encodeFrame(rng.pick(frames));
      return Buffer.concat([line.subarray(0, rng.int(line.length)), other.subarray(rng.int(other.length))]);
    }
    default:
      return Uint8Array.from({ length: 1 + rng.int(40) }, () => rng.int(256));
  }
}
