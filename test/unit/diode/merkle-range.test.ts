import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";

import {
  bytesEqual,
  CompactRange,
  leafHashOf,
  leftHashesFromProof,
  nodeHashOf,
  popcount,
  rightHashesFromProof,
  splitInclusionProof,
} from "../../../daemon/diode/merkle-range.js";

// A naive RFC 9162 §2.1 reference, written straight from the recursive definitions.
const sha = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const k = (n: number): number => {
  let x = 1;
  while (x * 2 < n) x *= 2;
  return x;
};
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return sha(Uint8Array.of(0), leaves[0]!);
  const s = k(leaves.length);
  return sha(Uint8Array.of(1), mth(leaves.slice(0, s)), mth(leaves.slice(s)));
}
function path(m: number, leaves: Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  const s = k(leaves.length);
  return m < s ? [...path(m, leaves.slice(0, s)), mth(leaves.slice(s))] : [...path(m - s, leaves.slice(s)), mth(leaves.slice(0, s))];
}
/** Compact range of [0, a) from the definition: aligned perfect subtrees, largest first. */
function compact(leaves: Uint8Array[], a: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let lo = 0;
  for (let bit = 2 ** 40; bit >= 1; bit /= 2) {
    if (a - lo >= bit) {
      out.push(mth(leaves.slice(lo, lo + bit)));
      lo += bit;
    }
  }
  return out;
}

const leaves = Array.from({ length: 40 }, (_, i) => new TextEncoder().encode(`{"seq":${i}}`));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("merkle range proofs", () => {
  it("hashes leaves and nodes as RFC 9162 says", () => {
    assert.equal(hex(leafHashOf(leaves[0]!)), hex(sha(Uint8Array.of(0), leaves[0]!)));
    const a = leafHashOf(leaves[0]!);
    const b = leafHashOf(leaves[1]!);
    assert.equal(hex(nodeHashOf(a, b)), hex(sha(Uint8Array.of(1), a, b)));
  });

  it("a compact range built leaf by leaf has the reference root and frontier at every size", () => {
    const cr = CompactRange.empty();
    assert.equal(hex(cr.root()), hex(mth([])));
    for (let n = 1; n <= leaves.length; n++) {
      cr.appendLeafHash(leafHashOf(leaves[n - 1]!));
      assert.equal(cr.size, n);
      assert.equal(hex(cr.root()), hex(mth(leaves.slice(0, n))), `root at ${n}`);
      assert.deepEqual(cr.frontier.map(hex), compact(leaves, n).map(hex), `frontier at ${n}`);
    }
  });

  it("left hashes from an inclusion proof of leaf a are the compact range of [0, a), for every a < N ≤ 40", () => {
    for (let n = 1; n <= 40; n++) {
      const tree = leaves.slice(0, n);
      for (let a = 0; a < n; a++) {
        const left = leftHashesFromProof(a, n, path(a, tree));
        assert.equal(left.length, popcount(a));
        assert.deepEqual(left.map(hex), compact(tree, a).map(hex), `a=${a} n=${n}`);
      }
    }
  });

  it("left + leaves + right recompute the root for every range [a, b) of every tree up to 33 leaves", () => {
    for (let n = 1; n <= 33; n++) {
      const tree = leaves.slice(0, n);
      const root = mth(tree);
      for (let a = 0; a < n; a++) {
        for (let b = a + 1; b <= n; b++) {
          const cr = CompactRange.of(a, leftHashesFromProof(a, n, path(a, tree)));
          for (let i = a; i < b; i++) cr.appendLeafHash(leafHashOf(tree[i]!));
          const right = rightHashesFromProof(b, n, path(b - 1, tree));
          assert.equal(hex(cr.rootWithRight(n, right)), hex(root), `[${a}, ${b}) of ${n}`);
        }
      }
    }
  });

  it("a changed leaf, left hash or right hash changes the root", () => {
    const n = 29;
    const tree = leaves.slice(0, n);
    const root = mth(tree);
    const a = 5;
    const b = 17;
    const left = leftHashesFromProof(a, n, path(a, tree));
    const right = rightHashesFromProof(b, n, path(b - 1, tree));
    const build = (l: Uint8Array[], r: Uint8Array[], flipLeaf = -1): Uint8Array => {
      const cr = CompactRange.of(a, l);
      for (let i = a; i < b; i++) {
        const leaf = tree[i]!.slice();
        if (i === flipLeaf) leaf[0]! ^= 1;
        cr.appendLeafHash(leafHashOf(leaf));
      }
      return cr.rootWithRight(n, r);
    };
    assert.ok(bytesEqual(build(left, right), root));
    for (let i = a; i < b; i++) assert.ok(!bytesEqual(build(left, right, i), root), `leaf ${i}`);
    for (let j = 0; j < left.length; j++) {
      const l = left.map((h) => h.slice());
      l[j]![31]! ^= 1;
      assert.ok(!bytesEqual(build(l, right), root), `left ${j}`);
    }
    for (let j = 0; j < right.length; j++) {
      const r = right.map((h) => h.slice());
      r[j]![0]! ^= 0x80;
      assert.ok(!bytesEqual(build(left, r), root), `right ${j}`);
    }
  });

  it("refuses proofs with the wrong number of hashes", () => {
    const n = 21;
    const tree = leaves.slice(0, n);
    assert.throws(() => CompactRange.of(5, []), RangeError);
    assert.throws(() => CompactRange.of(5, [new Uint8Array(32), new Uint8Array(31)]), RangeError);
    const cr = CompactRange.of(4, leftHashesFromProof(4, n, path(4, tree)));
    for (let i = 4; i < 9; i++) cr.appendLeafHash(leafHashOf(tree[i]!));
    const right = rightHashesFromProof(9, n, path(8, tree));
    assert.throws(() => cr.rootWithRight(n, right.slice(1)), RangeError);
    assert.throws(() => cr.rootWithRight(n, [...right, new Uint8Array(32)]), RangeError);
    assert.throws(() => cr.rootWithRight(8, right), RangeError);
    assert.throws(() => CompactRange.empty().rootWithRight(3, []), RangeError);
    assert.throws(() => splitInclusionProof(3, 3, []), RangeError);
    assert.throws(() => splitInclusionProof(2, 8, path(2, leaves.slice(0, 8)).slice(1)), RangeError);
    assert.throws(() => splitInclusionProof(2, 8, [...path(2, leaves.slice(0, 8)), new Uint8Array(32)]), RangeError);
  });

  it("compares compact ranges by size and hashes", () => {
    const x = CompactRange.empty();
    const y = CompactRange.empty();
    for (let i = 0; i < 7; i++) {
      x.appendLeafHash(leafHashOf(leaves[i]!));
      y.appendLeafHash(leafHashOf(leaves[i]!));
    }
    assert.ok(x.equals(y));
    const z = y.clone();
    z.appendLeafHash(leafHashOf(leaves[7]!));
    assert.ok(!x.equals(z));
    assert.equal(y.size, 7, "clone does not share state");
    const w = CompactRange.of(7, x.frontier.map((h, i) => (i === 2 ? new Uint8Array(32) : h)));
    assert.ok(!x.equals(w));
  });

  it("handles sizes beyond 2^32 without bitwise overflow", () => {
    assert.equal(popcount(2 ** 40 + 5), 3);
    const hashes = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
    const cr = CompactRange.of(2 ** 33 + 1, hashes);
    cr.appendLeafHash(new Uint8Array(32).fill(3));
    assert.equal(cr.size, 2 ** 33 + 2);
    assert.equal(cr.frontier.length, 2);
  });
});
