import { test } from "node:test";
import assert from "node:assert/strict";
import { parseQueryGpuCsv } from "../../../hal/gpu/nvidia-smi-csv.js";
import type { GpuFault, GpuReading } from "../../../hal/gpu/types.js";
import type { SystemReading } from "../../../hal/system/types.js";
import { evaluateHealth, mountOf, type HealthInput } from "../../../daemon/health/evaluate.js";
import { DEFAULT_HEALTH_THRESHOLDS, resolveThresholds, thresholdsFromConfig } from "../../../daemon/health/thresholds.js";
import { isSealboxError } from "../../../daemon/errors.js";
import { defaultConfig } from "../../../daemon/config.js";
import { recordedQuery } from "../../helpers/fake-nvidia-smi.js";

const MIB = 1024 * 1024;
const T = resolveThresholds();

async function recorded(mode: string): Promise<GpuReading> {
  const { fields, csv } = await recordedQuery(mode);
  return { at: "2026-01-01T00:00:00.000Z", durationMs: 1, ...parseQueryGpuCsv(csv, fields) };
}

function faulted(...faults: GpuFault[]): GpuReading {
  return { at: "2026-01-01T00:00:00.000Z", durationMs: 1, gpus: [], faults };
}

function host(over: Partial<SystemReading> = {}): SystemReading {
  return {
    at: "2026-01-01T00:00:00.000Z",
    durationMs: 1,
    cpuLoadPct: 12,
    memory: { totalBytes: 64 * 1024 * MIB, availableBytes: 32 * 1024 * MIB },
    disks: [
      { mount: "/", fs: "/dev/vda", sizeBytes: 100 * 1024 * MIB, availableBytes: 50 * 1024 * MIB, usedPct: 50 },
      { mount: "/var/lib/sealbox", fs: "/dev/vdb", sizeBytes: 10 * 1024 * MIB, availableBytes: 5 * 1024 * MIB, usedPct: 50 },
    ],
    cpuTempC: 55,
    errors: [],
    ...over,
  };
}

function input(over: Partial<HealthInput>): HealthInput {
  return { gpu: null, system: null, gpuRequired: true, consecutiveGpuTimeouts: 0, watchPaths: [], ...over };
}

const codes = (e: { reasons: { code: string; severity: string }[] }) => e.reasons.map((r) => `${r.code}:${r.severity}`).sort();

test("the recorded H200 and H100, idle and under load, on a healthy host are ok", async () => {
  for (const mode of ["ok", "ok-load", "h100", "h100-load"]) {
    const e = evaluateHealth(input({ gpu: await recorded(mode), system: host(), watchPaths: ["/var/lib/sealbox/ledger"] }), T);
    assert.equal(e.state, "ok", `${mode}: ${JSON.stringify(e.reasons)}`);
    assert.deepEqual(e.reasons, []);
  }
});

test("hot: core and HBM past critical, clocks held down", async () => {
  const e = evaluateHealth(input({ gpu: await recorded("hot") }), T);
  assert.equal(e.state, "critical");
  assert.deepEqual(codes(e), ["gpu.clocks-slowed:degraded", "gpu.memory-temperature:critical", "gpu.temperature:critical"]);
  const temp = e.reasons.find((r) => r.code === "gpu.temperature")!;
  assert.equal(temp.value, 94);
  assert.equal(temp.limit, 90);
  assert.equal(temp.unit, "°C");
  assert.equal(temp.gpuIndex, 0);
  assert.match(temp.message, /GPU 0 temperature is 94 °C \(critical at 90\)/);
});

test("degraded below the critical limit; exactly at a limit counts", async () => {
  const r = await recorded("ok");
  r.gpus[0]!.tempC = T.gpuTempDegradedC;
  assert.deepEqual(codes(evaluateHealth(input({ gpu: r }), T)), ["gpu.temperature:degraded"]);
  r.gpus[0]!.tempC = T.gpuTempDegradedC - 1;
  assert.equal(evaluateHealth(input({ gpu: r }), T).state, "ok");
});

test("uncorrectable ECC errors are critical", async () => {
  const e = evaluateHealth(input({ gpu: await recorded("ecc") }), T);
  assert.deepEqual(codes(e), ["gpu.ecc-uncorrected:critical"]);
  const loose = resolveThresholds({ eccUncorrectedVolatileCritical: 5, eccCorrectedVolatileDegraded: 10 });
  assert.deepEqual(codes(evaluateHealth(input({ gpu: await recorded("ecc") }), loose)), ["gpu.ecc-corrected:degraded"]);
});

test("all-zero figures are implausible, hence critical", async () => {
  const e = evaluateHealth(input({ gpu: await recorded("all-zero") }), T);
  assert.deepEqual(codes(e), ["gpu.implausible:critical"]);
});

test("GPU memory nearly full is degraded only", async () => {
  const r = await recorded("ok");
  r.gpus[0]!.memoryUsedMiB = Math.ceil(r.gpus[0]!.memoryTotalMiB! * 0.99);
  assert.deepEqual(codes(evaluateHealth(input({ gpu: r }), T)), ["gpu.memory-used:degraded"]);
});

test("faults: driver gone and GPU lost are critical; timeouts become critical after N in a row", () => {
  for (const kind of ["driver-unreachable", "gpu-lost", "nvml-failed", "no-gpus", "failed", "output-too-large", "not-installed"] as const) {
    const e = evaluateHealth(input({ gpu: faulted({ kind, message: kind }) }), T);
    assert.deepEqual(codes(e), [`gpu.fault.${kind}:critical`]);
  }
  assert.equal(evaluateHealth(input({ gpu: faulted({ kind: "malformed-output", message: "x" }) }), T).state, "degraded");
  const timeout = faulted({ kind: "timeout", message: "nvidia-smi did not answer" });
  assert.equal(evaluateHealth(input({ gpu: timeout, consecutiveGpuTimeouts: 1 }), T).state, "degraded");
  assert.equal(evaluateHealth(input({ gpu: timeout, consecutiveGpuTimeouts: T.gpuTimeoutsCritical - 1 }), T).state, "degraded");
  const e = evaluateHealth(input({ gpu: timeout, consecutiveGpuTimeouts: T.gpuTimeoutsCritical }), T);
  assert.equal(e.state, "critical");
  assert.match(e.reasons[0]!.message, /3 in a row/);
});

test("a GPU the box does not need is at worst degraded; a missing needed GPU is critical", () => {
  const lost = faulted({ kind: "gpu-lost", message: "lost" });
  assert.equal(evaluateHealth(input({ gpu: lost, gpuRequired: false }), T).state, "degraded");
  assert.equal(evaluateHealth(input({ gpu: faulted({ kind: "not-installed", message: "none" }), gpuRequired: false }), T).state, "ok");
  assert.deepEqual(codes(evaluateHealth(input({ gpu: null, gpuRequired: true }), T)), ["gpu.missing:critical"]);
  assert.equal(evaluateHealth(input({ gpu: null, gpuRequired: false }), T).state, "ok");
});

test("host: memory, the state directory's disk, CPU temperature, unreadable parts", () => {
  const watch = ["/var/lib/sealbox"];
  const lowMem = host({ memory: { totalBytes: 8 * 1024 * MIB, availableBytes: 100 * MIB } });
  assert.deepEqual(codes(evaluateHealth(input({ system: lowMem, gpuRequired: false }), T)), ["system.memory-available:critical"]);
  const someMem = host({ memory: { totalBytes: 8 * 1024 * MIB, availableBytes: 700 * MIB } });
  assert.deepEqual(codes(evaluateHealth(input({ system: someMem, gpuRequired: false }), T)), ["system.memory-available:degraded"]);

  const disks = host().disks!.map((d) => (d.mount === "/var/lib/sealbox" ? { ...d, availableBytes: 100 * MIB } : d));
  const e = evaluateHealth(input({ system: host({ disks }), gpuRequired: false, watchPaths: watch }), T);
  assert.deepEqual(codes(e), ["system.disk-free:critical"]);
  assert.match(e.reasons[0]!.message, /100 MiB free on \/var\/lib\/sealbox/);
  // The root file system is full but holds nothing watched: not a reason.
  const rootFull = host().disks!.map((d) => (d.mount === "/" ? { ...d, availableBytes: 0 } : d));
  assert.equal(evaluateHealth(input({ system: host({ disks: rootFull }), gpuRequired: false, watchPaths: watch }), T).state, "ok");

  assert.deepEqual(codes(evaluateHealth(input({ system: host({ cpuTempC: 101 }), gpuRequired: false }), T)), ["system.cpu-temperature:critical"]);
  assert.equal(evaluateHealth(input({ system: host({ cpuTempC: null }), gpuRequired: false }), T).state, "ok");
  const broken = host({ disks: null, errors: [{ part: "disks", message: "disks did not answer within 3000 ms", timedOut: true }] });
  assert.deepEqual(codes(evaluateHealth(input({ system: broken, gpuRequired: false, watchPaths: watch }), T)), ["system.disks-unreadable:degraded"]);
  assert.equal(evaluateHealth(input({ system: host({ cpuLoadPct: 100 }), gpuRequired: false }), T).state, "ok", "CPU load is not checked by default");
  const loadT = resolveThresholds({ cpuLoadDegradedPct: 90 });
  assert.deepEqual(codes(evaluateHealth(input({ system: host({ cpuLoadPct: 99.6 }), gpuRequired: false }), loadT)), ["system.cpu-load:degraded"]);
});

test("mountOf picks the longest mount that is a path prefix, by whole components", () => {
  const disks = [{ mount: "/" }, { mount: "/var" }, { mount: "/var/lib/sealbox" }];
  assert.equal(mountOf("/var/lib/sealbox/ledger", disks)?.mount, "/var/lib/sealbox");
  assert.equal(mountOf("/var/lib/sealbox", disks)?.mount, "/var/lib/sealbox");
  assert.equal(mountOf("/var/lib/sealboxx", disks)?.mount, "/var");
  assert.equal(mountOf("/varnish", disks)?.mount, "/");
  assert.equal(mountOf("/tmp", [{ mount: "/var" }]), undefined);
});

test("thresholds: defaults, overrides, and every ordering problem named", () => {
  assert.deepEqual(resolveThresholds(), { ...DEFAULT_HEALTH_THRESHOLDS });
  assert.equal(resolveThresholds({ gpuTempCriticalC: 95 }).gpuTempCriticalC, 95);
  try {
    resolveThresholds({ gpuTempDegradedC: 95, gpuTempCriticalC: 90, diskFreeCriticalBytes: 10 * MIB, diskFreeDegradedBytes: MIB, gpuTimeoutsCritical: 0, gpuMemoryDegradedPct: -1 });
    assert.fail("expected BAD_CONFIG");
  } catch (e) {
    assert.ok(isSealboxError(e, "BAD_CONFIG"));
    assert.match(e.message, /gpuTempDegradedC \(95\) must be ≤ gpuTempCriticalC \(90\)/);
    assert.match(e.message, /diskFreeCriticalBytes/);
    assert.match(e.message, /gpuTimeoutsCritical/);
    assert.match(e.message, /gpuMemoryDegradedPct must be a number ≥ 0/);
  }
});

test("the config file's [health] section maps onto thresholds", () => {
  const cfg = defaultConfig({ health: { gpuTempDegradedC: 70, gpuTempCriticalC: 80, memoryAvailableCriticalBytes: 2048 * MIB } }).health;
  const t = thresholdsFromConfig(cfg);
  assert.equal(t.gpuTempDegradedC, 70);
  assert.equal(t.gpuTempCriticalC, 80);
  assert.equal(t.memoryAvailableCriticalBytes, 2048 * MIB);
  assert.ok(t.memoryAvailableDegradedBytes >= t.memoryAvailableCriticalBytes);
  assert.equal(t.diskFreeCriticalBytes, cfg.diskFreeCriticalBytes);
});
