// Proof generation (RFC 9162 §2.1.3.1 PATH and §2.1.4.1 SUBPROOF) over a
// store of complete-subtree hashes, passed in as a function so this file
// stays pure. Left siblings are always complete subtrees (one read each);
// at most one right sibling per proof is an incomplete subtree, rebuilt
// from O(log n) complete ones — so a proof costs O(log n) reads.

import { SealboxError } from "../errors.js";
import { decompose, decomposeRange, type TreeNode } from "./compact-range.js";
import { EMPTY_ROOT, isPowerOfTwo, nodeHash, splitPoint } from "./merkle.js";

/** Returns the hash of the complete subtree (level, index); throws when it is missing. */
export type NodeReader = (level: number, index: number) => Uint8Array;

/** MTH(D[start:end]) for a range that is a subtree of the RFC 9162 recursion. */
export function subtreeHash(read: NodeReader, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n <= 0) throw new SealboxError("INTERNAL", `empty subtree [${start}, ${end})`);
  if (isPowerOfTwo(n) && start % n === 0) return read(Math.log2(n), start / n);
  const k = splitPoint(n);
  return nodeHash(subtreeHash(read, start, start + k), subtreeHash(read, start + k, end));
}

/** MTH(D[0:size]). */
export function treeRoot(read: NodeReader, size: number): Uint8Array {
  return size === 0 ? EMPTY_ROOT : subtreeHash(read, 0, size);
}

function checkSizes(what: string, ok: boolean, details: Record<string, unknown>): void {
  if (!ok) throw new SealboxError("BAD_ARGUMENT", what, { details });
}

/** PATH(index, D[0:size]): sibling hashes from the leaf's up to the root's child. */
export function inclusionProof(read: NodeReader, index: number, size: number): Uint8Array[] {
  checkSizes(`no leaf ${index} in a tree of ${size}`, Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size, {
    index,
    size,
  });
  const out: Uint8Array[] = [];
  const walk = (start: number, end: number): void => {
    const n = end - start;
    if (n === 1) return;
    const k = splitPoint(n);
    if (index - start < k) {
      walk(start, start + k);
      out.push(subtreeHash(read, start + k, end));
    } else {
      walk(start + k, end);
      out.push(subtreeHash(read, start, start + k));
    }
  };
  walk(0, size);
  return out;
}

/** PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true); empty when size1 is 0 or equals size2. */
export function consistencyProof(read: NodeReader, size1: number, size2: number): Uint8Array[] {
  checkSizes(`cannot prove ${size1} consistent with ${size2}`, Number.isSafeInteger(size1) && Number.isSafeInteger(size2) && size1 >= 0 && size1 <= size2, {
    size1,
    size2,
  });
  if (size1 === 0 || size1 === size2) return [];
  const out: Uint8Array[] = [];
  const sub = (m: number, start: number, end: number, whole: boolean): void => {
    const n = end - start;
    if (m === n) {
      if (!whole) out.push(subtreeHash(read, start, end));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, start, start + k, whole);
      out.push(subtreeHash(read, start + k, end));
    } else {
      sub(m - k, start + k, end, false);
      out.push(subtreeHash(read, start, start + k));
    }
  };
  sub(size1, 0, size2, true);
  return out;
}

/** The compact range of [0, size): hashes of decompose(size), largest first. */
export function leftRange(read: NodeReader, size: number): TreeNode[] {
  return decompose(size).map((p) => ({ ...p, hash: read(p.level, p.index) }));
}

/** The aligned complete subtrees covering [begin, end), left to right. */
export function rightRange(read: NodeReader, begin: number, end: number): TreeNode[] {
  return decomposeRange(begin, end).map((p) => ({ ...p, hash: read(p.level, p.index) }));
}
