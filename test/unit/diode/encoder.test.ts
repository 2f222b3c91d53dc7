import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { encodePrepared, prepareBlock } from "../../../daemon/diode/block-builder.js";
import { inlineEncoder, startEncoderWorker } from "../../../daemon/diode/encoder-pool.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { createMemoryDiodeLedger } from "../../helpers/diode-ledger.js";

describe("block encoding on a worker thread", () => {
  const ledger = createMemoryDiodeLedger();
  ledger.appendMany(300, 300);
  const cp = { note: ledger.latestCheckpoint()!, size: ledger.size() };
  const prepared = (repairWindow: number) =>
    prepareBlock(ledger, { epoch: 5n, block: 0x80000003, flags: 1, firstSeq: 17, endSeq: cp.size, checkpoint: cp, symbolBytes: 512, blockSymbols: 64, repairRatio: 0.25, repairWindow });
  const hex = (ps: Uint8Array[]): string[] => ps.map((p) => Buffer.from(p).toString("hex"));

  it("gives exactly the packets the main thread would, for every repair window", async () => {
    const log = createMemoryLogger();
    const w = startEncoderWorker(log);
    try {
      for (const window of [0, 1, 7]) {
        const p = prepared(window);
        const [a, b] = await Promise.all([w.encode(p), inlineEncoder.encode(p)]);
        assert.deepEqual(hex(a), hex(b), `window ${window}`);
        assert.equal(a.length, p.k + p.repair);
      }
      assert.ok(!log.lines.some((l) => /main thread/.test(l)), "the worker did the work");
    } finally {
      await w.close();
      await w.close();
    }
  });

  it("sends the same source symbols every pass and new repair symbols each window", () => {
    const a = encodePrepared(prepared(0));
    const b = encodePrepared(prepared(1));
    const k = prepared(0).k;
    assert.deepEqual(hex(a.slice(0, k)), hex(b.slice(0, k)));
    const ids = (ps: Uint8Array[]): number[] => ps.slice(k).map((p) => (p[1]! << 16) | (p[2]! << 8) | p[3]!);
    const shared = ids(a).filter((x) => ids(b).includes(x));
    assert.deepEqual(shared, [], "no repair symbol repeats between windows");
  });

  it("refuses work after close", async () => {
    const w = startEncoderWorker(createMemoryLogger());
    await w.close();
    await assert.rejects(w.encode(prepared(0)), (e: unknown) => (e as { code?: string }).code === "DIODE_ERROR");
  });
});
