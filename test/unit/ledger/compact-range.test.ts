import { test } from "node:test";
import assert from "node:assert/strict";
import { CompactRange, decompose, decomposeRange } from "../../../daemon/ledger/compact-range.js";
import { leafHash } from "../../../daemon/ledger/merkle.js";
import { leftRange, rightRange } from "../../../daemon/ledger/proof.js";
import { refLeaves, refMth } from "../../helpers/merkle-reference.js";
import { memoryTree } from "../../helpers/memory-tree.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test("decompose gives one aligned piece per set bit, largest first", () => {
  assert.deepEqual(decompose(0), []);
  assert.deepEqual(decompose(1), [{ level: 0, index: 0 }]);
  assert.deepEqual(decompose(6), [
    { level: 2, index: 0 },
    { level: 1, index: 2 },
  ]);
  assert.deepEqual(decompose(13), [
    { level: 3, index: 0 },
    { level: 2, index: 2 },
    { level: 0, index: 12 },
  ]);
});

test("decomposeRange covers [begin, end) with aligned blocks", () => {
  for (let b = 0; b < 40; b++) {
    for (let e = b; e <= 40; e++) {
      let p = b;
      for (const piece of decomposeRange(b, e)) {
        const w = 2 ** piece.level;
        assert.equal(piece.index * w, p, `piece starts where the last ended (${b}..${e})`);
        p += w;
      }
      assert.equal(p, e);
    }
  }
});

test("a range rebuilt from left hashes, then leaves, then right subtrees, has the tree's root", () => {
  const entries = refLeaves(37);
  const tree = memoryTree(entries);
  for (let size = 0; size <= 37; size++) {
    for (let from = 0; from <= size; from++) {
      for (const to of [from, Math.min(size, from + 1), Math.min(size, from + 5), size]) {
        const left = leftRange(tree.read, from);
        const r = CompactRange.fromHashes(
          from,
          left.map((n) => n.hash),
        );
        for (let i = from; i < to; i++) r.append(leafHash(entries[i]!));
        for (const n of rightRange(tree.read, to, size)) r.appendSubtree(n.level, n.hash);
        assert.equal(r.size, size);
        assert.equal(hex(r.root()), hex(refMth(entries.slice(0, size))), `size ${size} from ${from} to ${to}`);
      }
    }
  }
});

test("onNode reports every complete subtree exactly once", () => {
  const seen = new Set<string>();
  const r = new CompactRange();
  for (const e of refLeaves(16)) {
    r.append(leafHash(e), (level, index) => {
      const k = `${level}/${index}`;
      assert.ok(!seen.has(k), `node ${k} reported twice`);
      seen.add(k);
    });
  }
  assert.equal(seen.size, 31); // 16 + 8 + 4 + 2 + 1
});

test("misaligned subtrees and wrong hash counts are refused", () => {
  const r = new CompactRange();
  r.append(leafHash(new Uint8Array(1)));
  assert.throws(() => r.appendSubtree(1, new Uint8Array(32)), /cannot start at 1/);
  assert.throws(() => CompactRange.fromHashes(3, [new Uint8Array(32)]), /needs 2 hashes/);
  assert.throws(() => CompactRange.fromHashes(1, [new Uint8Array(31)]), /31 bytes/);
  const c = r.clone();
  c.append(leafHash(new Uint8Array(2)));
  assert.equal(r.size, 1, "a clone is independent");
  assert.equal(c.size, 2);
});
