// Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 7(2), 1999)
// for the TX-only serial diode: each frame is COBS-encoded and followed by one
// 0x00, so a receiver that joins mid-stream, or loses or corrupts bytes,
// resynchronises at the next 0x00. Pure.

/** Encodes bytes so the result contains no 0x00 (at most ⌈n/254⌉ + 1 bytes longer). */
export function cobsEncode(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(input.length + Math.ceil(input.length / 254) + 1);
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!;
    if (b === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
      continue;
    }
    out[o++] = b;
    code++;
    if (code === 0xff) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
    }
  }
  out[codeAt] = code;
  return out.subarray(0, o);
}

/** Decodes one COBS block (without its 0x00 delimiter). Returns undefined when the block is malformed. */
export function cobsDecode(input: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(input.length);
  let o = 0;
  let i = 0;
  while (i < input.length) {
    const code = input[i]!;
    if (code === 0) return undefined;
    const end = i + code;
    if (end > input.length) return undefined;
    for (let j = i + 1; j < end; j++) {
      const b = input[j]!;
      if (b === 0) return undefined;
      out[o++] = b;
    }
    i = end;
    // A code below 0xff marks a zero in the input, except after the last group.
    if (code !== 0xff && i < input.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}

/** A frame on the line: the COBS encoding followed by the 0x00 delimiter. */
export function cobsFrame(frame: Uint8Array): Uint8Array {
  const enc = cobsEncode(frame);
  const out = new Uint8Array(enc.length + 1);
  out.set(enc, 0);
  return out;
}

export interface CobsStreamStats {
  frames: number;
  malformed: number;
  oversized: number;
}

/**
 * Splits a byte stream into frames at 0x00 delimiters and COBS-decodes each.
 * Memory is bounded: a run longer than maxEncodedBytes is dropped up to the
 * next delimiter and counted as oversized.
 */
export class CobsStreamDecoder {
  private buf: Uint8Array;
  private len = 0;
  private discarding = false;
  readonly stats: CobsStreamStats = { frames: 0, malformed: 0, oversized: 0 };

  constructor(
    private readonly onFrame: (frame: Uint8Array) => void,
    private readonly maxEncodedBytes = 70_000,
  ) {
    this.buf = new Uint8Array(Math.min(4096, maxEncodedBytes));
  }

  push(chunk: Uint8Array): void {
    let start = 0;
    for (;;) {
      const z = chunk.indexOf(0, start);
      const end = z === -1 ? chunk.length : z;
      this.append(chunk.subarray(start, end));
      if (z === -1) return;
      this.finishFrame();
      start = z + 1;
    }
  }

  private append(bytes: Uint8Array): void {
    if (this.discarding || bytes.length === 0) return;
    if (this.len + bytes.length > this.maxEncodedBytes) {
      this.discarding = true;
      this.len = 0;
      this.stats.oversized++;
      return;
    }
    if (this.len + bytes.length > this.buf.length) {
      const grown = new Uint8Array(Math.min(this.maxEncodedBytes, Math.max(this.buf.length * 2, this.len + bytes.length)));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  private finishFrame(): void {
    const wasDiscarding = this.discarding;
    this.discarding = false;
    const n = this.len;
    this.len = 0;
    if (wasDiscarding || n === 0) return;
    const decoded = cobsDecode(this.buf.subarray(0, n));
    if (decoded === undefined) {
      this.stats.malformed++;
      return;
    }
    this.stats.frames++;
    this.onFrame(decoded);
  }
}
