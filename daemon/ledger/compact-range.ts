// A compact range over [0, size) of an RFC 9162 tree: the hashes of the
// maximal aligned complete subtrees that make up [0, size), largest first
// (one per set bit of size). Appending a leaf merges equal-sized neighbours;
// the root is the right-to-left fold of the range. This is how the writer
// grows the tree in O(1) amortised hashes per leaf and how a verifier
// recomputes a root while streaming leaves, in O(log n) memory.
//
// Pure: no storage. The optional onNode callback reports every complete
// subtree as it is formed (level 0 = the leaf itself) so a caller can persist it.

import { SealboxError } from "../errors.js";
import { EMPTY_ROOT, HASH_BYTES, nodeHash } from "./merkle.js";

/** A complete subtree: it covers leaves [index * 2^level, (index + 1) * 2^level). */
export interface TreeNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

export type NodeSink = (level: number, index: number, hash: Uint8Array) => void;

/** The (level, index) of each piece of [0, size), largest first. */
export function decompose(size: number): { level: number; index: number }[] {
  const out: { level: number; index: number }[] = [];
  let start = 0;
  for (let level = Math.floor(Math.log2(Math.max(size, 1))) + 1; level >= 0; level--) {
    const width = 2 ** level;
    if (start + width <= size) {
      out.push({ level, index: start / width });
      start += width;
    }
  }
  return out;
}

/**
 * The aligned complete subtrees that cover [begin, end), left to right: at
 * each position the largest block that is aligned there and still fits.
 * Every one is a node of any RFC 9162 tree of size >= end.
 */
export function decomposeRange(begin: number, end: number): { level: number; index: number }[] {
  const out: { level: number; index: number }[] = [];
  let p = begin;
  while (p < end) {
    let level = 0;
    while (p % 2 ** (level + 1) === 0 && p + 2 ** (level + 1) <= end) level++;
    out.push({ level, index: p / 2 ** level });
    p += 2 ** level;
  }
  return out;
}

export class CompactRange {
  private readonly stack: TreeNode[] = [];
  private count = 0;

  /** Rebuilds a range from the hashes of decompose(size), largest first. */
  static fromHashes(size: number, hashes: Uint8Array[]): CompactRange {
    const pieces = decompose(size);
    if (hashes.length !== pieces.length) {
      throw new SealboxError("VERIFY_FAILED", `a compact range of size ${size} needs ${pieces.length} hashes, got ${hashes.length}`, {
        details: { size, want: pieces.length, got: hashes.length },
      });
    }
    const r = new CompactRange();
    pieces.forEach((p, i) => {
      const h = hashes[i]!;
      if (h.length !== HASH_BYTES) {
        throw new SealboxError("VERIFY_FAILED", `compact range hash ${i} is ${h.length} bytes, expected ${HASH_BYTES}`, {
          details: { index: i, gotBytes: h.length },
        });
      }
      r.stack.push({ level: p.level, index: p.index, hash: h });
    });
    r.count = size;
    return r;
  }

  get size(): number {
    return this.count;
  }

  /** The range's pieces, largest first (copies of the entries). */
  nodes(): TreeNode[] {
    return this.stack.map((n) => ({ ...n }));
  }

  clone(): CompactRange {
    const r = new CompactRange();
    for (const n of this.stack) r.stack.push({ ...n });
    r.count = this.count;
    return r;
  }

  /** Appends one leaf hash (leaf index = size before the call). */
  append(leaf: Uint8Array, onNode?: NodeSink): void {
    this.appendSubtree(0, leaf, onNode);
  }

  /**
   * Appends a complete subtree of 2^level leaves. Requires size to be a
   * multiple of 2^level (the block is aligned where it lands).
   */
  appendSubtree(level: number, hash: Uint8Array, onNode?: NodeSink): void {
    const width = 2 ** level;
    if (this.count % width !== 0) {
      throw new SealboxError("VERIFY_FAILED", `a subtree of ${width} leaves cannot start at ${this.count}`, {
        details: { level, at: this.count },
      });
    }
    let cur: TreeNode = { level, index: this.count / width, hash };
    onNode?.(cur.level, cur.index, cur.hash);
    while (this.stack.length > 0 && this.stack[this.stack.length - 1]!.level === cur.level) {
      const left = this.stack.pop()!;
      cur = { level: cur.level + 1, index: left.index / 2, hash: nodeHash(left.hash, cur.hash) };
      onNode?.(cur.level, cur.index, cur.hash);
    }
    this.stack.push(cur);
    this.count += width;
  }

  /** MTH of the leaves so far. */
  root(): Uint8Array {
    if (this.stack.length === 0) return EMPTY_ROOT;
    let r = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) r = nodeHash(this.stack[i]!.hash, r);
    return r;
  }
}
