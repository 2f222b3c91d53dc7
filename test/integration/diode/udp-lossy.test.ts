// Real UDP on loopback through a lossy relay: random loss, bursts of up to
// 2,000 datagrams, reordering, duplication and corruption. Every entry must
// arrive and verify, and the output must be exactly the ledger, in order.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { startReceiver } from "../../../daemon/diode/receiver.js";
import { startDiodeSender } from "../../../daemon/diode/sender.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { createMemoryDiodeLedger } from "../../helpers/diode-ledger.js";
import { assertOutputIsLedgerPrefix, assertOutputVerifies, eventTypes, readState, tempDirs } from "../../helpers/diode-harness.js";
import { startLossyRelay } from "../../helpers/lossy-relay.js";
import { ensureLoopback } from "../../helpers/loopback.js";

// Real UDP on 127.0.0.1: up even in a fresh `unshare -n` namespace.
before(ensureLoopback);

const dirs = tempDirs();
after(() => dirs.cleanup());

describe("diode over a lossy UDP link", { timeout: 240_000 }, () => {
  it("delivers every entry, verified and in order, through 5% loss, reordering, duplication and corruption", async () => {
    const ledger = createMemoryDiodeLedger();
    ledger.appendMany(6000);
    const out = dirs.make("rx");
    const log = createMemoryLogger();
    const rx = await startReceiver({ outDir: out, vkey: ledger.vkey, listen: { host: "127.0.0.1", port: 0 }, mode: "follow", log });
    const relay = await startLossyRelay({ targetPort: rx.udpPort!, seed: 5, lossRatio: 0.05, reorderRatio: 0.03, reorderDepth: 20, duplicateRatio: 0.03, corruptRatio: 0.01 });
    const tx = await startDiodeSender({
      reader: ledger,
      audit: ledger,
      signer: ledger.signer,
      stateDir: dirs.make("tx"),
      udp: { host: "127.0.0.1", port: relay.port },
      rateBytesPerS: 4_000_000,
      repairRatio: 0.1,
      log,
    });
    try {
      // New entries keep coming while the diode runs.
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 300));
        ledger.appendMany(200);
      }
      const want = (): number => ledger.size();
      const deadline = Date.now() + 150_000;
      while (rx.status().head < want() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(rx.status().head, ledger.size(), "every entry arrived");
    } finally {
      await tx.close();
      await rx.stop();
      await relay.close();
    }
    const n = assertOutputIsLedgerPrefix(out, ledger.records, ledger.vkey);
    await assertOutputVerifies(out, ledger.vkey);
    assert.ok(n >= 7000);
    assert.ok(relay.stats.lost > 100 && relay.stats.corrupted > 10 && relay.stats.duplicated > 10 && relay.stats.reordered > 10, JSON.stringify(relay.stats));
    const s = readState(out);
    assert.ok((s.counters.invalid_crc ?? 0) > 0, "corrupted datagrams were caught by the CRC");
    assert.ok(!eventTypes(out).includes("inconsistent_checkpoint"));
    assert.ok(!eventTypes(out).includes("bad_signature"));
  });

  it("survives bursts of up to 2,000 lost datagrams (FEC across interleaved blocks, the carousel for the rest)", async () => {
    const ledger = createMemoryDiodeLedger();
    ledger.appendMany(40_000, 300); // ~12 MB: tens of thousands of datagrams
    const out = dirs.make("rx");
    const log = createMemoryLogger();
    const rx = await startReceiver({ outDir: out, vkey: ledger.vkey, listen: { host: "127.0.0.1", port: 0 }, mode: "until-head", timeoutMs: 200_000, log });
    // 1% random loss, random bursts of up to 2,000 now and then, and two full 2,000-datagram bursts on demand.
    const relay = await startLossyRelay({ targetPort: rx.udpPort!, seed: 9, lossRatio: 0.01, burstRatio: 1 / 20_000, burstMaxDatagrams: 2000 });
    const tx = await startDiodeSender({
      reader: ledger,
      audit: ledger,
      signer: ledger.signer,
      stateDir: dirs.make("tx"),
      udp: { host: "127.0.0.1", port: relay.port },
      rateBytesPerS: 6_000_000,
      repairRatio: 0.1,
      log,
    });
    // Two full-size bursts on demand, while the bulk of the log is in flight.
    const bursts = (async () => {
      for (const at of [3000, 12000]) {
        while (relay.stats.received < at) await new Promise((r) => setTimeout(r, 20));
        relay.dropNext(2000);
      }
    })();
    let result;
    try {
      result = await rx.done;
      await bursts;
    } finally {
      await tx.close();
      await rx.stop();
      await relay.close();
    }
    assert.equal(result.reason, "complete", JSON.stringify(result));
    assert.ok(relay.stats.burstLost >= 4000, `bursts lost ${relay.stats.burstLost} datagrams`);
    assertOutputIsLedgerPrefix(out, ledger.records, ledger.vkey);
    await assertOutputVerifies(out, ledger.vkey);
    assert.equal(readState(out).head, result.head);
    assert.ok(result.head >= 40_000);
  });
});
