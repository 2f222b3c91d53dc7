// The design claim behind interleaving, checked without a network: with 32
// blocks of 1,024 symbols and 10% repair open at once, a burst of 2,000
// consecutive lost frames (plus 1% random loss) costs each block fewer
// symbols than its repair covers, so every block decodes.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { buildBlock, type DiodeLedgerReader } from "../../../daemon/diode/block-builder.js";
import { decodeBlock } from "../../../daemon/diode/block.js";
import { BlockDecoder } from "../../../daemon/diode/fec.js";
import { parseFrame } from "../../../daemon/diode/frame.js";
import { Interleaver } from "../../../daemon/diode/interleaver.js";
import { createMemoryDiodeLedger } from "../../helpers/diode-ledger.js";
import { seededRandom } from "../../helpers/lossy-relay.js";

describe("interleaving across blocks", { timeout: 120_000 }, () => {
  it("round-robins frames over the open blocks", () => {
    const ledger = createMemoryDiodeLedger();
    ledger.appendMany(40, 100);
    const cp = { note: ledger.latestCheckpoint()!, size: ledger.size() };
    const il = new Interleaver();
    for (let i = 0; i < 3; i++) il.add(buildBlock(ledger, { epoch: 1n, block: i, flags: 0, firstSeq: i * 10, endSeq: i * 10 + 10, checkpoint: cp, symbolBytes: 256, blockSymbols: 64, repairRatio: 0.5 }));
    const order: number[] = [];
    for (let f = il.next(); f; f = il.next()) {
      const p = parseFrame(f);
      assert.equal(p.kind, "symbol");
      if (p.kind === "symbol") order.push(p.block);
    }
    assert.deepEqual(order.slice(0, 6), [0, 1, 2, 0, 1, 2]);
    assert.equal(il.size, 0);
  });

  it("lets 32 × 1,024-symbol blocks survive a 2,000-frame burst and 1% random loss with 10% repair", () => {
    const ledger = createMemoryDiodeLedger();
    const T = 64; // small symbols keep the test fast; the arithmetic is the same at any T
    ledger.appendMany(32 * 200, 300); // ~65 KB per block at 1,024 × 64 bytes
    const reader: DiodeLedgerReader = ledger;
    const cp = { note: ledger.latestCheckpoint()!, size: ledger.size() };
    const il = new Interleaver();
    let first = 0;
    const blocks: { first: number; count: number }[] = [];
    while (blocks.length < 32) {
      const b = buildBlock(reader, { epoch: 7n, block: blocks.length, flags: 0, firstSeq: first, endSeq: cp.size, checkpoint: cp, symbolBytes: T, blockSymbols: 1024, repairRatio: 0.1 });
      assert.ok(b.packets.length >= 1024, `block ${blocks.length} has ${b.packets.length} packets`);
      blocks.push({ first, count: b.fields.count });
      first += b.fields.count;
      il.add(b);
    }
    const decoders = new Map<number, BlockDecoder>();
    const done = new Map<number, Uint8Array>();
    const rnd = seededRandom(3);
    let i = 0;
    let lost = 0;
    const burstAt = 10_000;
    for (let f = il.next(); f; f = il.next(), i++) {
      if ((i >= burstAt && i < burstAt + 2000) || rnd() < 0.01) {
        lost++;
        continue;
      }
      const p = parseFrame(f);
      if (p.kind !== "symbol" || done.has(p.block)) continue;
      let d = decoders.get(p.block);
      if (!d) decoders.set(p.block, (d = new BlockDecoder(p.transferBytes, p.symbolBytes)));
      const obj = d.add(p.packet);
      if (obj) {
        done.set(p.block, obj);
        d.free();
      }
    }
    assert.ok(lost >= 2000 + 300, `lost ${lost} frames`);
    assert.equal(done.size, 32, `decoded ${done.size} of 32 blocks`);
    for (const [n, obj] of done) assert.equal(decodeBlock(obj).firstSeq, blocks[n]!.first);
  });
});
