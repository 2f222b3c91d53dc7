// No audit, no action: the diode starts only once its start is on record,
// and sends an entry only once a diode record covering it is in the ledger.
// When the ledger refuses the diode's records, nothing new goes out.

import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { after, before, describe, it } from "node:test";

import { isSealboxError, SealboxError } from "../../../daemon/errors.js";
import { startReceiver } from "../../../daemon/diode/receiver.js";
import { startDiodeSender } from "../../../daemon/diode/sender.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { createMemoryDiodeLedger } from "../../helpers/diode-ledger.js";
import { assertOutputIsLedgerPrefix, tempDirs, waitFor } from "../../helpers/diode-harness.js";
import { ensureLoopback } from "../../helpers/loopback.js";

// Real UDP on 127.0.0.1: up even in a fresh `unshare -n` namespace.
before(ensureLoopback);

const dirs = tempDirs();
after(() => dirs.cleanup());

describe("the diode's audit trail", { timeout: 120_000 }, () => {
  it("refuses to start when its start cannot be recorded, and sends nothing", async () => {
    const ledger = createMemoryDiodeLedger();
    ledger.appendMany(100);
    ledger.failAppends(new SealboxError("LEDGER_FULL", "the ledger is full"));
    const listener = createSocket("udp4");
    let datagrams = 0;
    listener.on("message", () => datagrams++);
    await new Promise<void>((r) => listener.bind(0, "127.0.0.1", () => r()));
    try {
      await assert.rejects(
        startDiodeSender({ reader: ledger, audit: ledger, signer: ledger.signer, stateDir: dirs.make("tx"), udp: { host: "127.0.0.1", port: listener.address().port }, rateBytesPerS: 1e6, repairRatio: 0.1, log: createMemoryLogger() }),
        (e: unknown) => isSealboxError(e, "LEDGER_FULL"),
      );
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(datagrams, 0, "no frame left the box");
    } finally {
      await new Promise<void>((r) => listener.close(() => r()));
    }
  });

  it("holds back new entries while the ledger refuses the diode's send record, and sends them once it accepts", async () => {
    const ledger = createMemoryDiodeLedger();
    ledger.appendMany(500);
    const out = dirs.make("rx");
    const log = createMemoryLogger();
    const rx = await startReceiver({ outDir: out, vkey: ledger.vkey, listen: { host: "127.0.0.1", port: 0 }, log });
    const tx = await startDiodeSender({
      reader: ledger,
      audit: ledger,
      signer: ledger.signer,
      stateDir: dirs.make("tx"),
      udp: { host: "127.0.0.1", port: rx.udpPort! },
      rateBytesPerS: 2e6,
      repairRatio: 0.1,
      auditIntervalMs: 200,
      log,
    });
    try {
      await waitFor("the first entries", () => rx.status().head >= tx.status().authorizedEnd && tx.status().authorizedEnd > 500, 30_000);
      const authorized = tx.status().authorizedEnd;
      // The box's own records still go in; only the diode's are refused.
      ledger.failAppends(new SealboxError("LEDGER_WRITE_FAILED", "disk error"), (e) => e.category === "diode");
      ledger.appendMany(300);
      await waitFor("the refusal to show", () => tx.status().lastAuditError !== null, 10_000);
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(tx.status().authorizedEnd, authorized, "nothing new is authorised");
      assert.ok(rx.status().head <= authorized, `the receiver got only authorised entries (${rx.status().head} ≤ ${authorized})`);
      assert.ok(log.lines.some((l) => /new entries are held back/.test(l)));
      ledger.failAppends(undefined);
      await waitFor("the held entries", () => rx.status().head >= ledger.size() - 1, 30_000);
      assert.equal(tx.status().lastAuditError, null);
    } finally {
      await tx.close();
      await rx.stop();
    }
    assertOutputIsLedgerPrefix(out, ledger.records, ledger.vkey);
    // Every diode.send record names where its range starts; together they cover what was sent.
    const sends = ledger.byAction("diode.send");
    assert.ok(sends.length >= 1);
    for (const r of sends) assert.equal(typeof r.details?.from, "number");
  });
});
