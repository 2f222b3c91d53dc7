// The limits that turn readings into a health state. Every figure carries its
// unit in its name; the defaults are documented in docs/health.md (keep the
// two in step). Those the config file sets ([health] in sealbox.toml, see
// daemon/config.ts) come through thresholdsFromConfig.

import { SealboxError } from "../errors.js";
import type { HealthConfig } from "../config/types.js";

const MIB = 1024 * 1024;

export interface HealthThresholds {
  /** GPU core temperature (temperature.gpu). H100/H200 slow down from about 87 °C. */
  gpuTempDegradedC: number;
  gpuTempCriticalC: number;
  /** HBM temperature (temperature.memory); HBM3 is specified up to 95 °C. */
  gpuMemoryTempDegradedC: number;
  gpuMemoryTempCriticalC: number;
  /** GPU memory in use, percent of total. Degraded only: a loaded model fills memory on purpose. */
  gpuMemoryDegradedPct: number;
  /** Uncorrectable ECC errors since the driver loaded: any is critical by default (results may be wrong). */
  eccUncorrectedVolatileCritical: number;
  /** Corrected ECC errors since the driver loaded. */
  eccCorrectedVolatileDegraded: number;
  /** Consecutive nvidia-smi timeouts before the GPU counts as critical (fewer are degraded). */
  gpuTimeoutsCritical: number;
  /** Free space on the file system holding the state directory (the ledger). */
  diskFreeDegradedBytes: number;
  diskFreeCriticalBytes: number;
  /** Memory available to new work (MemAvailable). */
  memoryAvailableDegradedBytes: number;
  memoryAvailableCriticalBytes: number;
  /** CPU package temperature, where the machine has a sensor. */
  cpuTempDegradedC: number;
  cpuTempCriticalC: number;
  /** Whole-machine CPU load; null = not checked (CPU inference keeps every core busy on purpose). */
  cpuLoadDegradedPct: number | null;
}

export const DEFAULT_HEALTH_THRESHOLDS: Readonly<HealthThresholds> = Object.freeze({
  gpuTempDegradedC: 83,
  gpuTempCriticalC: 90,
  gpuMemoryTempDegradedC: 90,
  gpuMemoryTempCriticalC: 95,
  gpuMemoryDegradedPct: 95,
  eccUncorrectedVolatileCritical: 1,
  eccCorrectedVolatileDegraded: 100,
  gpuTimeoutsCritical: 3,
  diskFreeDegradedBytes: 2048 * MIB,
  diskFreeCriticalBytes: 256 * MIB,
  memoryAvailableDegradedBytes: 1024 * MIB,
  memoryAvailableCriticalBytes: 512 * MIB,
  cpuTempDegradedC: 90,
  cpuTempCriticalC: 100,
  cpuLoadDegradedPct: null,
});

/** Fills defaults and checks that each pair is ordered; throws BAD_CONFIG naming every problem. */
export function resolveThresholds(partial: Partial<HealthThresholds> = {}): HealthThresholds {
  const t: HealthThresholds = { ...DEFAULT_HEALTH_THRESHOLDS };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (t as unknown as Record<string, unknown>)[k] = v;
  const problems: string[] = [];
  for (const [k, v] of Object.entries(t)) {
    if (v === null && k === "cpuLoadDegradedPct") continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) problems.push(`${k} must be a number ≥ 0, got ${JSON.stringify(v)}`);
  }
  const ordered = (lower: keyof HealthThresholds, upper: keyof HealthThresholds, why: string) => {
    const a = t[lower] as number;
    const b = t[upper] as number;
    if (typeof a === "number" && typeof b === "number" && a > b) problems.push(`${lower} (${a}) must be ≤ ${upper} (${b}): ${why}`);
  };
  ordered("gpuTempDegradedC", "gpuTempCriticalC", "degraded comes before critical");
  ordered("gpuMemoryTempDegradedC", "gpuMemoryTempCriticalC", "degraded comes before critical");
  ordered("cpuTempDegradedC", "cpuTempCriticalC", "degraded comes before critical");
  ordered("diskFreeCriticalBytes", "diskFreeDegradedBytes", "less free space is worse");
  ordered("memoryAvailableCriticalBytes", "memoryAvailableDegradedBytes", "less available memory is worse");
  if (t.gpuMemoryDegradedPct > 100) problems.push(`gpuMemoryDegradedPct must be ≤ 100, got ${t.gpuMemoryDegradedPct}`);
  if (!Number.isInteger(t.gpuTimeoutsCritical) || t.gpuTimeoutsCritical < 1) problems.push(`gpuTimeoutsCritical must be a whole number ≥ 1, got ${t.gpuTimeoutsCritical}`);
  if (problems.length > 0) throw new SealboxError("BAD_CONFIG", `health thresholds: ${problems.join("; ")}`, { details: { problems } });
  return t;
}

/** The [health] section of the config file, as thresholds (keys it does not set keep their defaults). */
export function thresholdsFromConfig(health: HealthConfig, extra: Partial<HealthThresholds> = {}): HealthThresholds {
  const memoryAvailableDegradedBytes = Math.max(DEFAULT_HEALTH_THRESHOLDS.memoryAvailableDegradedBytes, health.memoryAvailableCriticalBytes);
  return resolveThresholds({
    gpuTempDegradedC: health.gpuTempDegradedC,
    gpuTempCriticalC: health.gpuTempCriticalC,
    gpuMemoryDegradedPct: health.gpuMemoryDegradedPct,
    diskFreeDegradedBytes: health.diskFreeDegradedBytes,
    diskFreeCriticalBytes: health.diskFreeCriticalBytes,
    memoryAvailableCriticalBytes: health.memoryAvailableCriticalBytes,
    memoryAvailableDegradedBytes,
    ...extra,
  });
}
