// The diode's wire frames: one frame per UDP datagram, or one COBS-stuffed
// frame between 0x00 delimiters on a TX-only serial line. Pure: bytes in,
// values out. docs/diode.md §Frames is the byte-by-byte specification; keep
// the two in step.
//
// Every frame is self-describing (an outsider can decode it with any RFC 6330
// implementation and the signed notes) and ends with a CRC-32 over everything
// before it, so a corrupted frame is dropped before it reaches the FEC decoder.
// The CRC is not authentication: what the receiver writes is proven by the
// box's signed checkpoints, never by the framing.

import { crc32 } from "node:zlib";

/** "SBXD": sealbox diode. */
export const FRAME_MAGIC = 0x53425844;
export const FRAME_VERSION = 1;
export const KIND_SYMBOL = 1;
export const KIND_HEARTBEAT = 2;
/** flags bit 0: the block is a carousel re-send (informational). */
export const FLAG_CAROUSEL = 0x01;

/** Bytes of a symbol frame before the symbol (header, OTI, FEC payload ID). */
export const SYMBOL_HEADER_BYTES = 48;
/** Bytes of the trailing CRC-32. */
export const CRC_BYTES = 4;
/** A symbol frame is SYMBOL_HEADER_BYTES + T + CRC_BYTES long. */
export const SYMBOL_OVERHEAD_BYTES = SYMBOL_HEADER_BYTES + CRC_BYTES;
const HEARTBEAT_FIXED_BYTES = 16 + 2 + 2 + CRC_BYTES;

/** RFC 6330 §4.3: symbol alignment Al. Our objects always use 8 (the raptorq crate's default). */
export const SYMBOL_ALIGNMENT = 8;
/** The raptorq crate needs T ≥ 8·Al (one sub-symbol per sub-block), or it panics. */
export const MIN_SYMBOL_BYTES = 64;
/** T is a u16 and a multiple of Al. */
export const MAX_SYMBOL_BYTES = 65528;
/**
 * The raptorq crate sizes objects for a 10 MiB decoder working set; within
 * 95% of it, every object is one source block (Z = 1) of one sub-block (N = 1).
 */
const DECODER_WORKING_SET_BYTES = 10 * 1024 * 1024;
const ABSOLUTE_MAX_SOURCE_SYMBOLS = 8192;
/** Largest heartbeat frame we make or accept (two signed notes). */
export const MAX_HEARTBEAT_FRAME_BYTES = 8192;
/** A u64 sequence must stay a safe JavaScript integer. */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** The most source symbols one object (block) may have for symbol size T. */
export function maxSourceSymbols(symbolBytes: number): number {
  return Math.min(ABSOLUTE_MAX_SOURCE_SYMBOLS, Math.floor((0.95 * DECODER_WORKING_SET_BYTES) / symbolBytes));
}

/** The largest symbol size whose frames fit in a datagram of mtuBytes. */
export function symbolBytesForMtu(mtuBytes: number): number {
  const t = Math.floor((mtuBytes - SYMBOL_OVERHEAD_BYTES) / SYMBOL_ALIGNMENT) * SYMBOL_ALIGNMENT;
  return Math.min(t, MAX_SYMBOL_BYTES);
}

export interface SymbolFrame {
  kind: "symbol";
  flags: number;
  epoch: bigint;
  /** Block number within the epoch (u32, wraps). */
  block: number;
  /** First ledger sequence number the block carries, and how many. */
  firstSeq: number;
  count: number;
  /** RFC 6330 OTI: transfer length F and symbol size T (Z = 1, N = 1, Al = 8 always). */
  transferBytes: number;
  symbolBytes: number;
  /** RFC 6330 §3.2 encoding symbol ID. */
  esi: number;
  /** The raptorq packet: the 4-byte FEC payload ID followed by the T-byte symbol (a view into the frame). */
  packet: Uint8Array;
}

export interface HeartbeatFrame {
  kind: "heartbeat";
  flags: number;
  epoch: bigint;
  /** The latest signed checkpoint (C2SP signed note), or "" when the ledger has none yet. */
  checkpoint: string;
  /** The heartbeat signed note (docs/diode.md §Heartbeat). */
  heartbeat: string;
}

export type InvalidReason =
  | "short"
  | "magic"
  | "version"
  | "kind"
  | "reserved"
  | "crc"
  | "length"
  | "fec-params"
  | "range"
  | "utf8"
  | "too-large";

export interface InvalidFrame {
  kind: "invalid";
  reason: InvalidReason;
}

export type Frame = SymbolFrame | HeartbeatFrame | InvalidFrame;

export interface SymbolFrameFields {
  flags: number;
  epoch: bigint;
  block: number;
  firstSeq: number;
  count: number;
  transferBytes: number;
  symbolBytes: number;
}

function writeHeader(view: DataView, kind: number, flags: number, epoch: bigint): void {
  view.setUint32(0, FRAME_MAGIC);
  view.setUint8(4, FRAME_VERSION);
  view.setUint8(5, kind);
  view.setUint8(6, flags);
  view.setUint8(7, 0);
  view.setBigUint64(8, epoch);
}

function sealCrc(frame: Uint8Array): void {
  const body = frame.subarray(0, frame.length - CRC_BYTES);
  new DataView(frame.buffer, frame.byteOffset, frame.length).setUint32(frame.length - CRC_BYTES, crc32(body));
}

/**
 * Encodes one symbol frame around a raptorq packet (4-byte FEC payload ID +
 * T-byte symbol, as the raptorq crate serialises it).
 */
export function encodeSymbolFrame(fields: SymbolFrameFields, packet: Uint8Array): Uint8Array {
  const t = fields.symbolBytes;
  if (packet.length !== 4 + t) throw new RangeError(`packet is ${packet.length} bytes, expected ${4 + t}`);
  const frame = new Uint8Array(SYMBOL_HEADER_BYTES + t + CRC_BYTES);
  const view = new DataView(frame.buffer);
  writeHeader(view, KIND_SYMBOL, fields.flags, fields.epoch);
  view.setUint32(16, fields.block >>> 0);
  view.setBigUint64(20, BigInt(fields.firstSeq));
  view.setUint32(28, fields.count);
  // RFC 6330 §3.3.2 Common FEC OTI: F (40 bits), reserved (8), T (16).
  view.setUint8(32, Math.floor(fields.transferBytes / 2 ** 32));
  view.setUint32(33, fields.transferBytes >>> 0);
  view.setUint8(37, 0);
  view.setUint16(38, t);
  // RFC 6330 §3.3.3 Scheme-Specific FEC OTI: Z (8), N (16), Al (8).
  view.setUint8(40, 1);
  view.setUint16(41, 1);
  view.setUint8(43, SYMBOL_ALIGNMENT);
  frame.set(packet, 44);
  sealCrc(frame);
  return frame;
}

export function encodeHeartbeatFrame(epoch: bigint, checkpoint: string, heartbeat: string): Uint8Array {
  const cp = Buffer.from(checkpoint, "utf8");
  const hb = Buffer.from(heartbeat, "utf8");
  const frame = new Uint8Array(HEARTBEAT_FIXED_BYTES + cp.length + hb.length);
  if (frame.length > MAX_HEARTBEAT_FRAME_BYTES) throw new RangeError(`heartbeat frame would be ${frame.length} bytes (limit ${MAX_HEARTBEAT_FRAME_BYTES})`);
  const view = new DataView(frame.buffer);
  writeHeader(view, KIND_HEARTBEAT, 0, epoch);
  view.setUint16(16, cp.length);
  frame.set(cp, 18);
  view.setUint16(18 + cp.length, hb.length);
  frame.set(hb, 20 + cp.length);
  sealCrc(frame);
  return frame;
}

const invalid = (reason: InvalidReason): InvalidFrame => ({ kind: "invalid", reason });
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses one frame. Never throws: a bad frame comes back as { kind: "invalid", reason }. */
export function parseFrame(frame: Uint8Array): Frame {
  if (frame.length < 16 + CRC_BYTES) return invalid("short");
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
  if (view.getUint32(0) !== FRAME_MAGIC) return invalid("magic");
  if (view.getUint8(4) !== FRAME_VERSION) return invalid("version");
  const kind = view.getUint8(5);
  if (kind !== KIND_SYMBOL && kind !== KIND_HEARTBEAT) return invalid("kind");
  if (kind === KIND_HEARTBEAT && frame.length > MAX_HEARTBEAT_FRAME_BYTES) return invalid("too-large");
  if (kind === KIND_SYMBOL && frame.length > SYMBOL_OVERHEAD_BYTES + MAX_SYMBOL_BYTES) return invalid("too-large");
  // The CRC before any field is believed: corruption anywhere fails here.
  if (crc32(frame.subarray(0, frame.length - CRC_BYTES)) !== view.getUint32(frame.length - CRC_BYTES)) return invalid("crc");
  const flags = view.getUint8(6);
  if (view.getUint8(7) !== 0) return invalid("reserved");
  const epoch = view.getBigUint64(8);
  return kind === KIND_SYMBOL ? parseSymbol(frame, view, flags, epoch) : parseHeartbeat(frame, view, flags, epoch);
}

function parseSymbol(frame: Uint8Array, view: DataView, flags: number, epoch: bigint): Frame {
  if (frame.length < SYMBOL_OVERHEAD_BYTES + MIN_SYMBOL_BYTES) return invalid("short");
  if ((flags & ~FLAG_CAROUSEL) !== 0) return invalid("reserved");
  const block = view.getUint32(16);
  const firstSeqBig = view.getBigUint64(20);
  const count = view.getUint32(28);
  const transferBytes = view.getUint8(32) * 2 ** 32 + view.getUint32(33);
  if (view.getUint8(37) !== 0) return invalid("reserved");
  const symbolBytes = view.getUint16(38);
  const z = view.getUint8(40);
  const n = view.getUint16(41);
  const al = view.getUint8(43);
  const sbn = view.getUint8(44);
  const esi = (view.getUint8(45) << 16) | view.getUint16(46);
  if (frame.length !== SYMBOL_OVERHEAD_BYTES + symbolBytes) return invalid("length");
  if (z !== 1 || n !== 1 || al !== SYMBOL_ALIGNMENT || sbn !== 0) return invalid("fec-params");
  if (symbolBytes < MIN_SYMBOL_BYTES || symbolBytes % SYMBOL_ALIGNMENT !== 0) return invalid("fec-params");
  if (transferBytes < 1 || Math.ceil(transferBytes / symbolBytes) > maxSourceSymbols(symbolBytes)) return invalid("fec-params");
  if (count < 1 || firstSeqBig + BigInt(count) > BigInt(MAX_SEQ)) return invalid("range");
  return {
    kind: "symbol",
    flags,
    epoch,
    block,
    firstSeq: Number(firstSeqBig),
    count,
    transferBytes,
    symbolBytes,
    esi,
    packet: frame.subarray(44, SYMBOL_HEADER_BYTES + symbolBytes),
  };
}

function parseHeartbeat(frame: Uint8Array, view: DataView, flags: number, epoch: bigint): Frame {
  if (flags !== 0) return invalid("reserved");
  if (frame.length < HEARTBEAT_FIXED_BYTES) return invalid("short");
  const cpLen = view.getUint16(16);
  if (18 + cpLen + 2 > frame.length - CRC_BYTES) return invalid("length");
  const hbLen = view.getUint16(18 + cpLen);
  if (HEARTBEAT_FIXED_BYTES + cpLen + hbLen !== frame.length) return invalid("length");
  try {
    const checkpoint = utf8.decode(frame.subarray(18, 18 + cpLen));
    const heartbeat = utf8.decode(frame.subarray(20 + cpLen, 20 + cpLen + hbLen));
    return { kind: "heartbeat", flags, epoch, checkpoint, heartbeat };
  } catch {
    return invalid("utf8");
  }
}
