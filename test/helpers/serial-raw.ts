// A raw protocol peer for tests: writes hand-made bytes and frames to a
// ByteLink and collects what comes back, decoded, for assertions.

import type { ByteLink } from "../../hal/index.js";
import { encodeFrame, FrameDecoder, FrameType, PROTOCOL_VERSION, type DecodeEvent, type Frame } from "../../daemon/transports/serial-frames.js";
import { bytesToHex, decodeJson, encodeJson } from "../../daemon/transports/serial-messages.js";
import { clientProof } from "../../daemon/transports/serial-auth.js";
import type { JsonValue } from "../../daemon/ledger/types.js";

export class RawPeer {
  readonly frames: Frame[] = [];
  readonly drops: DecodeEvent[] = [];
  readonly received: Uint8Array[] = [];
  private readonly decoder = new FrameDecoder(16384);
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];

  constructor(readonly link: ByteLink) {
    link.onData((chunk) => {
      this.received.push(chunk);
      this.decoder.push(chunk, (e) => {
        if (e.kind === "drop") {
          this.drops.push(e);
          return;
        }
        this.frames.push(e.frame);
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(e.frame)) return true;
          w.resolve(e.frame);
          return false;
        });
      });
    });
  }

  write(bytes: Uint8Array): Promise<void> {
    return this.link.write(bytes);
  }

  send(type: number, requestId: number, seq: number, payload: Uint8Array | JsonValue = new Uint8Array(0), flags = 0): Promise<void> {
    const p = payload instanceof Uint8Array ? payload : encodeJson(payload);
    return this.write(encodeFrame({ version: PROTOCOL_VERSION, type, flags, requestId, seq, payload: p }));
  }

  /** Resolves with the first frame (already received or to come) matching pred. */
  waitFor(pred: (f: Frame) => boolean, timeoutMs = 10_000, since = 0): Promise<Frame> {
    const have = this.frames.slice(since).find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching frame within ${timeoutMs} ms; have ${this.frames.length}`));
      }, timeoutMs);
      const done = (f: Frame): void => {
        clearTimeout(t);
        resolve(f);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  /** HELLO, CHALLENGE, AUTH, WELCOME with the given key; returns the CHALLENGE's payload. */
  async authenticate(psk: Uint8Array, nonce = new Uint8Array(32).fill(7), maxPayloadBytes = 1024): Promise<JsonValue> {
    const since = this.frames.length;
    const hello = encodeJson({ versions: [1], maxPayloadBytes, nonce: bytesToHex(nonce) });
    await this.send(FrameType.HELLO, 0, 0, hello);
    const ch = await this.waitFor((f) => f.type === FrameType.CHALLENGE || (f.type === FrameType.ERROR && f.requestId === 0), 10_000, since);
    if (ch.type !== FrameType.CHALLENGE) throw new Error(`HELLO refused: ${new TextDecoder().decode(ch.payload)}`);
    const since2 = this.frames.length;
    await this.send(FrameType.AUTH, 0, 1, { mac: bytesToHex(clientProof(psk, hello, ch.payload)) });
    const w = await this.waitFor((f) => (f.type === FrameType.WELCOME || f.type === FrameType.ERROR) && f.requestId === 0, 10_000, since2);
    if (w.type !== FrameType.WELCOME) throw new Error(`AUTH refused: ${new TextDecoder().decode(w.payload)}`);
    return decodeJson(ch.payload);
  }
}

export function json(f: Frame): JsonValue {
  return decodeJson(f.payload);
}
