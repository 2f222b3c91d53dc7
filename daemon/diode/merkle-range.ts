// Merkle range arithmetic for the diode (RFC 9162 §2.1 trees). A diode block
// carries a run of leaves [a, b) and two short hash lists that prove them
// against a signed checkpoint of size N:
//
//   left  = the compact range of [0, a): the perfect subtrees that tile [0, a),
//           largest (leftmost) first — popcount(a) hashes;
//   right = the maximal subtrees that tile [b, N), leftmost first — the right
//           siblings on the audit path of leaf b−1.
//
// Both come from ordinary RFC 9162 inclusion proofs (of leaf a and of leaf
// b−1 in tree N), split by which side each sibling sits on. The receiver folds
// left + leaves into a compact range of [0, b), checks it equals its own
// verified prefix where they overlap (that is the consistency proof), and
// folds in the right hashes to recompute the checkpoint's root. Pure.

import { hash } from "node:crypto";

/** RFC 9162 §2.1.1: leaf hash SHA-256(0x00 ‖ leaf). */
export function leafHashOf(leaf: Uint8Array): Uint8Array {
  const buf = new Uint8Array(leaf.length + 1);
  buf.set(leaf, 1);
  return hash("sha256", buf, "buffer");
}

/** RFC 9162 §2.1.1: interior node SHA-256(0x01 ‖ left ‖ right). */
export function nodeHashOf(left: Uint8Array, right: Uint8Array): Uint8Array {
  const buf = new Uint8Array(65);
  buf[0] = 1;
  buf.set(left, 1);
  buf.set(right, 33);
  return hash("sha256", buf, "buffer");
}

const EMPTY_ROOT = hash("sha256", new Uint8Array(0), "buffer");

export function popcount(n: number): number {
  let c = 0;
  // n may exceed 2^32: no bitwise operators.
  while (n > 0) {
    if (n % 2 === 1) c++;
    n = Math.floor(n / 2);
  }
  return c;
}

/** Hashes of an inclusion proof, sorted by the side of the audit path they sit on. */
export interface SplitProof {
  /** Siblings left of the path, bottom-up. */
  left: Uint8Array[];
  /** Siblings right of the path, bottom-up. */
  right: Uint8Array[];
}

/**
 * Splits an RFC 9162 inclusion proof of leaf `index` in a tree of `size`
 * into left and right siblings, following the verifier's walk (§2.1.3.2).
 * Throws RangeError when the proof has the wrong length.
 */
export function splitInclusionProof(index: number, size: number, proof: readonly Uint8Array[]): SplitProof {
  if (!(index >= 0 && index < size)) throw new RangeError(`leaf ${index} is not in a tree of size ${size}`);
  const left: Uint8Array[] = [];
  const right: Uint8Array[] = [];
  let fn = index;
  let sn = size - 1;
  for (const p of proof) {
    if (sn === 0) throw new RangeError("inclusion proof is too long");
    if (fn % 2 === 1 || fn === sn) {
      left.push(p);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      right.push(p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new RangeError("inclusion proof is too short");
  return { left, right };
}

/** The left hash list of a block starting at leaf a, from an inclusion proof of leaf a in tree N. */
export function leftHashesFromProof(a: number, size: number, proofOfA: readonly Uint8Array[]): Uint8Array[] {
  return splitInclusionProof(a, size, proofOfA).left.reverse();
}

/** The right hash list of a block ending before leaf b, from an inclusion proof of leaf b−1 in tree N. */
export function rightHashesFromProof(b: number, size: number, proofOfLast: readonly Uint8Array[]): Uint8Array[] {
  return splitInclusionProof(b - 1, size, proofOfLast).right;
}

/**
 * A compact range of [0, size): the roots of the perfect subtrees tiling it,
 * largest first. Appending a leaf merges equal-sized neighbours, so each
 * append costs one leaf hash and on average one node hash.
 */
export class CompactRange {
  private constructor(
    private sizeLeaves: number,
    private readonly hashes: Uint8Array[],
  ) {}

  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /** Takes a block's left hashes (or a saved frontier) for [0, size). Throws RangeError on a wrong count. */
  static of(size: number, hashes: readonly Uint8Array[]): CompactRange {
    if (hashes.length !== popcount(size)) throw new RangeError(`a compact range of ${size} leaves has ${popcount(size)} hashes, got ${hashes.length}`);
    for (const h of hashes) if (h.length !== 32) throw new RangeError("hashes are 32 bytes");
    return new CompactRange(size, hashes.slice());
  }

  get size(): number {
    return this.sizeLeaves;
  }

  /** The hashes, largest subtree first (do not modify). */
  get frontier(): readonly Uint8Array[] {
    return this.hashes;
  }

  clone(): CompactRange {
    return new CompactRange(this.sizeLeaves, this.hashes.slice());
  }

  appendLeafHash(h: Uint8Array): void {
    let n = this.sizeLeaves;
    let acc = h;
    while (n % 2 === 1) {
      acc = nodeHashOf(this.hashes.pop()!, acc);
      n = Math.floor(n / 2);
    }
    this.hashes.push(acc);
    this.sizeLeaves++;
  }

  /** RFC 9162 root of the tree of exactly `size` leaves. */
  root(): Uint8Array {
    if (this.hashes.length === 0) return EMPTY_ROOT;
    let r = this.hashes[this.hashes.length - 1]!;
    for (let i = this.hashes.length - 2; i >= 0; i--) r = nodeHashOf(this.hashes[i]!, r);
    return r;
  }

  equals(other: CompactRange): boolean {
    if (other.sizeLeaves !== this.sizeLeaves) return false;
    for (let i = 0; i < this.hashes.length; i++) if (!bytesEqual(this.hashes[i]!, other.hashes[i]!)) return false;
    return true;
  }

  /**
   * Root of the tree of `treeSize` leaves whose first `size` leaves this
   * range holds and whose remaining leaves are tiled by `right` (leftmost
   * first). Throws RangeError when `right` has the wrong number of hashes.
   */
  rootWithRight(treeSize: number, right: readonly Uint8Array[]): Uint8Array {
    if (treeSize < this.sizeLeaves) throw new RangeError(`tree size ${treeSize} is smaller than the range (${this.sizeLeaves})`);
    if (treeSize === this.sizeLeaves) {
      if (right.length !== 0) throw new RangeError("right hashes given for a complete range");
      return this.root();
    }
    if (this.sizeLeaves === 0) throw new RangeError("a range of no leaves cannot prove a root");
    const state = { left: 0, right: 0 };
    const r = this.subtree(0, treeSize, right, state);
    if (state.left !== this.hashes.length || state.right !== right.length) throw new RangeError("wrong number of proof hashes");
    return r;
  }

  // RFC 9162 §2.1.1 MTH recursion over [lo, hi): subtrees wholly inside the
  // range come from the frontier, wholly outside from `right`; a subtree
  // straddling the boundary splits at its largest power of two.
  private subtree(lo: number, hi: number, right: readonly Uint8Array[], state: { left: number; right: number }): Uint8Array {
    const b = this.sizeLeaves;
    if (hi <= b) {
      const h = this.hashes[state.left++];
      if (h === undefined) throw new RangeError("wrong number of proof hashes");
      return h;
    }
    if (lo >= b) {
      const h = right[state.right++];
      if (h === undefined) throw new RangeError("too few right hashes");
      return h;
    }
    const k = largestPowerOfTwoBelow(hi - lo);
    const l = this.subtree(lo, lo + k, right, state);
    const r = this.subtree(lo + k, hi, right, state);
    return nodeHashOf(l, r);
  }
}

/** Largest power of two strictly less than n (n ≥ 2). */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
