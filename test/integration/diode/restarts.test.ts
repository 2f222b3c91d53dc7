// Restarts of the sender, of the receiver, and of both in every order, while
// entries keep being added: the receiver must end complete (via the
// carousel for whatever it missed), resuming from its own state, with the
// output exactly the ledger.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { startReceiver, type Receiver } from "../../../daemon/diode/receiver.js";
import { startDiodeSender, type DiodeSender } from "../../../daemon/diode/sender.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { createMemoryDiodeLedger, type MemoryDiodeLedger } from "../../helpers/diode-ledger.js";
import { assertOutputIsLedgerPrefix, assertOutputVerifies, readEvents, readLines, tempDirs, waitFor } from "../../helpers/diode-harness.js";
import { join } from "node:path";
import { ensureLoopback } from "../../helpers/loopback.js";

// Real UDP on 127.0.0.1: up even in a fresh `unshare -n` namespace.
before(ensureLoopback);

const dirs = tempDirs();
after(() => dirs.cleanup());

type Step = "tx-" | "tx+" | "rx-" | "rx+";

class Rig {
  tx: DiodeSender | undefined;
  rx: Receiver | undefined;
  port = 0;
  readonly stateDir = dirs.make("tx");
  readonly out = dirs.make("rx");
  constructor(readonly ledger: MemoryDiodeLedger) {}

  async startRx(): Promise<void> {
    this.rx = await startReceiver({ outDir: this.out, vkey: this.ledger.vkey, listen: { host: "127.0.0.1", port: this.port }, mode: "follow", log: createMemoryLogger() });
    this.port = this.rx.udpPort!; // a restarted receiver comes back on the same port, as a real one would
  }

  async startTx(): Promise<void> {
    this.tx = await startDiodeSender({
      reader: this.ledger,
      audit: this.ledger,
      signer: this.ledger.signer,
      stateDir: this.stateDir,
      udp: { host: "127.0.0.1", port: this.port },
      rateBytesPerS: 1_000_000,
      repairRatio: 0.1,
      blockSymbols: 64,
      interleaveDepth: 8,
      carouselMinPassMs: 500,
      log: createMemoryLogger(),
    });
  }

  async step(s: Step): Promise<void> {
    if (s === "tx-") await this.tx!.close();
    if (s === "rx-") await this.rx!.stop();
    if (s === "tx+") await this.startTx();
    if (s === "rx+") await this.startRx();
  }

  async close(): Promise<void> {
    await this.tx?.close();
    await this.rx?.stop();
  }
}

async function scenario(steps: Step[]): Promise<{ rig: Rig; completeAt: number }> {
  const ledger = createMemoryDiodeLedger();
  ledger.appendMany(6000);
  const rig = new Rig(ledger);
  await rig.startRx();
  await rig.startTx();
  try {
    await waitFor("part of the log to arrive", () => rig.rx!.status().head > 300, 60_000);
    assert.ok(rig.rx!.status().head < ledger.size(), "the restarts happen mid-transfer");
    for (const s of steps) {
      await rig.step(s);
      ledger.appendMany(150); // the box keeps working through it all
      await new Promise((r) => setTimeout(r, 400));
    }
    await waitFor("the receiver to be complete", () => rig.rx!.status().head >= ledger.size(), 120_000);
  } finally {
    await rig.close();
  }
  // Closing the sender records diode.stop: one entry the receiver cannot have seen.
  const completeAt = ledger.size() - 1;
  assert.equal(assertOutputIsLedgerPrefix(rig.out, ledger.records, ledger.vkey), completeAt);
  await assertOutputVerifies(rig.out, ledger.vkey);
  return { rig, completeAt };
}

describe("diode restarts", { timeout: 600_000 }, () => {
  it("sender restarts: resumes its position in a new epoch; the receiver ends complete", async () => {
    const { rig } = await scenario(["tx-", "tx+"]);
    const events = readEvents(rig.out);
    assert.ok(events.some((e) => e.type === "sender_restarted"));
    const starts = rig.ledger.byAction("diode.start").filter((r) => r.outcome === "requested");
    assert.equal(starts.length, 2, "both starts are on record");
    assert.equal(rig.ledger.byAction("diode.stop").length, 2);
  });

  it("receiver restarts: resumes from its own state and fills what it missed from the carousel", async () => {
    const { rig } = await scenario(["rx-", "rx+"]);
    const started = readEvents(rig.out).filter((e) => e.type === "receiver_started");
    assert.deepEqual(
      started.map((e) => e.resumed),
      [false, true],
    );
  });

  for (const order of [
    ["tx-", "rx-", "tx+", "rx+"],
    ["tx-", "rx-", "rx+", "tx+"],
    ["rx-", "tx-", "tx+", "rx+"],
    ["rx-", "tx-", "rx+", "tx+"],
  ] as Step[][]) {
    it(`both restart (${order.join(" ")}): the receiver ends complete`, async () => {
      const { rig, completeAt } = await scenario(order);
      assert.equal(readLines(join(rig.out, "records.jsonl")).length, completeAt);
      assert.ok(readEvents(rig.out).some((e) => e.type === "sender_restarted"));
    });
  }
});
