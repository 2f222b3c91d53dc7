// What the box knows about its GPUs at one moment. A reading always resolves:
// a driver that is gone or a GPU that fell off the bus is a typed fault in the
// reading, never an exception and never a row of missing numbers.

/** Why clocks are held below their maximum (NVML nvmlClocksEventReasons, nvidia-smi clocks_event_reasons.*). */
export interface ClockEventReasons {
  /** The reported bitmask, e.g. "0x0000000000000001"; null when not reported. */
  activeMask: string | null;
  gpuIdle: boolean | null;
  applicationsClocksSetting: boolean | null;
  swPowerCap: boolean | null;
  /** HW slowdown: clocks cut by half or more (thermal, power brake or an external signal). */
  hwSlowdown: boolean | null;
  hwThermalSlowdown: boolean | null;
  hwPowerBrakeSlowdown: boolean | null;
  swThermalSlowdown: boolean | null;
  syncBoost: boolean | null;
}

export interface EccCounts {
  correctedVolatile: number | null;
  uncorrectedVolatile: number | null;
  correctedAggregate: number | null;
  uncorrectedAggregate: number | null;
}

/** One GPU's figures. null means the driver reported none ("[N/A]", "[Not Supported]"). */
export interface GpuSample {
  index: number;
  uuid: string | null;
  name: string | null;
  busId: string | null;
  driverVersion: string | null;
  pstate: string | null;
  tempC: number | null;
  /** HBM temperature (temperature.memory). */
  memoryTempC: number | null;
  memoryTotalMiB: number | null;
  memoryUsedMiB: number | null;
  memoryFreeMiB: number | null;
  utilizationPct: number | null;
  memoryUtilizationPct: number | null;
  powerDrawW: number | null;
  powerLimitW: number | null;
  smClockMHz: number | null;
  memoryClockMHz: number | null;
  graphicsClockMHz: number | null;
  maxSmClockMHz: number | null;
  fanPct: number | null;
  eccEnabled: boolean | null;
  ecc: EccCounts;
  clockEvents: ClockEventReasons;
}

export type GpuFaultKind =
  /** nvidia-smi cannot reach the kernel driver (exit 9): the driver is not loaded or crashed. */
  | "driver-unreachable"
  /** The GPU fell off the bus (exit 15, "GPU is lost") or needs a reset. */
  | "gpu-lost"
  /** NVML would not start (driver/library version mismatch, permissions, …). */
  | "nvml-failed"
  /** nvidia-smi did not answer within the timeout and was killed with its process group. */
  | "timeout"
  /** No nvidia-smi on PATH. */
  | "not-installed"
  /** nvidia-smi answered, but with lines or fields that are not what was asked for. */
  | "malformed-output"
  /** nvidia-smi printed more than the output limit and was killed. */
  | "output-too-large"
  /** nvidia-smi answered with no GPU at all. */
  | "no-gpus"
  /** Any other non-zero exit. */
  | "failed";

export interface GpuFault {
  kind: GpuFaultKind;
  /** A sentence for a person, naming what was seen. */
  message: string;
  /** The GPU it concerns, when one is known. */
  gpuIndex?: number;
  exitCode?: number | null;
}

export interface GpuReading {
  /** UTC, RFC 3339, when the reading was taken. */
  at: string;
  durationMs: number;
  gpus: GpuSample[];
  faults: GpuFault[];
}

/** The GPU seam: one read, bounded in time; close() kills whatever is still running. */
export interface GpuProbe {
  read(): Promise<GpuReading>;
  close(): Promise<void>;
}
