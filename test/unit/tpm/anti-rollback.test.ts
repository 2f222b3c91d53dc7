// The anti-rollback policy with a plain counter object and an in-memory
// ledger (the TPM side is in test/integration/tpm/anti-rollback.test.ts).

import assert from "node:assert/strict";
import { test } from "node:test";
import { SealboxError, isSealboxError } from "../../../daemon/errors.js";
import { AntiRollback, COUNTER_ACTION, ROLLBACK_ACK_ACTION, lastRecordedCounter } from "../../../daemon/keys/anti-rollback.js";
import type { MonotonicCounter } from "../../../daemon/keys/tpm-counter.js";
import { createMemoryLedger } from "../../helpers/memory-ledger.js";

function fakeCounter(start: bigint): MonotonicCounter & { value: bigint; failNext: boolean } {
  const c = {
    value: start,
    failNext: false,
    description: "test counter",
    read: async () => c.value,
    increment: async () => {
      if (c.failNext) {
        c.failNext = false;
        throw new SealboxError("TPM_UNAVAILABLE", "counter gone");
      }
      c.value += 1n;
      return c.value;
    },
  };
  return c;
}

test("a fresh ledger matches the provisioning baseline; a bump records the next value BEFORE incrementing, then the value reached", async () => {
  const ledger = createMemoryLedger();
  const counter = fakeCounter(5n);
  const ar = new AntiRollback({ counter, audit: ledger, ledger, baseline: 5n });
  assert.deepEqual(await ar.check(), { tpm: 5n, expected: { value: 5n, seq: undefined }, state: "in-step" });
  const seen: bigint[] = [];
  const audit = {
    append: async (e: Parameters<typeof ledger.append>[0]) => {
      seen.push(counter.value);
      return ledger.append(e);
    },
  };
  const ar2 = new AntiRollback({ counter, audit, ledger, baseline: 5n });
  assert.equal(await ar2.bump("shutdown"), 6n);
  const recs = ledger.byAction(COUNTER_ACTION);
  assert.deepEqual(
    recs.map((r) => [r.outcome, r.details?.value, r.details?.reason]),
    [
      ["requested", "6", "shutdown"],
      ["success", "6", "shutdown"],
    ],
  );
  assert.deepEqual(seen, [5n, 6n], "the requested record was written while the counter was still 5");
  assert.deepEqual(lastRecordedCounter(ledger), { value: 6n, seq: 1 });
  assert.equal((await ar2.check()).state, "in-step");
});

test("no audit, no action: when the ledger cannot write, the counter is not incremented", async () => {
  const ledger = createMemoryLedger();
  const counter = fakeCounter(1n);
  const ar = new AntiRollback({ counter, audit: ledger, ledger, baseline: 1n });
  ledger.failAppends("LEDGER_WRITE_FAILED");
  await assert.rejects(ar.bump("export"), (e) => isSealboxError(e, "LEDGER_WRITE_FAILED"));
  assert.equal(counter.value, 1n);
});

test("a restored older ledger is detected: TPM ahead of the ledger → LEDGER_ROLLBACK with a plain message", async () => {
  const ledger = createMemoryLedger();
  const counter = fakeCounter(1n);
  const ar = new AntiRollback({ counter, audit: ledger, ledger, baseline: 1n });
  await ar.bump("epoch");
  const copy = ledger.records.length; // an operator copies the ledger here
  await ledger.append({ actor: { role: "user", transport: "http", peer: "1000" }, category: "inference", action: "chat", outcome: "success" });
  await ar.bump("shutdown");
  ledger.records.length = copy; // …and restores that copy
  await assert.rejects(ar.check(), (e) => {
    assert.ok(isSealboxError(e, "LEDGER_ROLLBACK"));
    assert.match((e as Error).message, /The ledger is older than the TPM: the test counter is at 3, but the newest counter value the ledger recorded is 2 \(ledger record #1\)/);
    assert.match((e as Error).message, /restored from an older copy or replaced/);
    return true;
  });
});

test("a ledger replaced by an empty one is detected against the provisioning baseline", async () => {
  const counter = fakeCounter(4n);
  const ledger = createMemoryLedger();
  await assert.rejects(new AntiRollback({ counter, audit: ledger, ledger, baseline: 3n }).check(), (e) => isSealboxError(e, "LEDGER_ROLLBACK") && /recorded at provisioning \(3\)/.test((e as Error).message));
});

test("an increment recorded but not done (crash, TPM error) leaves the TPM behind: not a rollback; a failure record keeps the truth", async () => {
  const ledger = createMemoryLedger();
  const counter = fakeCounter(1n);
  const ar = new AntiRollback({ counter, audit: ledger, ledger, baseline: 1n });
  counter.failNext = true;
  await assert.rejects(ar.bump("epoch"), (e) => isSealboxError(e, "TPM_UNAVAILABLE"));
  assert.deepEqual(
    ledger.byAction(COUNTER_ACTION).map((r) => [r.outcome, r.details?.value]),
    [
      ["requested", "2"],
      ["failure", "1"],
    ],
  );
  assert.equal((await ar.check()).state, "in-step");
  ledger.records.pop(); // as if the process died before the failure record
  assert.equal((await ar.check()).state, "tpm-behind");
});

test("acknowledge records who acknowledged what, then brings the ledger level with the TPM", async () => {
  const ledger = createMemoryLedger();
  const counter = fakeCounter(9n);
  const ar = new AntiRollback({ counter, audit: ledger, ledger, baseline: 2n });
  await assert.rejects(ar.check(), (e) => isSealboxError(e, "LEDGER_ROLLBACK"));
  await assert.rejects(ar.acknowledge("  "), (e) => isSealboxError(e, "BAD_ARGUMENT"));
  const r = await ar.acknowledge("J. Technician", "restored from backup after disk failure");
  assert.deepEqual(r, { tpm: 9n, ledger: 2n, now: 10n });
  const ack = ledger.byAction(ROLLBACK_ACK_ACTION);
  assert.equal(ack.length, 1);
  assert.deepEqual(ack[0]!.details, { tpm_value: "9", ledger_value: "2", ledger_seq: null, technician: "J. Technician", note: "restored from backup after disk failure" });
  assert.equal((await ar.check()).state, "in-step");
  await assert.rejects(ar.acknowledge("J. Technician"), (e) => isSealboxError(e, "BAD_REQUEST") && /no rollback to acknowledge/.test((e as Error).message));
});

test("epochs bump only when the ledger grew (an idle box does not wear its NV); concurrent bumps queue", async () => {
  const ledger = createMemoryLedger();
  const counter = fakeCounter(1n);
  const ar = new AntiRollback({ counter, audit: ledger, ledger, baseline: 1n, epochMinutes: 60 });
  ar.start();
  assert.equal(await ar.epochTick(), undefined, "nothing appended: no increment");
  await ledger.append({ actor: { role: "user", transport: "http", peer: "1" }, category: "inference", action: "chat", outcome: "success" });
  assert.equal(await ar.epochTick(), 2n);
  assert.equal(await ar.epochTick(), undefined, "only our own counter records since: no increment");
  const both = await Promise.all([ar.bump("export"), ar.bump("export")]);
  assert.deepEqual(both, [3n, 4n]);
  await ar.close();
  await ar.close();
  assert.equal(await ar.epochTick(), undefined, "closed");
});

test("a counter record without a valid value is LEDGER_CORRUPT, not silently skipped", async () => {
  const ledger = createMemoryLedger();
  await ledger.append({ actor: { role: "system", transport: "internal", peer: "-" }, category: "key", action: COUNTER_ACTION, outcome: "requested", details: { value: "lots" } });
  assert.throws(() => lastRecordedCounter(ledger), (e) => isSealboxError(e, "LEDGER_CORRUPT"));
});

test("an epoch of zero minutes is a configuration error", () => {
  const ledger = createMemoryLedger();
  assert.throws(() => new AntiRollback({ counter: fakeCounter(0n), audit: ledger, ledger, baseline: 0n, epochMinutes: 0 }), (e) => isSealboxError(e, "BAD_CONFIG"));
});

test("onIncremented runs after each recorded increment; its failure is logged, not thrown", async () => {
  const ledger = createMemoryLedger();
  const counter = fakeCounter(1n);
  const seen: [bigint, string, number][] = [];
  const ar = new AntiRollback({
    counter,
    audit: ledger,
    ledger,
    baseline: 1n,
    onIncremented: async (value, reason) => {
      seen.push([value, reason, ledger.size()]);
      if (value === 3n) throw new Error("certify failed");
    },
  });
  assert.equal(await ar.bump("export"), 2n);
  assert.equal(await ar.bump("shutdown"), 3n);
  assert.deepEqual(seen, [
    [2n, "export", 2],
    [3n, "shutdown", 4],
  ]);
});
