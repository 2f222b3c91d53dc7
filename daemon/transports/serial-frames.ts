// The serial protocol's frame layer (docs/serial-protocol.md §2–§3): pure
// bytes in, frames out. A frame on the line is
//
//   0x00 ‖ COBS( header ‖ payload ‖ CRC-32C ) ‖ 0x00
//
// header (11 bytes, big-endian): version u8, type u8, flags u8,
// request id u16, sequence u32, payload length u16. The CRC covers header and
// payload and is sent big-endian. The layout of the first byte (version) is
// frozen for every future version.

import { cobsDecode, cobsEncode, cobsMaxEncodedBytes } from "./serial-cobs.js";
import { crc32c } from "./serial-crc.js";

export const PROTOCOL_VERSION = 1;
export const SUPPORTED_VERSIONS: readonly number[] = [1];
export const HEADER_BYTES = 11;
export const CRC_BYTES = 4;
export const FRAME_OVERHEAD_BYTES = HEADER_BYTES + CRC_BYTES;
/** Every peer must accept payloads of this size; the limit before the hello exchange. */
export const MIN_PAYLOAD_BYTES = 256;
/** The largest payload any peer may announce (the length field allows 65,535). */
export const MAX_PAYLOAD_BYTES = 16384;

export const FrameType = {
  HELLO: 0x01,
  CHALLENGE: 0x02,
  AUTH: 0x03,
  WELCOME: 0x04,
  REQUEST: 0x10,
  CHUNK: 0x11,
  RESULT: 0x12,
  ERROR: 0x13,
  CANCEL: 0x14,
  PING: 0x20,
  PONG: 0x21,
} as const;
export type FrameTypeName = keyof typeof FrameType;

const TYPE_NAMES = new Map<number, FrameTypeName>(Object.entries(FrameType).map(([k, v]) => [v, k as FrameTypeName]));
export function frameTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `0x${type.toString(16).padStart(2, "0")}`;
}

/** The seq of an ERROR on request id 0 that answers no frame (idle or handshake timeout). */
export const UNSOLICITED_SEQ = 0xffffffff;

/** Flags byte: bit 0 MORE (the message continues in the next frame); bits 1–7 reserved, zero. */
export const FLAG_MORE = 0x01;
export const FLAGS_RESERVED = 0xfe;

export interface Frame {
  version: number;
  type: number;
  flags: number;
  requestId: number;
  seq: number;
  payload: Uint8Array;
}

/** Line bytes of a frame with a payload of n bytes, in the worst case (both delimiters included). */
export function maxLineBytes(payloadBytes: number): number {
  return cobsMaxEncodedBytes(FRAME_OVERHEAD_BYTES + payloadBytes) + 2;
}

/** Writes the unencoded frame (header ‖ payload ‖ CRC). */
export function frameBytes(f: Frame): Uint8Array {
  if (f.payload.length > 0xffff) throw new RangeError(`payload of ${f.payload.length} bytes exceeds 65535`);
  const raw = new Uint8Array(FRAME_OVERHEAD_BYTES + f.payload.length);
  const v = new DataView(raw.buffer);
  v.setUint8(0, f.version);
  v.setUint8(1, f.type);
  v.setUint8(2, f.flags);
  v.setUint16(3, f.requestId);
  v.setUint32(5, f.seq >>> 0);
  v.setUint16(9, f.payload.length);
  raw.set(f.payload, HEADER_BYTES);
  v.setUint32(HEADER_BYTES + f.payload.length, crc32c(raw, 0, HEADER_BYTES + f.payload.length));
  return raw;
}

/** The frame as it goes on the line: 0x00 ‖ COBS(raw) ‖ 0x00. */
export function encodeFrame(f: Frame): Uint8Array {
  const raw = frameBytes(f);
  const out = new Uint8Array(cobsMaxEncodedBytes(raw.length) + 2);
  const n = cobsEncode(raw, out, 1);
  // out[0] and out[n + 1] stay 0x00: the leading delimiter ends any noise
  // before the frame, the trailing one ends the frame.
  return out.subarray(0, n + 2);
}

/** Splits one message into frames of at most maxPayloadBytes, MORE set on all but the last. */
export function fragment(
  type: number,
  requestId: number,
  firstSeq: number,
  payload: Uint8Array,
  maxPayloadBytes: number,
  version = PROTOCOL_VERSION,
): Frame[] {
  const frames: Frame[] = [];
  let seq = firstSeq;
  let at = 0;
  do {
    const end = Math.min(payload.length, at + maxPayloadBytes);
    frames.push({ version, type, flags: end < payload.length ? FLAG_MORE : 0, requestId, seq: seq++ >>> 0, payload: payload.subarray(at, end) });
    at = end;
  } while (at < payload.length);
  return frames;
}

/** Why the frame layer dropped bytes. */
export type FrameDropReason = "oversize" | "cobs" | "short" | "length" | "crc";

export type DecodeEvent =
  | { kind: "frame"; frame: Frame; lineBytes: number }
  | { kind: "drop"; reason: FrameDropReason; lineBytes: number; detail: string };

/**
 * Streaming decoder. Feed it whatever the line delivers, in any split; it
 * emits each good frame and each dropped one (with why). Memory is fixed at
 * construction: bytes past the largest legal frame are discarded up to the
 * next delimiter, not buffered.
 */
export class FrameDecoder {
  readonly maxPayloadBytes: number;
  private readonly encoded: Uint8Array;
  private readonly raw: Uint8Array;
  private length = 0;
  private discarding = false;
  private discardedBytes = 0;

  constructor(maxPayloadBytes: number) {
    this.maxPayloadBytes = maxPayloadBytes;
    this.encoded = new Uint8Array(cobsMaxEncodedBytes(FRAME_OVERHEAD_BYTES + maxPayloadBytes));
    this.raw = new Uint8Array(this.encoded.length);
  }

  /** Drops any partial frame (e.g. when the link is re-opened). */
  reset(): void {
    this.length = 0;
    this.discarding = false;
    this.discardedBytes = 0;
  }

  push(chunk: Uint8Array, emit: (e: DecodeEvent) => void): void {
    let i = 0;
    while (i < chunk.length) {
      const z = chunk.indexOf(0, i);
      const end = z === -1 ? chunk.length : z;
      const n = end - i;
      if (this.discarding) {
        this.discardedBytes += n;
      } else if (this.length + n > this.encoded.length) {
        this.discarding = true;
        this.discardedBytes = this.length + n;
        this.length = 0;
      } else if (n > 0) {
        this.encoded.set(chunk.subarray(i, end), this.length);
        this.length += n;
      }
      if (z === -1) return;
      i = z + 1;
      if (this.discarding) {
        const lineBytes = this.discardedBytes + 1;
        this.discarding = false;
        this.discardedBytes = 0;
        emit({ kind: "drop", reason: "oversize", lineBytes, detail: `more than ${this.encoded.length} bytes between delimiters` });
      } else if (this.length > 0) {
        const lineBytes = this.length + 1;
        const encodedLength = this.length;
        this.length = 0;
        emit(this.decodeOne(encodedLength, lineBytes));
      }
      // Empty frames (0x00 0x00) are idle fill, not errors.
    }
  }

  private decodeOne(encodedLength: number, lineBytes: number): DecodeEvent {
    const n = cobsDecode(this.encoded, encodedLength, this.raw);
    if (n < 0) return { kind: "drop", reason: "cobs", lineBytes, detail: "not a valid COBS encoding" };
    if (n < FRAME_OVERHEAD_BYTES) return { kind: "drop", reason: "short", lineBytes, detail: `${n} bytes, a frame has at least ${FRAME_OVERHEAD_BYTES}` };
    const raw = this.raw;
    const payloadLength = (raw[9]! << 8) | raw[10]!;
    if (payloadLength > this.maxPayloadBytes) {
      return { kind: "drop", reason: "oversize", lineBytes, detail: `payload of ${payloadLength} bytes, limit ${this.maxPayloadBytes}` };
    }
    if (FRAME_OVERHEAD_BYTES + payloadLength !== n) {
      return { kind: "drop", reason: "length", lineBytes, detail: `length field says ${payloadLength} payload bytes, frame has ${n - FRAME_OVERHEAD_BYTES}` };
    }
    const crcAt = HEADER_BYTES + payloadLength;
    const got = ((raw[crcAt]! << 24) | (raw[crcAt + 1]! << 16) | (raw[crcAt + 2]! << 8) | raw[crcAt + 3]!) >>> 0;
    const want = crc32c(raw, 0, crcAt);
    if (got !== want) return { kind: "drop", reason: "crc", lineBytes, detail: `CRC 0x${got.toString(16).padStart(8, "0")}, computed 0x${want.toString(16).padStart(8, "0")}` };
    return {
      kind: "frame",
      lineBytes,
      frame: {
        version: raw[0]!,
        type: raw[1]!,
        flags: raw[2]!,
        requestId: (raw[3]! << 8) | raw[4]!,
        seq: ((raw[5]! << 24) | (raw[6]! << 16) | (raw[7]! << 8) | raw[8]!) >>> 0,
        payload: raw.slice(HEADER_BYTES, crcAt),
      },
    };
  }
}
