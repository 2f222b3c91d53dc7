import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";

import { CAROUSEL_ID_BIT, CarouselTable } from "../../../daemon/diode/carousel-table.js";
import { PendingStore } from "../../../daemon/diode/pending-store.js";

const tmp: string[] = [];
after(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));
const dir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "sealbox-pending-"));
  tmp.push(d);
  return d;
};
const cp = { note: "n", size: 100 };

describe("carousel table", () => {
  it("keeps blocks by start, gives stable carousel-space ids, and limits new blocks by the next one", () => {
    const t = new CarouselTable(1000);
    const a = t.add({ first: 0, count: 10, checkpoint: cp, recordBytes: 5000, id: t.newId() });
    const c = t.add({ first: 30, count: 10, checkpoint: cp, recordBytes: 5000, id: t.newId() });
    const b = t.add({ first: 10, count: 20, checkpoint: cp, recordBytes: 5000, id: t.newId() });
    assert.ok((a.id & CAROUSEL_ID_BIT) !== 0 && a.id !== b.id && b.id !== c.id);
    assert.equal(t.at(10), b);
    assert.equal(t.at(11), undefined);
    assert.equal(t.limitAfter(40), Infinity);
    assert.equal(t.limitAfter(5), 10);
    t.remove(b);
    assert.equal(t.limitAfter(5), 30);
    t.dropBelow(20);
    assert.equal(t.size, 1);
    assert.equal(t.at(0), undefined);
  });

  it("marks a small last block for re-cutting only when entries follow it", () => {
    const t = new CarouselTable(1000);
    const big = t.add({ first: 0, count: 10, checkpoint: cp, recordBytes: 5000, id: t.newId() });
    const small = t.add({ first: 10, count: 1, checkpoint: cp, recordBytes: 300, id: t.newId() });
    assert.equal(t.isSmallTail(small, 11), false, "nothing follows");
    assert.equal(t.isSmallTail(small, 20), true);
    assert.equal(t.isSmallTail(big, 20), false, "not the last");
  });
});

describe("pending store", () => {
  it("stores blocks on disk within a budget, answers coverage, and hands them back in order", () => {
    const d = dir();
    const s = PendingStore.open(d, 1000);
    assert.equal(s.put(100, 10, new Uint8Array(300).fill(1)), true);
    assert.equal(s.put(120, 10, new Uint8Array(300).fill(2)), true);
    assert.equal(s.put(110, 10, new Uint8Array(300).fill(3)), true);
    assert.equal(s.put(105, 3, new Uint8Array(10)), false, "already covered");
    assert.equal(s.put(200, 10, new Uint8Array(300)), false, "over the budget");
    assert.equal(s.bytes, 900);
    assert.equal(s.covers(100, 130), true);
    assert.equal(s.covers(99, 130), false);
    assert.deepEqual(s.ranges(), [[100, 130]]);
    assert.equal(readdirSync(d).length, 3);
    assert.deepEqual(s.takeReady(99), []);
    assert.deepEqual(s.takeReady(105).map((b) => b[0]), [1], "only what starts at or before head");
    assert.deepEqual(s.takeReady(115).map((b) => b[0]), [3], "[110, 120) straddles head 115");
    assert.equal(s.count, 1);
    assert.equal(readdirSync(d).length, 1);
  });

  it("drops blocks wholly below head unread, and reopens what a previous run left (removing temp files)", () => {
    const d = dir();
    const s = PendingStore.open(d, 10_000);
    s.put(0, 5, new Uint8Array(50));
    s.put(50, 5, new Uint8Array(60));
    writeFileSync(join(d, "70-5.blk.tmp"), "half");
    writeFileSync(join(d, "junk"), "x");
    const again = PendingStore.open(d, 10_000);
    assert.equal(again.count, 2);
    assert.equal(again.bytes, 110);
    assert.deepEqual(readdirSync(d).sort(), ["0-5.blk", "50-5.blk"]);
    assert.deepEqual(again.takeReady(10).length, 0, "[0, 5) is below head: dropped unread");
    assert.equal(again.count, 1);
  });
});
