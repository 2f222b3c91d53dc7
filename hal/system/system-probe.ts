// The host probe over systeminformation. Each part (CPU, memory, disks,
// temperature) is read concurrently and bounded by its own timeout: a part
// that does not answer in time is reported as an error, and the part is not
// asked again until its earlier call has finished, so a stuck `df` cannot pile
// up callers. (systeminformation's calls cannot be cancelled; they run their
// tools with async exec, so a slow one costs a child process, not the event loop.)

import si from "systeminformation";
import type { DiskReading, SystemPart, SystemProbe, SystemReading, SystemReadError } from "./types.js";

/** The subset of systeminformation the probe reads; tests pass a plain object. */
export interface SystemSource {
  currentLoad(): Promise<{ currentLoad: number }>;
  mem(): Promise<{ total: number; available: number }>;
  fsSize(): Promise<{ fs: string; size: number; available: number; use: number; mount: string }[]>;
  cpuTemperature(): Promise<{ main: number | null; max: number | null }>;
}

export const systeminformationSource: SystemSource = {
  currentLoad: () => si.currentLoad(),
  mem: () => si.mem(),
  fsSize: () => si.fsSize(),
  cpuTemperature: () => si.cpuTemperature(),
};

export interface SystemProbeOptions {
  /** Each part's time limit. Defaults to 3000 ms. */
  timeoutMs?: number;
  /** Defaults to systeminformation. */
  source?: SystemSource;
}

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Pure: systeminformation's disk list to ours, dropping entries with nonsense figures. */
export function toDiskReadings(list: unknown): DiskReading[] {
  if (!Array.isArray(list)) throw new Error("fsSize did not return a list");
  const disks: DiskReading[] = [];
  for (const d of list as Record<string, unknown>[]) {
    if (typeof d?.mount !== "string" || !finite(d.size) || !finite(d.available) || d.size <= 0 || d.available < 0) continue;
    disks.push({
      mount: d.mount,
      fs: typeof d.fs === "string" ? d.fs : "?",
      sizeBytes: d.size,
      availableBytes: d.available,
      usedPct: finite(d.use) ? d.use : Math.round((1 - d.available / d.size) * 10000) / 100,
    });
  }
  return disks;
}

/** Pure: a temperature figure, or null for the "no sensor" values systeminformation gives (null, -1). */
export function toTempC(t: { main: number | null; max: number | null } | null | undefined): number | null {
  const v = t?.main;
  return finite(v) && v > -50 && v < 200 ? v : null;
}

class TimeoutError extends Error {}

export class SystemInfoProbe implements SystemProbe {
  private readonly timeoutMs: number;
  private readonly source: SystemSource;
  private readonly pending = new Map<SystemPart, Promise<unknown>>();
  private closed = false;

  constructor(options: SystemProbeOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.source = options.source ?? systeminformationSource;
  }

  private bounded<T>(part: SystemPart, call: () => Promise<T>): Promise<T> {
    if (this.pending.has(part)) return Promise.reject(new TimeoutError(`the previous ${part} reading has not finished yet`));
    const p = Promise.resolve().then(call);
    this.pending.set(part, p);
    const settled = () => this.pending.delete(part);
    p.then(settled, settled);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${part} did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  async read(): Promise<SystemReading> {
    const at = new Date().toISOString();
    const started = performance.now();
    const errors: SystemReadError[] = [];
    const attempt = async <T>(part: SystemPart, call: () => Promise<T>): Promise<T | null> => {
      if (this.closed) {
        errors.push({ part, message: "the system probe is closed", timedOut: false });
        return null;
      }
      try {
        return await this.bounded(part, call);
      } catch (e) {
        errors.push({ part, message: e instanceof Error ? e.message : String(e), timedOut: e instanceof TimeoutError });
        return null;
      }
    };
    const [load, mem, disks, temp] = await Promise.all([
      attempt("cpu", () => this.source.currentLoad()),
      attempt("memory", () => this.source.mem()),
      attempt("disks", async () => toDiskReadings(await this.source.fsSize())),
      attempt("temperature", () => this.source.cpuTemperature()),
    ]);
    return {
      at,
      durationMs: performance.now() - started,
      cpuLoadPct: finite(load?.currentLoad) ? load.currentLoad : null,
      memory: mem && finite(mem.total) && finite(mem.available) ? { totalBytes: mem.total, availableBytes: mem.available } : null,
      disks,
      cpuTempC: toTempC(temp),
      errors,
    };
  }

  /** Stops reading; calls in flight finish on their own (they cannot be cancelled). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
