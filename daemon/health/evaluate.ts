// Pure: readings and thresholds in, a health state and its reasons out. The
// state is the worst severity among the reasons; no reason means "ok".

import type { GpuFaultKind, GpuReading, GpuSample } from "../../hal/gpu/types.js";
import type { SystemReading } from "../../hal/system/types.js";
import type { HealthThresholds } from "./thresholds.js";

export type HealthState = "ok" | "degraded" | "critical";
export type Severity = Exclude<HealthState, "ok">;

export interface HealthReason {
  /** Stable code, e.g. "gpu.temperature", "gpu.fault.gpu-lost", "system.disk-free". */
  code: string;
  severity: Severity;
  /** Which half of the box it concerns: a CPU fallback can stand in for the GPU, nothing for the host. */
  source: "gpu" | "system";
  message: string;
  gpuIndex?: number;
  value?: number;
  limit?: number;
  unit?: string;
}

export interface HealthInput {
  /** null: no GPU probe (CPU mode). */
  gpu: GpuReading | null;
  system: SystemReading | null;
  /** Whether the box needs a GPU (inference mode "cuda"). Without one, no GPU is critical. */
  gpuRequired: boolean;
  /** nvidia-smi timeouts in a row, this reading included. */
  consecutiveGpuTimeouts: number;
  /** Real paths whose file systems must have room (the state directory). */
  watchPaths: readonly string[];
}

export interface HealthEvaluation {
  state: HealthState;
  reasons: HealthReason[];
}

const RANK: Record<HealthState, number> = { ok: 0, degraded: 1, critical: 2 };

export function worse(a: HealthState, b: HealthState): HealthState {
  return RANK[a] >= RANK[b] ? a : b;
}

export function isBetter(a: HealthState, than: HealthState): boolean {
  return RANK[a] < RANK[than];
}

const CRITICAL_FAULTS: ReadonlySet<GpuFaultKind> = new Set(["driver-unreachable", "gpu-lost", "nvml-failed", "not-installed", "no-gpus", "output-too-large", "failed"]);

const MIB = 1024 * 1024;
const mib = (bytes: number) => Math.round(bytes / MIB);

/** value ≥ critical → critical; ≥ degraded → degraded. */
function rising(reasons: HealthReason[], base: Omit<HealthReason, "severity" | "message" | "limit">, value: number | null, degraded: number, critical: number, what: string): void {
  if (value === null) return;
  const severity: Severity | undefined = value >= critical ? "critical" : value >= degraded ? "degraded" : undefined;
  if (!severity) return;
  const limit = severity === "critical" ? critical : degraded;
  reasons.push({ ...base, severity, value, limit, message: `${what} is ${value}${base.unit === "%" ? "%" : ` ${base.unit}`} (${severity} at ${limit})` });
}

function gpuReasons(s: GpuSample, t: HealthThresholds, out: HealthReason[]): void {
  const g = { source: "gpu" as const, gpuIndex: s.index };
  const who = `GPU ${s.index}`;
  // A GPU that reports no memory or no clock at all is not a GPU that can answer.
  if (s.memoryTotalMiB === 0 || s.maxSmClockMHz === 0) {
    out.push({ ...g, code: "gpu.implausible", severity: "critical", message: `${who} reports ${s.memoryTotalMiB === 0 ? "0 MiB of memory" : "a maximum clock of 0 MHz"}: its figures cannot be trusted` });
    return;
  }
  rising(out, { ...g, code: "gpu.temperature", unit: "°C" }, s.tempC, t.gpuTempDegradedC, t.gpuTempCriticalC, `${who} temperature`);
  rising(out, { ...g, code: "gpu.memory-temperature", unit: "°C" }, s.memoryTempC, t.gpuMemoryTempDegradedC, t.gpuMemoryTempCriticalC, `${who} memory temperature`);
  if (s.memoryTotalMiB !== null && s.memoryUsedMiB !== null && s.memoryTotalMiB > 0) {
    const pct = Math.round((s.memoryUsedMiB / s.memoryTotalMiB) * 1000) / 10;
    rising(out, { ...g, code: "gpu.memory-used", unit: "%" }, pct, t.gpuMemoryDegradedPct, Infinity, `${who} memory in use`);
  }
  rising(out, { ...g, code: "gpu.ecc-uncorrected", unit: "errors" }, s.ecc.uncorrectedVolatile, t.eccUncorrectedVolatileCritical, t.eccUncorrectedVolatileCritical, `${who} uncorrectable ECC errors since driver load`);
  rising(out, { ...g, code: "gpu.ecc-corrected", unit: "errors" }, s.ecc.correctedVolatile, t.eccCorrectedVolatileDegraded, Infinity, `${who} corrected ECC errors since driver load`);
  const c = s.clockEvents;
  const slowed = [
    c.hwThermalSlowdown && "HW thermal slowdown",
    c.hwPowerBrakeSlowdown && "HW power brake",
    c.hwSlowdown && "HW slowdown",
    c.swThermalSlowdown && "SW thermal slowdown",
  ].filter((x): x is string => typeof x === "string");
  if (slowed.length > 0) out.push({ ...g, code: "gpu.clocks-slowed", severity: "degraded", message: `${who} clocks are held down: ${slowed.join(", ")}` });
}

function systemReasons(r: SystemReading, t: HealthThresholds, watchPaths: readonly string[], out: HealthReason[]): void {
  const s = { source: "system" as const };
  for (const e of r.errors) {
    out.push({ ...s, code: `system.${e.part}-unreadable`, severity: "degraded", message: `the ${e.part} reading failed: ${e.message}` });
  }
  if (r.memory) {
    const avail = r.memory.availableBytes;
    const severity: Severity | undefined = avail < t.memoryAvailableCriticalBytes ? "critical" : avail < t.memoryAvailableDegradedBytes ? "degraded" : undefined;
    if (severity) {
      const limit = severity === "critical" ? t.memoryAvailableCriticalBytes : t.memoryAvailableDegradedBytes;
      out.push({ ...s, code: "system.memory-available", severity, value: avail, limit, unit: "bytes", message: `${mib(avail)} MiB of memory available (${severity} below ${mib(limit)} MiB)` });
    }
  }
  if (r.disks) {
    const seen = new Set<string>();
    for (const path of watchPaths) {
      const disk = mountOf(path, r.disks);
      if (!disk) {
        out.push({ ...s, code: "system.disk-unknown", severity: "degraded", message: `no file system found for ${path}` });
        continue;
      }
      if (seen.has(disk.mount)) continue;
      seen.add(disk.mount);
      const free = disk.availableBytes;
      const severity: Severity | undefined = free < t.diskFreeCriticalBytes ? "critical" : free < t.diskFreeDegradedBytes ? "degraded" : undefined;
      if (severity) {
        const limit = severity === "critical" ? t.diskFreeCriticalBytes : t.diskFreeDegradedBytes;
        out.push({ ...s, code: "system.disk-free", severity, value: free, limit, unit: "bytes", message: `${mib(free)} MiB free on ${disk.mount} (holding ${path}; ${severity} below ${mib(limit)} MiB)` });
      }
    }
  }
  rising(out, { ...s, code: "system.cpu-temperature", unit: "°C" }, r.cpuTempC, t.cpuTempDegradedC, t.cpuTempCriticalC, "CPU temperature");
  if (t.cpuLoadDegradedPct !== null) {
    rising(out, { ...s, code: "system.cpu-load", unit: "%" }, r.cpuLoadPct === null ? null : Math.round(r.cpuLoadPct), t.cpuLoadDegradedPct, Infinity, "CPU load");
  }
}

/** The disk whose mount point is the longest prefix of path (path must be absolute and real). */
export function mountOf<D extends { mount: string }>(path: string, disks: readonly D[]): D | undefined {
  let best: D | undefined;
  for (const d of disks) {
    const m = d.mount.endsWith("/") ? d.mount : `${d.mount}/`;
    if ((path === d.mount || `${path}/`.startsWith(m)) && (!best || d.mount.length > best.mount.length)) best = d;
  }
  return best;
}

export function evaluateHealth(input: HealthInput, t: HealthThresholds): HealthEvaluation {
  const reasons: HealthReason[] = [];
  const { gpu } = input;
  if (gpu) {
    for (const f of gpu.faults) {
      const base = { source: "gpu" as const, code: `gpu.fault.${f.kind}`, message: f.message, ...(f.gpuIndex !== undefined ? { gpuIndex: f.gpuIndex } : {}) };
      if (f.kind === "timeout") {
        const severity: Severity = input.consecutiveGpuTimeouts >= t.gpuTimeoutsCritical ? "critical" : "degraded";
        reasons.push({ ...base, severity, value: input.consecutiveGpuTimeouts, limit: t.gpuTimeoutsCritical, unit: "timeouts", message: `${f.message} (${input.consecutiveGpuTimeouts} in a row; critical at ${t.gpuTimeoutsCritical})` });
      } else if (f.kind === "not-installed" && !input.gpuRequired) {
        continue;
      } else {
        reasons.push({ ...base, severity: CRITICAL_FAULTS.has(f.kind) ? "critical" : "degraded" });
      }
    }
    for (const s of gpu.gpus) gpuReasons(s, t, reasons);
    if (input.gpuRequired && gpu.gpus.length === 0 && gpu.faults.length === 0) {
      reasons.push({ source: "gpu", code: "gpu.missing", severity: "critical", message: "no GPU was reported" });
    }
  } else if (input.gpuRequired) {
    reasons.push({ source: "gpu", code: "gpu.missing", severity: "critical", message: "the box needs a GPU but has no GPU probe" });
  }
  if (!input.gpuRequired) {
    // A GPU the box does not compute on cannot stop it answering: its troubles are worth a look, no more.
    for (const r of reasons) if (r.source === "gpu" && r.severity === "critical") r.severity = "degraded";
  }
  if (input.system) systemReasons(input.system, t, input.watchPaths, reasons);
  let state: HealthState = "ok";
  for (const r of reasons) state = worse(state, r.severity);
  return { state, reasons };
}
