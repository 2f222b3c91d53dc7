// The health monitor with real peers: the recorded nvidia-smi on PATH (its
// mode switched through a file between polls), systeminformation on this
// machine, and an in-memory AuditLog.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NvidiaSmiProbe } from "../../../hal/gpu/nvidia-smi.js";
import { SystemInfoProbe, type SystemSource } from "../../../hal/system/system-probe.js";
import { HealthMonitor, type HealthChange, type HealthMonitorOptions } from "../../../daemon/health/monitor.js";
import { isSealboxError, SealboxError } from "../../../daemon/errors.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { fakeNvidiaSmiEnv, waitFor } from "../../helpers/fake-nvidia-smi.js";
import { MemoryAuditLog } from "../../helpers/memory-audit-log.js";

const MIB = 1024 * 1024;
// Low limits so this machine's own disk and memory never decide a test.
const LENIENT = { diskFreeDegradedBytes: MIB, diskFreeCriticalBytes: MIB, memoryAvailableDegradedBytes: MIB, memoryAvailableCriticalBytes: MIB, cpuTempDegradedC: 150, cpuTempCriticalC: 150 };

interface Rig {
  dir: string;
  modeFile: string;
  logFile: string;
  audit: MemoryAuditLog;
  gpu: NvidiaSmiProbe;
  setMode(mode: string): Promise<void>;
  monitor(options?: Partial<HealthMonitorOptions>): HealthMonitor;
  close(): Promise<void>;
}

async function rig(mode = "ok", gpuTimeoutMs = 10_000): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-health-"));
  const modeFile = join(dir, "mode");
  const logFile = join(dir, "calls.log");
  await writeFile(modeFile, mode);
  const audit = new MemoryAuditLog();
  const gpu = new NvidiaSmiProbe({ timeoutMs: gpuTimeoutMs, env: fakeNvidiaSmiEnv({ modeFile, logFile }) });
  const monitors: HealthMonitor[] = [];
  return {
    dir,
    modeFile,
    logFile,
    audit,
    gpu,
    setMode: (m) => writeFile(modeFile, m),
    monitor(options = {}) {
      const m = new HealthMonitor({ audit, gpu, intervalMs: 60_000, recoveryPolls: 3, thresholds: LENIENT, ...options });
      monitors.push(m);
      return m;
    },
    async close() {
      for (const m of monitors) await m.close();
      await gpu.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function expectCritical(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isSealboxError(e, "HEALTH_CRITICAL"), `expected HEALTH_CRITICAL, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.equal(e.spec.retryable, true);
    assert.equal(e.spec.httpStatus, 503);
    return;
  }
  assert.fail("check() did not throw");
}

test("check() refuses until the first poll, then follows the state; every change is audited", async () => {
  const r = await rig("ok");
  try {
    const m = r.monitor();
    expectCritical(() => m.check(), /not been checked yet/);
    const first = await m.start();
    assert.equal(first.state, "ok");
    assert.deepEqual(m.check(), { state: "ok", cpuFallback: false });
    assert.equal(r.audit.events.length, 1);
    assert.deepEqual(
      { category: r.audit.events[0]!.category, action: r.audit.events[0]!.action, outcome: r.audit.events[0]!.outcome, from: r.audit.events[0]!.details!.from, to: r.audit.events[0]!.details!.to },
      { category: "health", action: "health.state", outcome: "info", from: "unknown", to: "ok" },
    );

    await r.setMode("gpu-lost");
    const lost = await m.poll();
    assert.equal(lost.state, "critical", "worse takes effect at once");
    expectCritical(() => m.check(), /GPU is lost/);
    assert.equal(r.audit.events.length, 2);
    assert.equal(r.audit.events[1]!.details!.to, "critical");
    assert.match(JSON.stringify(r.audit.events[1]!.details!.reasons), /gpu\.fault\.gpu-lost/);

    // Same state again: no new record.
    await m.poll();
    assert.equal(r.audit.events.length, 2);

    await r.setMode("ok");
    assert.equal((await m.poll()).state, "critical", "one good reading is not recovery");
    assert.equal((await m.poll()).recoveringPolls, 2);
    const back = await m.poll();
    assert.equal(back.state, "ok");
    assert.deepEqual(m.check(), { state: "ok", cpuFallback: false });
    assert.deepEqual(r.audit.events.map((e) => `${e.details!.from}→${e.details!.to}`), ["unknown→ok", "ok→critical", "critical→ok"]);
  } finally {
    await r.close();
  }
});

test("driver gone, hot, all-zero and ECC modes are critical; a recovery in between is not reported early", async () => {
  const r = await rig("ok");
  try {
    const m = r.monitor({ recoveryPolls: 1 });
    await m.start();
    for (const mode of ["driver-gone", "hot", "all-zero", "ecc"]) {
      await r.setMode(mode);
      assert.equal((await m.poll()).state, "critical", mode);
      await r.setMode("ok");
      assert.equal((await m.poll()).state, "ok", `${mode} then ok`);
    }
    assert.equal(r.audit.events.length, 9);
  } finally {
    await r.close();
  }
});

test("with a CPU fallback, a critical GPU lets inference run on the CPU; a critical host still refuses", async () => {
  const r = await rig("gpu-lost");
  try {
    const m = r.monitor({ cpuFallback: true });
    await m.start();
    assert.deepEqual(m.check(), { state: "critical", cpuFallback: true });
    assert.equal(m.snapshot().cpuFallbackActive, true);

    const lowMemory: SystemSource = {
      currentLoad: async () => ({ currentLoad: 5 }),
      mem: async () => ({ total: 8 * 1024 * MIB, available: 10 * MIB }),
      fsSize: async () => [],
      cpuTemperature: async () => ({ main: null, max: null }),
    };
    const both = new HealthMonitor({ audit: r.audit, gpu: r.gpu, system: new SystemInfoProbe({ source: lowMemory }), cpuFallback: true, intervalMs: 60_000 });
    try {
      await both.start();
      expectCritical(() => both.check(), /MiB of memory available/);
      assert.equal(both.snapshot().cpuFallbackActive, false);
    } finally {
      await both.close();
    }
  } finally {
    await r.close();
  }
});

test("nvidia-smi hanging: degraded, then critical after three timeouts in a row", async () => {
  const r = await rig("hang", 200);
  try {
    const m = r.monitor();
    assert.equal((await m.start()).state, "degraded");
    assert.deepEqual(m.check(), { state: "degraded", cpuFallback: false });
    assert.equal((await m.poll()).state, "degraded");
    const third = await m.poll();
    assert.equal(third.state, "critical");
    assert.match(third.reasons[0]!.message, /3 in a row/);
  } finally {
    await r.close();
  }
});

test("a ledger that refuses: worse still takes effect, better waits until its record is durable", async () => {
  const r = await rig("ok");
  try {
    const logger = createMemoryLogger();
    const m = r.monitor({ recoveryPolls: 1, logger });
    await m.start();
    r.audit.refuse = "LEDGER_FULL";
    await r.setMode("driver-gone");
    const s = await m.poll();
    assert.equal(s.state, "critical", "fail closed even without a record");
    assert.equal(s.unauditedChanges, 1);
    assert.ok(logger.lines.some((l) => /health change could not be audited/.test(l)));

    await r.setMode("ok");
    for (let i = 0; i < 3; i++) assert.equal((await m.poll()).state, "critical", "no recovery while the ledger refuses");

    r.audit.refuse = undefined;
    const healed = await m.poll();
    assert.equal(healed.state, "ok");
    assert.equal(healed.unauditedChanges, 0);
    assert.deepEqual(r.audit.events.map((e) => `${e.details!.from}→${e.details!.to}`), ["unknown→ok", "ok→critical", "critical→ok"]);
  } finally {
    await r.close();
  }
});

test("periodic polling reports changes, and close() stops it", async () => {
  const r = await rig("ok");
  try {
    const m = r.monitor({ intervalMs: 50 });
    const changes: HealthChange[] = [];
    m.onChange((c) => changes.push(c));
    await m.start();
    await r.setMode("driver-gone");
    assert.ok(await waitFor(() => changes.some((c) => c.to === "critical"), 10_000), "the timer polled and saw the driver gone");
    await m.close();
    await m.close();
    const calls = (await readFile(r.logFile, "utf8")).split("\n").length;
    await new Promise((res) => setTimeout(res, 300));
    assert.equal((await readFile(r.logFile, "utf8")).split("\n").length, calls, "no poll after close");
    await assert.rejects(m.start(), (e: unknown) => e instanceof SealboxError);
  } finally {
    await r.close();
  }
});

test("the real systeminformation probe reads this machine, and the state directory's disk is found", async () => {
  const dir = realpathSync(await mkdtemp(join(tmpdir(), "sealbox-sys-")));
  const probe = new SystemInfoProbe({ timeoutMs: 10_000 });
  try {
    const s = await probe.read();
    assert.deepEqual(s.errors, []);
    assert.ok(s.memory && s.memory.totalBytes > 0 && s.memory.availableBytes > 0);
    assert.ok(s.cpuLoadPct !== null && s.cpuLoadPct >= 0 && s.cpuLoadPct <= 100);
    assert.ok(s.disks && s.disks.length > 0);
    const m = new HealthMonitor({ audit: new MemoryAuditLog(), system: probe, watchPaths: [dir], thresholds: LENIENT, gpuRequired: false });
    const snap = await m.start();
    await m.close();
    assert.equal(snap.state, "ok", JSON.stringify(snap.reasons));
    // A huge limit makes the same disk critical: the watched path was really matched to a mount.
    const strict = new HealthMonitor({ audit: new MemoryAuditLog(), system: probe, watchPaths: [dir], thresholds: { ...LENIENT, diskFreeCriticalBytes: 2 ** 60, diskFreeDegradedBytes: 2 ** 60 }, gpuRequired: false });
    const full = await strict.start();
    await strict.close();
    assert.deepEqual(full.reasons.map((x) => x.code), ["system.disk-free"]);
  } finally {
    await probe.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("a host part that does not answer is bounded by its timeout and not asked again while stuck", async () => {
  let release: () => void = () => undefined;
  let fsCalls = 0;
  let stuckNow = true;
  const stuck: SystemSource = {
    currentLoad: async () => ({ currentLoad: 5 }),
    mem: async () => ({ total: 8 * 1024 * MIB, available: 4 * 1024 * MIB }),
    fsSize: () => {
      fsCalls++;
      if (!stuckNow) return Promise.resolve([]);
      return new Promise((res) => {
        release = () => res([]);
      });
    },
    cpuTemperature: async () => ({ main: 40, max: 45 }),
  };
  const probe = new SystemInfoProbe({ source: stuck, timeoutMs: 100 });
  const first = await probe.read();
  assert.deepEqual(first.errors.map((e) => [e.part, e.timedOut]), [["disks", true]]);
  assert.equal(first.disks, null);
  assert.equal(first.cpuTempC, 40);
  const second = await probe.read();
  assert.match(second.errors[0]!.message, /has not finished yet/);
  assert.equal(fsCalls, 1, "no second df while the first is stuck");
  stuckNow = false;
  release();
  await new Promise((res) => setImmediate(res));
  const third = await probe.read();
  assert.deepEqual(third.errors, []);
  assert.equal(fsCalls, 2);
  await probe.close();
});

test("openHealth wires the config: nvidia-smi only in cuda mode, the state directory watched, one close", async () => {
  const { defaultConfig } = await import("../../../daemon/config.js");
  const { openHealth } = await import("../../../daemon/health/open-health.js");
  const dir = await mkdtemp(join(tmpdir(), "sealbox-open-health-"));
  try {
    const audit = new MemoryAuditLog();
    const cuda = defaultConfig({ paths: { state: dir }, inference: { mode: "cuda" }, health: { cpuFallback: true, diskFreeCriticalBytes: 0, diskFreeDegradedBytes: 0, memoryAvailableCriticalBytes: 0 } });
    const h = await openHealth({ config: cuda, audit, env: fakeNvidiaSmiEnv({ mode: "gpu-lost" }), extraThresholds: { memoryAvailableDegradedBytes: 0 } });
    assert.ok(h.gpu, "cuda mode has a GPU probe");
    const s = await h.monitor.start();
    assert.equal(s.state, "critical");
    assert.deepEqual(h.monitor.check(), { state: "critical", cpuFallback: true });
    await h.close();
    await h.close();

    const cpu = defaultConfig({ paths: { state: dir }, inference: { mode: "cpu" }, health: { diskFreeCriticalBytes: 0, diskFreeDegradedBytes: 0, memoryAvailableCriticalBytes: 0 } });
    const c = await openHealth({ config: cpu, audit, extraThresholds: { memoryAvailableDegradedBytes: 0, cpuTempDegradedC: 150, cpuTempCriticalC: 150 } });
    assert.equal(c.gpu, null, "cpu mode runs no nvidia-smi");
    assert.equal((await c.monitor.start()).state, "ok");
    await c.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
