// Builds the diode's blocks from the ledger: reads a run of records, proves
// them against the latest signed checkpoint with two inclusion proofs, and
// RaptorQ-encodes the result. Reads the ledger through the narrow reader
// below (the ledger's LedgerReader satisfies it); touches no socket.

import { SealboxError } from "../errors.js";
import { blockOverheadBytes, blockRecordBytes, encodeBlock, MAX_BLOCK_RECORD_BYTES } from "./block.js";
import { encodeObject } from "./fec.js";
import { encodeSymbolFrame, maxSourceSymbols, type SymbolFrameFields } from "./frame.js";
import { leftHashesFromProof, rightHashesFromProof } from "./merkle-range.js";

/** What the diode reads from the ledger (a subset of daemon/ledger/types.ts LedgerReader). */
export interface DiodeLedgerReader {
  size(): number;
  /** The latest signed checkpoint (C2SP signed note), if any. */
  latestCheckpoint(): string | undefined;
  recordBytes(seq: number): Uint8Array | undefined;
  /** RFC 9162 inclusion proof of leaf seq in the tree of treeSize leaves. */
  inclusionProof(seq: number, treeSize: number): Uint8Array[];
  onCheckpoint(listener: (size: number, note: string) => void): () => void;
}

export interface CheckpointSnapshot {
  note: string;
  size: number;
}

/** A block ready to go: its frame fields and RaptorQ packets, framed lazily as they are sent. */
export interface OutgoingBlock {
  fields: SymbolFrameFields;
  packets: Uint8Array[];
  next: number;
  carousel: boolean;
  recordBytes: number;
}

export interface BuildOptions {
  epoch: bigint;
  block: number;
  flags: number;
  firstSeq: number;
  /** Records at or beyond this are not included. */
  endSeq: number;
  checkpoint: CheckpointSnapshot;
  symbolBytes: number;
  /** Target source symbols per block (the object grows up to this many symbols). */
  blockSymbols: number;
  repairRatio: number;
  /** At least this many repair symbols, however small the block (when repairRatio > 0). Defaults to 2. */
  minRepairSymbols?: number;
  /** Which window of repair symbols to send: window w carries repair symbols [w·r, (w+1)·r). Defaults to 0. */
  repairWindow?: number;
}

function bitLength(n: number): number {
  return n <= 0 ? 0 : Math.floor(Math.log2(n)) + 1;
}

/** A block read and proven, not yet RaptorQ-encoded (that part may run on a worker thread). */
export interface PreparedBlock {
  fields: SymbolFrameFields;
  object: Uint8Array;
  /** Source symbols K. */
  k: number;
  /** Repair symbols to send, and how many to skip first (earlier windows). */
  repair: number;
  skip: number;
  carousel: boolean;
  recordBytes: number;
}

/** Reads the records [firstSeq, …) that fit blockSymbols (at least one) and proves them against the checkpoint. */
export function prepareBlock(reader: DiodeLedgerReader, o: BuildOptions): PreparedBlock {
  const n = o.checkpoint.size;
  const end = Math.min(o.endSeq, n);
  if (!(o.firstSeq >= 0 && o.firstSeq < end)) throw new RangeError(`nothing to send in [${o.firstSeq}, ${end})`);
  const cpBytes = Buffer.byteLength(o.checkpoint.note, "utf8");
  const hardMaxBytes = maxSourceSymbols(o.symbolBytes) * o.symbolBytes;
  const targetBytes = Math.min(hardMaxBytes, Math.max(1, o.blockSymbols) * o.symbolBytes);
  // Proof lists are at most one hash per tree level; reserve for the worst case.
  let used = blockOverheadBytes(cpBytes, bitLength(n), bitLength(n));
  const records: Uint8Array[] = [];
  let recordBytes = 0;
  for (let seq = o.firstSeq; seq < end; seq++) {
    const r = reader.recordBytes(seq);
    if (r === undefined) throw new SealboxError("LEDGER_CORRUPT", `diode: record ${seq} is missing below the checkpoint size ${n}`);
    if (r.length > MAX_BLOCK_RECORD_BYTES) throw new SealboxError("RECORD_TOO_LARGE", `diode: record ${seq} is ${r.length} bytes`);
    const add = blockRecordBytes(r.length);
    if (records.length > 0 && used + add > targetBytes) break;
    if (used + add > hardMaxBytes) throw new SealboxError("DIODE_ERROR", `diode: record ${seq} does not fit one block at symbol size ${o.symbolBytes}`);
    records.push(r);
    used += add;
    recordBytes += r.length;
  }
  const blockEnd = o.firstSeq + records.length;
  const left = o.firstSeq > 0 ? leftHashesFromProof(o.firstSeq, n, reader.inclusionProof(o.firstSeq, n)) : [];
  const right = blockEnd < n ? rightHashesFromProof(blockEnd, n, reader.inclusionProof(blockEnd - 1, n)) : [];
  const object = encodeBlock({ flags: o.flags, epoch: o.epoch, block: o.block, firstSeq: o.firstSeq, checkpoint: o.checkpoint.note, left, right, records });
  const k = Math.ceil(object.length / o.symbolBytes);
  const repair = o.repairRatio > 0 ? Math.max(o.minRepairSymbols ?? 2, Math.ceil(k * o.repairRatio)) : 0;
  return {
    fields: { flags: o.flags, epoch: o.epoch, block: o.block, firstSeq: o.firstSeq, count: records.length, transferBytes: object.length, symbolBytes: o.symbolBytes },
    object,
    k,
    repair,
    skip: repair * (o.repairWindow ?? 0),
    carousel: (o.flags & 1) === 1,
    recordBytes,
  };
}

/** RaptorQ-encodes a prepared block here and now: source symbols, then this window's repair symbols. */
export function encodePrepared(p: PreparedBlock): Uint8Array[] {
  const packets = encodeObject(p.object, p.fields.symbolBytes, p.skip + p.repair);
  // Each window's repair symbols are new to a receiver that kept an earlier pass's.
  return p.skip > 0 ? packets.slice(0, p.k).concat(packets.slice(p.k + p.skip)) : packets;
}

export function outgoing(p: PreparedBlock, packets: Uint8Array[]): OutgoingBlock {
  return { fields: p.fields, packets, next: 0, carousel: p.carousel, recordBytes: p.recordBytes };
}

/** Builds and encodes the block [firstSeq, …) — as many records as fit blockSymbols, at least one. */
export function buildBlock(reader: DiodeLedgerReader, o: BuildOptions): OutgoingBlock {
  const p = prepareBlock(reader, o);
  return outgoing(p, encodePrepared(p));
}

/** Frames the block's next packet, or returns undefined when it has all gone. */
export function nextFrame(b: OutgoingBlock): Uint8Array | undefined {
  const p = b.packets[b.next];
  if (p === undefined) return undefined;
  b.next++;
  // Let the packet go as soon as it is framed: memory shrinks as the block drains.
  b.packets[b.next - 1] = EMPTY;
  return encodeSymbolFrame(b.fields, p);
}

const EMPTY = new Uint8Array(0);
