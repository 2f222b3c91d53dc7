// RFC 9162 §2.1 Merkle tree math: hashing, roots and the two proof
// verification algorithms (§2.1.3.2 inclusion, §2.1.4.2 consistency).
// Pure: bytes in, values out. Storage-backed proof *generation* lives in
// proof.ts; this file never touches LMDB.
//
// Sizes and indices are JS numbers (safe up to 2^53). The algorithms use
// arithmetic halving, never 32-bit bit operators, so they hold past 2^31.

import * as nodeCrypto from "node:crypto";
import { createHash } from "node:crypto";
import { SealboxError } from "../errors.js";

export const HASH_BYTES = 32;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** MTH({}) = SHA-256() — the root of the empty tree (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Uint8Array = createHash("sha256").digest();

// crypto.hash (Node >= 20.12) is a one-shot digest, about a quarter cheaper
// than createHash for record-sized inputs; the prefix goes into a scratch
// buffer so each hash is one call. Falls back to createHash on older Nodes.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: "buffer") => Buffer }).hash;
let scratch = Buffer.alloc(1 + 2 * HASH_BYTES + 4096);

function prefixed(prefix: number, a: Uint8Array, b?: Uint8Array): Uint8Array {
  const n = 1 + a.length + (b?.length ?? 0);
  if (n > scratch.length) scratch = Buffer.alloc(Math.max(n, scratch.length * 2));
  scratch[0] = prefix;
  scratch.set(a, 1);
  if (b) scratch.set(b, 1 + a.length);
  return scratch.subarray(0, n);
}

/** MTH({d}) = SHA-256(0x00 || d). */
export function leafHash(leaf: Uint8Array): Uint8Array {
  if (oneShot) return oneShot("sha256", prefixed(0x00, leaf), "buffer");
  return createHash("sha256").update(LEAF_PREFIX).update(leaf).digest();
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (oneShot) return oneShot("sha256", prefixed(0x01, left, right), "buffer");
  return createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest();
}

/** The largest power of two strictly smaller than n (n >= 2): RFC 9162's k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** True when n is 2^j for some j >= 0. */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.floor(Math.log2(n)) === n;
}

/**
 * The tree hash of a list of leaf hashes (RFC 9162 MTH). Iterative over a
 * compact range: O(n) hashes, O(log n) memory.
 */
export function rootOf(leafHashes: Uint8Array[]): Uint8Array {
  const stack: { size: number; hash: Uint8Array }[] = [];
  for (const h of leafHashes) {
    checkHash(h, "leaf hash");
    let cur = { size: 1, hash: h };
    while (stack.length > 0 && stack[stack.length - 1]!.size === cur.size) {
      const left = stack.pop()!;
      cur = { size: cur.size * 2, hash: nodeHash(left.hash, cur.hash) };
    }
    stack.push(cur);
  }
  if (stack.length === 0) return EMPTY_ROOT;
  let root = stack[stack.length - 1]!.hash;
  for (let i = stack.length - 2; i >= 0; i--) root = nodeHash(stack[i]!.hash, root);
  return root;
}

function mismatch(message: string, details: Record<string, unknown>): SealboxError {
  return new SealboxError("VERIFY_FAILED", message, { details });
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

function checkHash(h: unknown, what: string): asserts h is Uint8Array {
  if (!(h instanceof Uint8Array)) throw mismatch(`${what} is not bytes`, { what });
  if (h.length !== HASH_BYTES) {
    throw mismatch(`${what} is ${h.length} bytes, expected ${HASH_BYTES}`, { what, gotBytes: h.length, wantBytes: HASH_BYTES });
  }
}

function checkSize(n: unknown, what: string): asserts n is number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw mismatch(`${what} must be a non-negative integer, got ${String(n)}`, { what, got: n });
  }
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function checkProof(proof: unknown): asserts proof is Uint8Array[] {
  if (!Array.isArray(proof)) throw mismatch("proof is not a list of hashes", {});
  proof.forEach((p, i) => checkHash(p, `proof[${i}]`));
}

/**
 * The root implied by an inclusion proof (RFC 9162 §2.1.3.2, steps 1–5 less
 * the final root comparison). Throws VERIFY_FAILED when the proof has the
 * wrong length for (index, treeSize).
 */
export function rootFromInclusionProof(index: number, treeSize: number, leaf: Uint8Array, proof: Uint8Array[]): Uint8Array {
  checkSize(index, "leaf index");
  checkSize(treeSize, "tree size");
  checkHash(leaf, "leaf hash");
  checkProof(proof);
  if (index >= treeSize) {
    throw mismatch(`leaf index ${index} is not below tree size ${treeSize}`, { index, treeSize });
  }
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (let i = 0; i < proof.length; i++) {
    const p = proof[i]!;
    if (sn === 0) {
      throw mismatch(`inclusion proof is too long: ${proof.length} hashes, used ${i}`, { index, treeSize, proofLength: proof.length });
    }
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) {
    throw mismatch(`inclusion proof is too short: ${proof.length} hashes for leaf ${index} of ${treeSize}`, {
      index,
      treeSize,
      proofLength: proof.length,
    });
  }
  return r;
}

/** RFC 9162 §2.1.3.2. Returns normally when the proof holds; throws VERIFY_FAILED with details otherwise. */
export function verifyInclusion(index: number, treeSize: number, leaf: Uint8Array, proof: Uint8Array[], root: Uint8Array): void {
  checkHash(root, "root hash");
  const got = rootFromInclusionProof(index, treeSize, leaf, proof);
  if (!equalBytes(got, root)) {
    throw mismatch(`inclusion proof for leaf ${index} of ${treeSize} gives root ${toHex(got)}, expected ${toHex(root)}`, {
      index,
      treeSize,
      gotRoot: toHex(got),
      wantRoot: toHex(root),
    });
  }
}

/**
 * RFC 9162 §2.1.4.2, with the edge cases the RFC leaves to the caller:
 * size1 == size2 needs an empty proof and equal roots; size1 == 0 needs an
 * empty proof and root1 == MTH({}) (every tree extends the empty tree).
 */
export function verifyConsistency(size1: number, size2: number, proof: Uint8Array[], root1: Uint8Array, root2: Uint8Array): void {
  checkSize(size1, "first tree size");
  checkSize(size2, "second tree size");
  checkProof(proof);
  checkHash(root1, "first root hash");
  checkHash(root2, "second root hash");
  if (size2 < size1) {
    throw mismatch(`second tree size ${size2} is smaller than the first ${size1}`, { size1, size2 });
  }
  if (size1 === size2) {
    if (proof.length > 0) throw mismatch(`consistency proof between equal sizes must be empty, has ${proof.length} hashes`, { size1, size2 });
    if (!equalBytes(root1, root2)) {
      throw mismatch(`two trees of size ${size1} have different roots ${toHex(root1)} and ${toHex(root2)}`, {
        size1,
        root1: toHex(root1),
        root2: toHex(root2),
      });
    }
    return;
  }
  if (size1 === 0) {
    if (proof.length > 0) throw mismatch(`consistency proof from the empty tree must be empty, has ${proof.length} hashes`, { size2 });
    if (!equalBytes(root1, EMPTY_ROOT)) throw mismatch(`root of the empty tree must be SHA-256(""), got ${toHex(root1)}`, { root1: toHex(root1) });
    return;
  }
  // Step 1.
  if (proof.length === 0) throw mismatch(`consistency proof from ${size1} to ${size2} is empty`, { size1, size2 });
  // Step 2: a first tree that is a complete subtree is its own first node.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  // Steps 3–4.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // Step 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) throw mismatch(`consistency proof from ${size1} to ${size2} is too long`, { size1, size2, proofLength: proof.length });
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 7.
  if (sn !== 0) throw mismatch(`consistency proof from ${size1} to ${size2} is too short`, { size1, size2, proofLength: proof.length });
  if (!equalBytes(fr, root1)) {
    throw mismatch(`consistency proof gives first root ${toHex(fr)}, expected ${toHex(root1)}`, {
      size1,
      size2,
      gotRoot1: toHex(fr),
      wantRoot1: toHex(root1),
    });
  }
  if (!equalBytes(sr, root2)) {
    throw mismatch(`consistency proof gives second root ${toHex(sr)}, expected ${toHex(root2)}`, {
      size1,
      size2,
      gotRoot2: toHex(sr),
      wantRoot2: toHex(root2),
    });
  }
}
