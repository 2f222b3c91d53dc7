// Pure parsing of nvidia-smi's answers: text in, values out, no process or
// device. The query is `nvidia-smi --query-gpu=F1,F2,… --format=csv,noheader,nounits`,
// which prints one line per GPU, fields in the order asked, separated by ", ".
// Absent figures come as "[N/A]" or "[Not Supported]"; a GPU that fell off the
// bus can answer "[GPU is lost]" in place of a figure. Field names and the
// reason bitmask are those of `nvidia-smi --help-query-gpu` (driver 580, see
// test/fixtures/nvidia-smi/reference/) and NVML's nvmlClocksEventReasons.

import type { ClockEventReasons, GpuFault, GpuSample } from "./types.js";

/** R535 renamed clocks_throttle_reasons.* to clocks_event_reasons.*; older drivers know only the first. */
export type ReasonFamily = "clocks_event_reasons" | "clocks_throttle_reasons";

const REASONS = [
  "active",
  "gpu_idle",
  "applications_clocks_setting",
  "sw_power_cap",
  "hw_slowdown",
  "hw_thermal_slowdown",
  "hw_power_brake_slowdown",
  "sw_thermal_slowdown",
  "sync_boost",
] as const;

const BASE_FIELDS = [
  "index",
  "uuid",
  "name",
  "pci.bus_id",
  "driver_version",
  "pstate",
  "temperature.gpu",
  "temperature.memory",
  "memory.total",
  "memory.used",
  "memory.free",
  "utilization.gpu",
  "utilization.memory",
  "power.draw",
  "power.limit",
  "clocks.sm",
  "clocks.mem",
  "clocks.gr",
  "clocks.max.sm",
  "fan.speed",
  "ecc.mode.current",
  "ecc.errors.corrected.volatile.total",
  "ecc.errors.uncorrected.volatile.total",
  "ecc.errors.corrected.aggregate.total",
  "ecc.errors.uncorrected.aggregate.total",
] as const;

/** The fields the runner asks for, in order. */
export function queryGpuFields(family: ReasonFamily): string[] {
  return [...BASE_FIELDS, ...REASONS.map((r) => `${family}.${r}`)];
}

/** NVML clocks event reason bits (nvml.h, nvmlClocksEventReason*). */
const REASON_BITS: Record<Exclude<keyof ClockEventReasons, "activeMask">, bigint> = {
  gpuIdle: 0x1n,
  applicationsClocksSetting: 0x2n,
  swPowerCap: 0x4n,
  hwSlowdown: 0x8n,
  syncBoost: 0x10n,
  swThermalSlowdown: 0x20n,
  hwThermalSlowdown: 0x40n,
  hwPowerBrakeSlowdown: 0x80n,
};

const REASON_KEYS: Record<string, Exclude<keyof ClockEventReasons, "activeMask">> = {
  gpu_idle: "gpuIdle",
  applications_clocks_setting: "applicationsClocksSetting",
  sw_power_cap: "swPowerCap",
  hw_slowdown: "hwSlowdown",
  hw_thermal_slowdown: "hwThermalSlowdown",
  hw_power_brake_slowdown: "hwPowerBrakeSlowdown",
  sw_thermal_slowdown: "swThermalSlowdown",
  sync_boost: "syncBoost",
};

/** Limits that keep a hostile or broken nvidia-smi from costing memory or time. */
export const CSV_LIMITS = { maxGpus: 64, maxLineChars: 8192, maxStringChars: 256 } as const;

const NUMBER = /^-?\d{1,15}(\.\d{1,9})?$/;
const MASK = /^0x[0-9a-fA-F]{1,16}$/;
// Printable ASCII only: these strings end up on terminals and in audit records.
const PRINTABLE = /^[\x20-\x7e]*$/;

export interface ParsedQuery {
  gpus: GpuSample[];
  faults: GpuFault[];
}

/** Shows a value in a message without letting it run long or carry control bytes. */
function show(value: string): string {
  const clipped = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return JSON.stringify(clipped);
}

type Token = { kind: "value"; text: string } | { kind: "absent" } | { kind: "lost"; text: string };

/** "[N/A]", "[Not Supported]", "[Unknown Error]" … are absent figures; "[GPU is lost]" and "[GPU requires reset]" are faults. */
function tokenOf(raw: string): Token {
  if (raw === "N/A") return { kind: "absent" };
  if (raw.startsWith("[") && raw.endsWith("]")) {
    return /GPU is lost|requires reset/i.test(raw) ? { kind: "lost", text: raw } : { kind: "absent" };
  }
  return { kind: "value", text: raw };
}

class LineReader {
  readonly problems: string[] = [];
  lost: string | undefined;
  constructor(private readonly values: Map<string, string>) {}

  private token(field: string): Token | undefined {
    const raw = this.values.get(field);
    if (raw === undefined) return undefined;
    const t = tokenOf(raw);
    if (t.kind === "lost") this.lost ??= `${field}: ${t.text}`;
    return t;
  }

  number(field: string): number | null {
    const t = this.token(field);
    if (t === undefined || t.kind !== "value") return null;
    if (!NUMBER.test(t.text)) {
      this.problems.push(`${field} is ${show(t.text)}, not a number`);
      return null;
    }
    return Number(t.text);
  }

  string(field: string): string | null {
    const t = this.token(field);
    if (t === undefined || t.kind !== "value" || t.text === "") return null;
    if (t.text.length > CSV_LIMITS.maxStringChars || !PRINTABLE.test(t.text)) {
      this.problems.push(`${field} is not a short printable string`);
      return null;
    }
    return t.text;
  }

  flag(field: string, yes: string, no: string): boolean | null {
    const t = this.token(field);
    if (t === undefined || t.kind !== "value") return null;
    if (t.text === yes) return true;
    if (t.text === no) return false;
    this.problems.push(`${field} is ${show(t.text)}, expected "${yes}" or "${no}"`);
    return null;
  }

  mask(field: string): string | null {
    const t = this.token(field);
    if (t === undefined || t.kind !== "value") return null;
    if (!MASK.test(t.text)) {
      this.problems.push(`${field} is ${show(t.text)}, not a hex bitmask`);
      return null;
    }
    return t.text.toLowerCase();
  }
}

function reasonsOf(r: LineReader, family: ReasonFamily | undefined): ClockEventReasons {
  const out: ClockEventReasons = {
    activeMask: null,
    gpuIdle: null,
    applicationsClocksSetting: null,
    swPowerCap: null,
    hwSlowdown: null,
    hwThermalSlowdown: null,
    hwPowerBrakeSlowdown: null,
    swThermalSlowdown: null,
    syncBoost: null,
  };
  if (family === undefined) return out;
  out.activeMask = r.mask(`${family}.active`);
  for (const [name, key] of Object.entries(REASON_KEYS)) out[key] = r.flag(`${family}.${name}`, "Active", "Not Active");
  // A reason not asked for one by one is read from the mask.
  if (out.activeMask !== null) {
    const mask = BigInt(out.activeMask);
    for (const [key, bit] of Object.entries(REASON_BITS) as [keyof typeof REASON_BITS, bigint][]) {
      out[key] ??= (mask & bit) !== 0n;
    }
  }
  return out;
}

function familyOf(fields: readonly string[]): ReasonFamily | undefined {
  if (fields.some((f) => f.startsWith("clocks_event_reasons."))) return "clocks_event_reasons";
  if (fields.some((f) => f.startsWith("clocks_throttle_reasons."))) return "clocks_throttle_reasons";
  return undefined;
}

function sampleOf(r: LineReader, index: number, family: ReasonFamily | undefined): GpuSample {
  const eccMode = r.flag("ecc.mode.current", "Enabled", "Disabled");
  return {
    index,
    uuid: r.string("uuid"),
    name: r.string("name"),
    busId: r.string("pci.bus_id"),
    driverVersion: r.string("driver_version"),
    pstate: r.string("pstate"),
    tempC: r.number("temperature.gpu"),
    memoryTempC: r.number("temperature.memory"),
    memoryTotalMiB: r.number("memory.total"),
    memoryUsedMiB: r.number("memory.used"),
    memoryFreeMiB: r.number("memory.free"),
    utilizationPct: r.number("utilization.gpu"),
    memoryUtilizationPct: r.number("utilization.memory"),
    powerDrawW: r.number("power.draw"),
    powerLimitW: r.number("power.limit"),
    smClockMHz: r.number("clocks.sm"),
    memoryClockMHz: r.number("clocks.mem"),
    graphicsClockMHz: r.number("clocks.gr"),
    maxSmClockMHz: r.number("clocks.max.sm"),
    fanPct: r.number("fan.speed"),
    eccEnabled: eccMode,
    ecc: {
      correctedVolatile: r.number("ecc.errors.corrected.volatile.total"),
      uncorrectedVolatile: r.number("ecc.errors.uncorrected.volatile.total"),
      correctedAggregate: r.number("ecc.errors.corrected.aggregate.total"),
      uncorrectedAggregate: r.number("ecc.errors.uncorrected.aggregate.total"),
    },
    clockEvents: reasonsOf(r, family),
  };
}

/**
 * Parses a `--format=csv,noheader,nounits` answer to a query of `fields`.
 * Never throws: lines that do not fit become "malformed-output" faults naming
 * the line and what was wrong; "[GPU is lost]" becomes a "gpu-lost" fault.
 */
export function parseQueryGpuCsv(text: string, fields: readonly string[]): ParsedQuery {
  const gpus: GpuSample[] = [];
  const faults: GpuFault[] = [];
  const family = familyOf(fields);
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  // nvidia-smi ends every line with a newline: a last line without one was cut short.
  const unterminated = lines.pop() ?? "";
  if (unterminated.trim() !== "") {
    faults.push({ kind: "malformed-output", message: `nvidia-smi's last line is not terminated (cut short?): ${show(unterminated.slice(-40))}` });
  }
  const seen = new Set<number>();
  let lineNo = 0;
  for (const line of lines) {
    lineNo++;
    if (line.trim() === "") continue;
    if (gpus.length >= CSV_LIMITS.maxGpus) {
      faults.push({ kind: "malformed-output", message: `nvidia-smi listed more than ${CSV_LIMITS.maxGpus} GPUs; the rest were ignored` });
      break;
    }
    if (line.length > CSV_LIMITS.maxLineChars) {
      faults.push({ kind: "malformed-output", message: `nvidia-smi line ${lineNo} is ${line.length} characters long (limit ${CSV_LIMITS.maxLineChars})` });
      continue;
    }
    const values = line.split(",").map((v) => v.trim());
    if (values.length !== fields.length) {
      faults.push({ kind: "malformed-output", message: `nvidia-smi line ${lineNo} has ${values.length} fields, expected ${fields.length}` });
      continue;
    }
    const reader = new LineReader(new Map(fields.map((f, i) => [f, values[i]!])));
    const rawIndex = values[fields.indexOf("index")] ?? "";
    const index = /^\d{1,3}$/.test(rawIndex) ? Number(rawIndex) : NaN;
    if (!Number.isInteger(index) || seen.has(index)) {
      faults.push({ kind: "malformed-output", message: `nvidia-smi line ${lineNo} has index ${show(rawIndex)}, not a new GPU index` });
      continue;
    }
    seen.add(index);
    const sample = sampleOf(reader, index, family);
    gpus.push(sample);
    if (reader.lost !== undefined) {
      faults.push({ kind: "gpu-lost", gpuIndex: index, message: `GPU ${index} is lost (${reader.lost}); reboot the box to recover it` });
    }
    if (reader.problems.length > 0) {
      faults.push({ kind: "malformed-output", gpuIndex: index, message: `nvidia-smi GPU ${index}: ${reader.problems.join("; ")}` });
    }
  }
  if (gpus.length === 0 && faults.length === 0) faults.push({ kind: "no-gpus", message: "nvidia-smi answered but listed no GPU" });
  return { gpus, faults };
}

/** The field a driver refused ("Field "x" is not a valid field to query."), if that is what it said. */
export function refusedField(output: string): string | undefined {
  return /Field "([^"\n]{1,200})" is not a valid field to query/.exec(output)?.[1];
}

/** First non-empty line of a process's output, short and printable, for a message. */
export function firstLine(output: string): string {
  const line = output.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";
  const clean = line.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}

/**
 * Types a failed nvidia-smi run by what it printed and its exit status
 * (nvidia-smi(1) RETURN VALUE: 9 = driver not loaded, 15 = GPU fell off the bus).
 * The text wins over the status: the same status has meant different things across drivers.
 */
export function classifyNvidiaSmiFailure(result: { stdout: string; stderr: string; exitCode: number | null }): GpuFault {
  const text = `${result.stdout}\n${result.stderr}`;
  const said = firstLine(result.stdout) || firstLine(result.stderr) || "(no output)";
  const exit = result.exitCode;
  const base = { exitCode: exit };
  if (/GPU is lost|requires reset/i.test(text) || (exit === 15 && !/NVML/.test(text))) {
    return { ...base, kind: "gpu-lost", message: `a GPU is lost (nvidia-smi exit ${exit}): ${said}` };
  }
  if (/couldn't communicate with the NVIDIA driver/i.test(text) || exit === 9) {
    return { ...base, kind: "driver-unreachable", message: `the NVIDIA driver cannot be reached (nvidia-smi exit ${exit}): ${said}` };
  }
  if (/Failed to initialize NVML/i.test(text)) {
    return { ...base, kind: "nvml-failed", message: `NVML failed to start (nvidia-smi exit ${exit}): ${said}` };
  }
  if (/No devices were found/i.test(text)) {
    return { ...base, kind: "no-gpus", message: `nvidia-smi found no GPU (exit ${exit}): ${said}` };
  }
  return { ...base, kind: "failed", message: `nvidia-smi failed (exit ${exit}): ${said}` };
}
