// A diode block: the object one RaptorQ encoding carries. It holds a run of
// ledger records [firstSeq, firstSeq + count), the signed checkpoint they are
// proven against, and the Merkle range proof (left and right hash lists, see
// merkle-range.ts). Pure. Byte layout: docs/diode.md §Blocks.

import { crc32 } from "node:zlib";
import { SealboxError } from "../errors.js";

/** "SBXB": sealbox diode block. */
export const BLOCK_MAGIC = 0x53425842;
export const BLOCK_VERSION = 1;
/** Same limit as the ledger's records (64 KiB). */
export const MAX_BLOCK_RECORD_BYTES = 65536;
/** Merkle proofs of a tree of < 2^53 leaves have fewer than 64 hashes a side. */
const MAX_PROOF_HASHES = 63;
const MAX_CHECKPOINT_BYTES = 8192;

export interface DiodeBlock {
  flags: number;
  epoch: bigint;
  block: number;
  firstSeq: number;
  /** The C2SP signed-note checkpoint the records are proven against. */
  checkpoint: string;
  /** Compact range of [0, firstSeq), largest subtree first. */
  left: Uint8Array[];
  /** Subtrees tiling [firstSeq + count, checkpoint size), leftmost first. */
  right: Uint8Array[];
  /** Record bytes (RFC 8785 canonical JSON), in sequence order. */
  records: Uint8Array[];
}

/** Bytes encodeBlock() will produce for these parts (to fill a block up to a size). */
export function blockOverheadBytes(checkpointBytes: number, leftCount: number, rightCount: number): number {
  return 32 + 2 + checkpointBytes + 1 + 32 * leftCount + 1 + 32 * rightCount + 4;
}

/** Bytes one record adds to a block. */
export function blockRecordBytes(recordBytes: number): number {
  return 4 + recordBytes;
}

export function encodeBlock(b: DiodeBlock): Uint8Array {
  const cp = Buffer.from(b.checkpoint, "utf8");
  if (cp.length > MAX_CHECKPOINT_BYTES) throw new RangeError("checkpoint too large");
  if (b.left.length > MAX_PROOF_HASHES || b.right.length > MAX_PROOF_HASHES) throw new RangeError("too many proof hashes");
  if (b.records.length === 0) throw new RangeError("a block carries at least one record");
  let total = blockOverheadBytes(cp.length, b.left.length, b.right.length);
  for (const r of b.records) {
    if (r.length > MAX_BLOCK_RECORD_BYTES) throw new RangeError("record too large");
    total += blockRecordBytes(r.length);
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, BLOCK_MAGIC);
  view.setUint8(4, BLOCK_VERSION);
  view.setUint8(5, b.flags);
  view.setUint16(6, 0);
  view.setBigUint64(8, b.epoch);
  view.setUint32(16, b.block >>> 0);
  view.setBigUint64(20, BigInt(b.firstSeq));
  view.setUint32(28, b.records.length);
  let o = 32;
  view.setUint16(o, cp.length);
  out.set(cp, o + 2);
  o += 2 + cp.length;
  for (const list of [b.left, b.right]) {
    out[o++] = list.length;
    for (const h of list) {
      if (h.length !== 32) throw new RangeError("proof hashes are 32 bytes");
      out.set(h, o);
      o += 32;
    }
  }
  for (const r of b.records) {
    view.setUint32(o, r.length);
    out.set(r, o + 4);
    o += 4 + r.length;
  }
  view.setUint32(o, crc32(out.subarray(0, o)));
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function bad(what: string): SealboxError {
  return new SealboxError("BAD_FORMAT", `diode block: ${what}`);
}

/** Decodes a block object. Throws SealboxError BAD_FORMAT naming what is wrong. */
export function decodeBlock(bytes: Uint8Array): DiodeBlock {
  if (bytes.length < blockOverheadBytes(0, 0, 0)) throw bad(`too short (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.getUint32(0) !== BLOCK_MAGIC) throw bad("bad magic");
  if (view.getUint8(4) !== BLOCK_VERSION) throw bad(`unsupported version ${view.getUint8(4)}`);
  const end = bytes.length - 4;
  if (crc32(bytes.subarray(0, end)) !== view.getUint32(end)) throw bad("CRC mismatch (corrupted or forged symbols)");
  if (view.getUint16(6) !== 0) throw bad("reserved bits set");
  const flags = view.getUint8(5);
  const epoch = view.getBigUint64(8);
  const block = view.getUint32(16);
  const firstSeqBig = view.getBigUint64(20);
  const count = view.getUint32(28);
  if (count < 1) throw bad("no records");
  if (firstSeqBig + BigInt(count) > BigInt(Number.MAX_SAFE_INTEGER)) throw bad("sequence out of range");
  let o = 32;
  const need = (n: number, what: string): void => {
    if (o + n > end) throw bad(`truncated ${what}`);
  };
  need(2, "checkpoint length");
  const cpLen = view.getUint16(o);
  o += 2;
  need(cpLen, "checkpoint");
  let checkpoint: string;
  try {
    checkpoint = utf8.decode(bytes.subarray(o, o + cpLen));
  } catch {
    throw bad("checkpoint is not UTF-8");
  }
  o += cpLen;
  const lists: Uint8Array[][] = [];
  for (const side of ["left", "right"]) {
    need(1, `${side} hash count`);
    const n = bytes[o++]!;
    if (n > MAX_PROOF_HASHES) throw bad(`${side} hash count ${n} too large`);
    need(32 * n, `${side} hashes`);
    const list: Uint8Array[] = [];
    for (let i = 0; i < n; i++, o += 32) list.push(bytes.subarray(o, o + 32));
    lists.push(list);
  }
  const records: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    need(4, "record length");
    const len = view.getUint32(o);
    if (len > MAX_BLOCK_RECORD_BYTES) throw bad(`record ${i} is ${len} bytes (limit ${MAX_BLOCK_RECORD_BYTES})`);
    o += 4;
    need(len, "record");
    records.push(bytes.subarray(o, o + len));
    o += len;
  }
  if (o !== end) throw bad(`${end - o} stray bytes after the records`);
  return { flags, epoch, block, firstSeq: Number(firstSeqBig), checkpoint, left: lists[0]!, right: lists[1]!, records };
}
