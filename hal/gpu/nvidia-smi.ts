// The GPU probe over nvidia-smi. Each read() runs one query through the
// bounded runner (never spawnSync: systeminformation's synchronous call froze
// the event loop for as long as nvidia-smi hung) and parses it with the pure
// CSV parser. Drivers before R535 refuse the clocks_event_reasons.* names;
// the probe then switches to clocks_throttle_reasons.* once and keeps to it.

import { classifyNvidiaSmiFailure, firstLine, parseQueryGpuCsv, queryGpuFields, refusedField, type ReasonFamily } from "./nvidia-smi-csv.js";
import { ProcessGroupSet, runBounded, type BoundedRunResult } from "./bounded-process.js";
import type { GpuFault, GpuProbe, GpuReading } from "./types.js";

export interface NvidiaSmiOptions {
  /** The program to run. Defaults to "nvidia-smi" looked up on PATH. */
  binary?: string;
  /** A query that takes longer is killed with its process group. Defaults to 5000 ms (a query took 33–37 ms on an H200). */
  timeoutMs?: number;
  /** Output beyond this is a fault and the process is killed. Defaults to 1 MiB. */
  maxOutputBytes?: number;
  /** Environment for the child. Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export class NvidiaSmiProbe implements GpuProbe {
  private readonly binary: string;
  private readonly timeoutMs: number;
  private readonly maxOutputBytes: number;
  private readonly env: NodeJS.ProcessEnv | undefined;
  private readonly running = new ProcessGroupSet();
  private family: ReasonFamily = "clocks_event_reasons";
  private closed = false;

  /** Touches nothing: nvidia-smi first runs at the first read(). */
  constructor(options: NvidiaSmiOptions = {}) {
    this.binary = options.binary ?? "nvidia-smi";
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxOutputBytes = options.maxOutputBytes ?? 1024 * 1024;
    this.env = options.env;
  }

  /** The reason-field names in use ("clocks_throttle_reasons" after an old driver refused the new ones). */
  get reasonFamily(): ReasonFamily {
    return this.family;
  }

  /** Processes still running (for tests and shutdown). */
  get inFlight(): number {
    return this.running.size;
  }

  async read(): Promise<GpuReading> {
    const at = new Date().toISOString();
    const started = performance.now();
    let fields = queryGpuFields(this.family);
    let result = await this.query(fields);
    const refused = result.exitCode === 2 ? refusedField(result.stdout + result.stderr) : undefined;
    if (refused?.startsWith("clocks_event_reasons.") && this.family === "clocks_event_reasons") {
      this.family = "clocks_throttle_reasons";
      fields = queryGpuFields(this.family);
      result = await this.query(fields);
    }
    const durationMs = performance.now() - started;
    const fault = this.faultOf(result);
    if (fault) return { at, durationMs, gpus: [], faults: [fault] };
    return { at, durationMs, ...parseQueryGpuCsv(result.stdout, fields) };
  }

  private query(fields: readonly string[]): Promise<BoundedRunResult> {
    if (this.closed) {
      return Promise.resolve({ stdout: "", stderr: "", exitCode: null, signal: null, timedOut: false, outputTooLarge: false, durationMs: 0, pid: undefined, spawnError: Object.assign(new Error("the GPU probe is closed"), { code: "ECLOSED" }) });
    }
    const args = [`--query-gpu=${fields.join(",")}`, "--format=csv,noheader,nounits"];
    return runBounded(this.binary, args, { timeoutMs: this.timeoutMs, maxOutputBytes: this.maxOutputBytes, ...(this.env ? { env: this.env } : {}) }, this.running);
  }

  private faultOf(r: BoundedRunResult): GpuFault | undefined {
    if (r.spawnError) {
      if (r.spawnError.code === "ENOENT") return { kind: "not-installed", message: `${this.binary} was not found on PATH`, exitCode: null };
      return { kind: "failed", message: `${this.binary} could not run: ${r.spawnError.message}`, exitCode: null };
    }
    if (r.timedOut) return { kind: "timeout", message: `${this.binary} did not answer within ${this.timeoutMs} ms and was killed`, exitCode: null };
    if (r.outputTooLarge) return { kind: "output-too-large", message: `${this.binary} printed more than ${this.maxOutputBytes} bytes and was killed`, exitCode: null };
    if (r.exitCode !== 0) {
      if (r.exitCode === null) return { kind: "failed", message: `${this.binary} was killed by ${r.signal ?? "a signal"}: ${firstLine(r.stdout + r.stderr)}`, exitCode: null };
      return classifyNvidiaSmiFailure(r);
    }
    return undefined;
  }

  /** Kills any query still running. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.running.killAll();
  }
}
