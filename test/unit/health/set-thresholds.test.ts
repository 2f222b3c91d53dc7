// HealthMonitor.setThresholds: new limits are audited before they apply, the
// next poll evaluates with them (and audits the change of state it causes),
// and a refused value or a refused record leaves the old limits in force.
// The GPU probe is a plain object replaying the recorded idle H200 (39 °C).

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseQueryGpuCsv } from "../../../hal/gpu/nvidia-smi-csv.js";
import type { GpuProbe, GpuReading } from "../../../hal/gpu/types.js";
import { HealthMonitor, type HealthMonitorOptions } from "../../../daemon/health/monitor.js";
import { DEFAULT_HEALTH_THRESHOLDS, type HealthThresholds } from "../../../daemon/health/thresholds.js";
import { isSealboxError } from "../../../daemon/errors.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { recordedQuery } from "../../helpers/fake-nvidia-smi.js";
import { MemoryAuditLog } from "../../helpers/memory-audit-log.js";

async function recordedProbe(mode: string): Promise<GpuProbe & { reads: number }> {
  const { fields, csv } = await recordedQuery(mode);
  const probe = {
    reads: 0,
    async read(): Promise<GpuReading> {
      probe.reads++;
      return { at: new Date().toISOString(), durationMs: 1, ...parseQueryGpuCsv(csv, fields) };
    },
    async close(): Promise<void> {},
  };
  return probe;
}

async function started(options: Partial<HealthMonitorOptions> = {}) {
  const audit = new MemoryAuditLog();
  const logger = createMemoryLogger();
  const gpu = await recordedProbe("ok");
  const monitor = new HealthMonitor({ audit, gpu, intervalMs: 600_000, recoveryPolls: 1, logger, ...options });
  const first = await monitor.start();
  assert.equal(first.state, "ok", "the recorded idle H200 is healthy under the default limits");
  return { audit, logger, gpu, monitor };
}

function criticalMessage(monitor: HealthMonitor): string {
  try {
    monitor.check();
  } catch (e) {
    assert.ok(isSealboxError(e, "HEALTH_CRITICAL"), String(e));
    return e.message;
  }
  return assert.fail("check() did not refuse");
}

test("lowered limits: recorded first, then the next poll turns ok into degraded and critical, each change audited", async (t) => {
  const { audit, logger, monitor } = await started();
  t.after(() => monitor.close());

  const degraded = await monitor.setThresholds({ gpuTempDegradedC: 30 }, { reason: "configuration reloaded (SIGHUP)" });
  assert.equal(degraded.gpuTempDegradedC, 30);
  assert.equal(degraded.gpuTempCriticalC, DEFAULT_HEALTH_THRESHOLDS.gpuTempCriticalC);
  const [rec] = audit.byAction("health.thresholds");
  assert.ok(rec);
  assert.equal(rec.category, "health");
  assert.equal(rec.outcome, "success");
  assert.equal(rec.target, "box");
  assert.deepEqual(rec.actor, { role: "system", transport: "internal", peer: "health-monitor" });
  assert.deepEqual(rec.details?.changed, { gpuTempDegradedC: { from: 83, to: 30 } });
  assert.deepEqual(rec.details?.thresholds, { ...degraded });
  assert.equal(rec.details?.reason, "configuration reloaded (SIGHUP)");
  assert.equal(monitor.currentState, "ok", "the limits apply from the next poll, not retroactively");
  assert.ok(logger.lines.some((l) => /health thresholds changed .*gpuTempDegradedC:83→30/.test(l)), logger.lines.join("\n"));

  let snap = await monitor.poll();
  assert.equal(snap.state, "degraded");
  assert.deepEqual(snap.reasons.map((r) => r.code), ["gpu.temperature"]);
  assert.equal(monitor.check().state, "degraded", "degraded still answers");

  await monitor.setThresholds({ gpuTempCriticalC: 35 });
  snap = await monitor.poll();
  assert.equal(snap.state, "critical");
  assert.match(criticalMessage(monitor), /temperature/);

  // The ledger reads: state ok, limit lowered, degraded, limit lowered, critical.
  assert.deepEqual(
    audit.events.map((e) => (e.action === "health.state" ? `${String(e.details?.from)}→${String(e.details?.to)}` : Object.keys(e.details?.changed as object).join(","))),
    ["unknown→ok", "gpuTempDegradedC", "ok→degraded", "gpuTempCriticalC", "degraded→critical"],
  );
  const toCritical = audit.byAction("health.state").at(-1)!;
  assert.deepEqual((toCritical.details?.reasons as { code: string }[]).map((r) => r.code), ["gpu.temperature"]);

  // Raised again: better only through the usual recovery, audited like any other change.
  await monitor.setThresholds({ gpuTempDegradedC: 83, gpuTempCriticalC: 90 });
  snap = await monitor.poll();
  assert.equal(snap.state, "ok");
  assert.equal(audit.byAction("health.state").at(-1)?.details?.to, "ok");
});

test("given keys replace the current limits (not the defaults); undefined keeps; the same values record nothing", async (t) => {
  const { audit, monitor } = await started({ thresholds: { gpuTempCriticalC: 88, gpuMemoryDegradedPct: 80 } });
  t.after(() => monitor.close());
  const next = await monitor.setThresholds({ gpuTempDegradedC: 70, gpuMemoryDegradedPct: undefined });
  assert.equal(next.gpuTempDegradedC, 70);
  assert.equal(next.gpuTempCriticalC, 88, "a limit not given keeps its current value");
  assert.equal(next.gpuMemoryDegradedPct, 80, "undefined keeps the current value");
  assert.equal(audit.byAction("health.thresholds").length, 1);

  const same = await monitor.setThresholds({ gpuTempDegradedC: 70, gpuTempCriticalC: 88 });
  assert.equal(same, monitor.currentThresholds);
  assert.equal(audit.byAction("health.thresholds").length, 1, "nothing changed, nothing recorded");
  assert.equal((await monitor.setThresholds({})).gpuTempDegradedC, 70);

  // Calls run in order: each record's "from" is the previous one's "to".
  const [a, b] = await Promise.all([monitor.setThresholds({ gpuTempDegradedC: 60 }), monitor.setThresholds({ gpuTempDegradedC: 50 })]);
  assert.equal(a.gpuTempDegradedC, 60);
  assert.equal(b.gpuTempDegradedC, 50);
  assert.deepEqual(
    audit.byAction("health.thresholds").map((e) => (e.details?.changed as { gpuTempDegradedC: unknown }).gpuTempDegradedC),
    [
      { from: 83, to: 70 },
      { from: 70, to: 60 },
      { from: 60, to: 50 },
    ],
  );
});

test("bad values are refused with BAD_CONFIG naming the problem; the old limits stay and nothing is recorded", async (t) => {
  const { audit, monitor } = await started();
  t.after(() => monitor.close());
  const before = monitor.currentThresholds;
  const cases: [Partial<HealthThresholds>, RegExp][] = [
    [{ gpuTempDegradedC: 95 }, /gpuTempDegradedC \(95\) must be ≤ gpuTempCriticalC \(90\)/],
    [{ gpuTempCriticalC: 20 }, /gpuTempDegradedC \(83\) must be ≤ gpuTempCriticalC \(20\)/],
    [{ gpuTempCriticalC: -1 }, /gpuTempCriticalC must be a number ≥ 0, got -1/],
    [{ gpuMemoryDegradedPct: Number.NaN }, /gpuMemoryDegradedPct must be a number ≥ 0, got null/],
    [{ gpuMemoryDegradedPct: 101 }, /gpuMemoryDegradedPct must be ≤ 100/],
    [{ gpuTimeoutsCritical: 0.5 }, /gpuTimeoutsCritical must be a whole number ≥ 1/],
    [{ diskFreeCriticalBytes: 4096 * 1024 * 1024 }, /diskFreeCriticalBytes \(4294967296\) must be ≤ diskFreeDegradedBytes/],
    [{ gpuTempCritcalC: 30 } as unknown as Partial<HealthThresholds>, /unknown limit gpuTempCritcalC \(known: gpuTempDegradedC, gpuTempCriticalC,/],
    [{ gpuTempDegradedC: "30" } as unknown as Partial<HealthThresholds>, /gpuTempDegradedC must be a number ≥ 0, got "30"/],
  ];
  for (const [partial, pattern] of cases) {
    await assert.rejects(monitor.setThresholds(partial), (e: unknown) => {
      assert.ok(isSealboxError(e, "BAD_CONFIG"), `${JSON.stringify(partial)}: ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    });
    assert.equal(monitor.currentThresholds, before, `${JSON.stringify(partial)} changed nothing`);
  }
  assert.equal(audit.byAction("health.thresholds").length, 0);
  assert.equal((await monitor.poll()).state, "ok");
  // A refusal does not block the calls after it.
  assert.equal((await monitor.setThresholds({ gpuTempDegradedC: 80 })).gpuTempDegradedC, 80);
});

test("a ledger that refuses the record: the old limits stay in force and the error says so", async (t) => {
  const { audit, logger, monitor } = await started();
  t.after(() => monitor.close());
  const before = monitor.currentThresholds;
  audit.refuse = "LEDGER_FULL";
  await assert.rejects(monitor.setThresholds({ gpuTempDegradedC: 30, gpuTempCriticalC: 35 }), (e: unknown) => {
    assert.ok(isSealboxError(e, "LEDGER_FULL"), String(e));
    assert.match(e.message, /health thresholds were not changed: their audit record could not be written/);
    assert.deepEqual(e.details?.changed, { gpuTempDegradedC: { from: 83, to: 30 }, gpuTempCriticalC: { from: 90, to: 35 } });
    return true;
  });
  assert.equal(audit.refused, 1);
  assert.equal(monitor.currentThresholds, before);
  assert.ok(logger.lines.some((l) => l.includes("health thresholds unchanged")));
  audit.refuse = undefined;
  assert.equal((await monitor.poll()).state, "ok", "no audit, no action: still judged by the old limits");
  assert.equal(audit.byAction("health.thresholds").length, 0);

  // Once the ledger takes it, the same call succeeds.
  await monitor.setThresholds({ gpuTempDegradedC: 30, gpuTempCriticalC: 35 });
  assert.equal((await monitor.poll()).state, "critical");
});

test("a closed monitor refuses new limits", async () => {
  const { audit, monitor } = await started();
  await monitor.close();
  await assert.rejects(monitor.setThresholds({ gpuTempDegradedC: 30 }), (e: unknown) => isSealboxError(e, "INTERNAL") && /closed/.test(e.message));
  assert.equal(audit.byAction("health.thresholds").length, 0);
});
