// Forgers on the wire: valid framing under the wrong key, replayed datagrams
// of an old epoch, a fork of the log signed with the right key, and
// well-framed garbage. None of it may reach the output; each is reported.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";

import { encodeSymbolFrame, FLAG_CAROUSEL } from "../../../daemon/diode/frame.js";
import { startReceiver } from "../../../daemon/diode/receiver.js";
import { startDiodeSender, type DiodeSender } from "../../../daemon/diode/sender.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { createMemoryDiodeLedger, testSigner, type MemoryDiodeLedger } from "../../helpers/diode-ledger.js";
import { assertOutputIsLedgerPrefix, assertOutputVerifies, readEvents, readState, tempDirs, waitFor } from "../../helpers/diode-harness.js";
import { startLossyRelay } from "../../helpers/lossy-relay.js";
import { ensureLoopback } from "../../helpers/loopback.js";

// Real UDP on 127.0.0.1: up even in a fresh `unshare -n` namespace.
before(ensureLoopback);

const dirs = tempDirs();
after(() => dirs.cleanup());

function sender(ledger: MemoryDiodeLedger, port: number, stateDir = dirs.make("tx")): Promise<DiodeSender> {
  return startDiodeSender({
    reader: ledger,
    audit: ledger,
    signer: ledger.signer,
    stateDir,
    udp: { host: "127.0.0.1", port },
    rateBytesPerS: 3_000_000,
    repairRatio: 0.1,
    log: createMemoryLogger(),
  });
}

describe("diode receiver against forgers", { timeout: 180_000 }, () => {
  it("rejects and reports a sender with valid framing but the wrong key, and writes only the box's entries", async () => {
    const box = createMemoryDiodeLedger();
    box.appendMany(3000);
    // Same key name and origin as the box, a different key.
    const forger = createMemoryDiodeLedger({ signer: testSigner(box.signer.name), origin: box.origin });
    forger.appendMany(5000);
    const out = dirs.make("rx");
    const rx = await startReceiver({ outDir: out, vkey: box.vkey, listen: { host: "127.0.0.1", port: 0 }, mode: "follow", log: createMemoryLogger() });
    const evil = await sender(forger, rx.udpPort!);
    await new Promise((r) => setTimeout(r, 1500)); // the forger gets a head start
    const good = await sender(box, rx.udpPort!);
    try {
      await waitFor("the box's entries", () => rx.status().head >= box.size(), 90_000);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await evil.close();
      await good.close();
      await rx.stop();
    }
    assertOutputIsLedgerPrefix(out, box.records, box.vkey);
    await assertOutputVerifies(out, box.vkey);
    const events = readEvents(out);
    const bad = events.filter((e) => e.type === "bad_signature");
    assert.ok(bad.length > 0, "the forged signatures were reported");
    assert.ok(bad.some((e) => e.what === "heartbeat") && bad.some((e) => e.what === "checkpoint"), JSON.stringify(bad));
    assert.equal(readState(out).senderEpoch, good.status().epoch, "the forger's epoch was never taken as the sender's");
    assert.ok(!events.some((e) => e.type === "sender_restarted"));
  });

  it("rejects replayed datagrams of an old epoch after the sender restarted, and reports them", async () => {
    const box = createMemoryDiodeLedger();
    box.appendMany(2000);
    const out = dirs.make("rx");
    const rx = await startReceiver({ outDir: out, vkey: box.vkey, listen: { host: "127.0.0.1", port: 0 }, mode: "follow", log: createMemoryLogger() });
    const relay = await startLossyRelay({ targetPort: rx.udpPort! });
    relay.startCapture(3000);
    const stateDir = dirs.make("tx");
    const first = await sender(box, relay.port, stateDir);
    try {
      await waitFor("the first epoch's entries", () => rx.status().head >= box.size(), 60_000);
      const oldEpoch = first.status().epoch;
      await first.close();
      relay.stopCapture(); // what was captured is all of the first epoch
      box.appendMany(500);
      const second = await sender(box, relay.port, stateDir);
      try {
        assert.ok(BigInt(second.status().epoch) > BigInt(oldEpoch), "a restart takes a larger epoch");
        await waitFor("the new epoch", () => rx.status().senderEpoch === second.status().epoch, 20_000);
        await waitFor("the new entries", () => rx.status().head >= box.size(), 60_000);
        const headBefore = rx.status().head;
        const replayed = relay.captured();
        assert.ok(replayed.length > 500, `captured ${replayed.length}`);
        // Paced, so the receiver's socket buffer never overflows: every replayed datagram must be seen and refused.
        for (let i = 0; i < replayed.length; i++) {
          await relay.inject(replayed[i]!);
          if (i % 50 === 49) await new Promise((r) => setTimeout(r, 5));
        }
        await waitFor("the replay to be counted", () => (rx.status().counters.replayed ?? 0) >= replayed.length * 0.9, 20_000).catch((e: Error) => {
          throw new Error(`${e.message}: ${JSON.stringify(rx.status().counters)} of ${replayed.length}`);
        });
        assert.equal(rx.status().senderEpoch, second.status().epoch, "a replayed heartbeat does not turn the epoch back");
        assert.equal(rx.status().head, headBefore);
      } finally {
        await second.close();
      }
    } finally {
      await rx.stop();
      await relay.close();
    }
    assertOutputIsLedgerPrefix(out, box.records, box.vkey);
    await assertOutputVerifies(out, box.vkey);
    const events = readEvents(out);
    assert.ok(events.some((e) => e.type === "replay" && (e.count as number) > 500), JSON.stringify(events.filter((e) => e.type === "replay")));
    assert.ok(events.some((e) => e.type === "sender_restarted"));
  });

  it("rejects a fork of the log signed with the box's own key (an inconsistent checkpoint) and reports it", async () => {
    const seed = randomBytes(32);
    const box = createMemoryDiodeLedger({ signer: testSigner("sealbox.test/box-1", seed) });
    box.appendMany(1500);
    const out = dirs.make("rx");
    const rx = await startReceiver({ outDir: out, vkey: box.vkey, listen: { host: "127.0.0.1", port: 0 }, mode: "follow", log: createMemoryLogger() });
    const good = await sender(box, rx.udpPort!);
    await waitFor("the box's entries", () => rx.status().head >= box.size(), 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    await good.close();
    const accepted = rx.status().head;
    // The same key signs a different history (a rolled-back box, a stolen key): more entries, different ones.
    const fork = createMemoryDiodeLedger({ signer: testSigner("sealbox.test/box-1", seed) });
    fork.appendMany(4000);
    const evil = await sender(fork, rx.udpPort!);
    try {
      await waitFor("an inconsistent checkpoint to be reported", () => readEvents(out).some((e) => e.type === "inconsistent_checkpoint"), 60_000);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(rx.status().head, accepted, "nothing of the fork was written");
    } finally {
      await evil.close();
      await rx.stop();
    }
    assertOutputIsLedgerPrefix(out, box.records, box.vkey);
    await assertOutputVerifies(out, box.vkey);
    const s = readState(out);
    assert.equal(s.head, accepted);
    assert.ok((s.counters.inconsistent_checkpoints ?? 0) > 0);
  });

  it("survives well-framed garbage (right CRC, random symbols, clashing block numbers) without writing any of it", async () => {
    const box = createMemoryDiodeLedger();
    box.appendMany(1500);
    const out = dirs.make("rx");
    const rx = await startReceiver({ outDir: out, vkey: box.vkey, listen: { host: "127.0.0.1", port: 0 }, mode: "follow", log: createMemoryLogger() });
    const relay = await startLossyRelay({ targetPort: rx.udpPort! });
    const good = await sender(box, relay.port);
    try {
      await waitFor("a heartbeat", () => rx.status().senderEpoch !== null, 20_000);
      const epoch = BigInt(good.status().epoch);
      const T = 1344;
      // Garbage aimed at the sender's own block numbers and at numbers it has not used, in its epoch and a later one.
      for (let i = 0; i < 3000; i++) {
        const block = i % 3 === 0 ? i % 40 : 0x80000000 + (i % 50);
        const packet = randomBytes(4 + T);
        packet[0] = 0;
        const frame = encodeSymbolFrame(
          { flags: i % 2 ? FLAG_CAROUSEL : 0, epoch: i % 5 === 0 ? epoch + 1n : epoch, block, firstSeq: (i % 7) * 100, count: 50 + (i % 3), transferBytes: 20 * T, symbolBytes: T },
          packet,
        );
        await relay.inject(frame);
      }
      await waitFor("the box's entries", () => rx.status().head >= box.size(), 90_000);
    } finally {
      await good.close();
      await rx.stop();
      await relay.close();
    }
    assertOutputIsLedgerPrefix(out, box.records, box.vkey);
    await assertOutputVerifies(out, box.vkey);
    const s = readState(out);
    assert.ok((s.counters.bad_blocks ?? 0) + (s.counters.symbol_header_mismatches ?? 0) > 0, JSON.stringify(s.counters));
  });
});
