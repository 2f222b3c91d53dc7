// The CUDA kernel self-test: before the daemon trusts llama.cpp's CUDA build,
// a child process runs real kernels on the GPU (cuda-probe-child.ts).
//
// Why a child: node-llama-cpp's CUDA build can load, name the GPU and report
// its memory, and still abort the whole process (SIGABRT, from ggml_abort) at
// the first decode — on an H200 with driver R580 the driver refuses the
// prebuilt's PTX (test/fixtures/cuda-probe/prebuilt-r580-h200.stderr.txt). An
// abort cannot be caught in-process; in a child it is an exit status and text.
//
// The child runs in its own process group, so a timeout kills it and anything
// it started (getLlama() itself starts a test-load child). Output is kept only
// as a bounded tail. Nothing here blocks the event loop.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { explainCudaProbeFailure, quoteLine } from "./cuda-probe-failure.js";
import type { InferenceMode } from "./llama-options.js";
import { signalProcessGroup } from "../../hal/system/process-group.js";

/** The child program (compiled next to this file). */
export const CUDA_PROBE_CHILD = fileURLToPath(new URL("./cuda-probe-child.js", import.meta.url));
/** Generous: the first CUDA load after a driver or backend change can JIT-compile PTX. */
export const DEFAULT_CUDA_PROBE_TIMEOUT_MS = 180_000;
/** How much of the child's stdout and stderr is kept (the end of each). */
export const PROBE_TAIL_BYTES = 16 * 1024;

export interface CudaProbeOptions {
  /** How long the child may run before its process group is killed, in ms. Defaults to 180 000. */
  timeoutMs?: number;
  /** Between SIGTERM and SIGKILL to the group at the timeout, in ms. Defaults to 2 000. */
  killGraceMs?: number;
  /** The mode the real child runs in. Defaults to "cuda"; "cpu" proves the child works on a machine without a GPU. */
  mode?: InferenceMode;
  /** Test seam: arguments for process.execPath (a script first) run instead of the real child. */
  command?: readonly string[];
  logger?: Logger;
}

export interface ProbeResult {
  /** The device the child ran on, as it named it. */
  device: string;
  /** Tokens it generated. */
  tokens: number;
  /** The child's own time from start to its answer, in ms. */
  ms: number;
  /** Wall time seen here, spawn to exit, in ms. */
  wallMs: number;
}

/** The last `limit` bytes of a stream, kept in chunks and compacted when twice over. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > 2 * this.limit) this.compact();
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    const kept = all.subarray(Math.max(0, all.length - this.limit));
    this.chunks = [Buffer.from(kept)];
    this.size = kept.length;
  }

  bytes(): Buffer {
    this.compact();
    return this.chunks[0] ?? Buffer.alloc(0);
  }
}

/** The child's answer: its last stdout line `{"ok":true,"device":…,"tokens":N,"ms":…}` with N ≥ 1. */
export function parseProbeAnswer(stdout: string): Omit<ProbeResult, "wallMs"> | undefined {
  const lines = stdout.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith("{")) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      continue;
    }
    if (!v || typeof v !== "object") continue;
    const { ok, device, tokens, ms } = v as Record<string, unknown>;
    if (ok !== true) return undefined;
    if (typeof device !== "string" || !Number.isInteger(tokens) || (tokens as number) < 1 || typeof ms !== "number" || !Number.isFinite(ms)) return undefined;
    return { device: quoteLine(device), tokens: tokens as number, ms };
  }
  return undefined;
}

/** Signals the child's whole process group; a group already gone is fine. */
function killGroup(pid: number, signal: NodeJS.Signals, logger: Logger | undefined): void {
  try {
    signalProcessGroup(pid, signal);
  } catch (e) {
    logger?.warn("could not signal the CUDA self-test's process group", { pid, signal, error: e as Error });
  }
}

/**
 * Runs the kernel self-test in a child process and resolves with its answer;
 * rejects with GPU_UNAVAILABLE (details.probe: exitCode, signal, timedOut,
 * stderrTail) when it fails, aborts, prints no answer or runs past timeoutMs.
 */
export function probeCudaKernels(options: CudaProbeOptions = {}): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CUDA_PROBE_TIMEOUT_MS;
  const killGraceMs = options.killGraceMs ?? 2_000;
  const mode = options.mode ?? "cuda";
  const log = options.logger;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return Promise.reject(new SealboxError("BAD_CONFIG", `the CUDA self-test's timeout must be a positive number of ms, got ${timeoutMs}`));
  // --parent-pipe: the child exits when its stdin closes, so it never outlives a daemon that was killed.
  const args = options.command ? [...options.command] : [CUDA_PROBE_CHILD, "--mode", mode, "--parent-pipe"];
  const what = mode === "cuda" ? "CUDA inference is configured, but llama.cpp's CUDA kernels failed their self-test" : "llama.cpp's kernel self-test (CPU) failed";
  const started = performance.now();
  log?.info("kernel self-test: a tiny model on the device, in a child process", { mode, timeoutMs });

  return new Promise<ProbeResult>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, { detached: true, stdio: ["pipe", "pipe", "pipe"] });
    } catch (e) {
      reject(new SealboxError("GPU_UNAVAILABLE", `${what}: it could not be started: ${(e as Error).message}`, { cause: e }));
      return;
    }
    const out = new TailBuffer(PROBE_TAIL_BYTES);
    const err = new TailBuffer(PROBE_TAIL_BYTES);
    child.stdout!.on("data", (c: Buffer) => out.push(c));
    child.stderr!.on("data", (c: Buffer) => err.push(c));
    // The child may exit without reading its stdin: a write error there (EPIPE) is expected.
    child.stdin!.on("error", () => undefined);

    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    let graceTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      if (exit || child.pid === undefined) return;
      timedOut = true;
      log?.warn("kernel self-test: time is up, killing its process group", { pid: child.pid, timeoutMs });
      killGroup(child.pid, "SIGTERM", log);
      const pid = child.pid;
      graceTimer = setTimeout(() => killGroup(pid, "SIGKILL", log), killGraceMs);
    }, timeoutMs);

    const finish = (spawnError?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      clearTimeout(drainTimer);
      child.stdin!.destroy();
      child.stdout!.destroy();
      child.stderr!.destroy();
      const wallMs = performance.now() - started;
      if (spawnError) {
        reject(new SealboxError("GPU_UNAVAILABLE", `${what}: it could not be started: ${spawnError.message}`, { cause: spawnError }));
        return;
      }
      const stdout = out.bytes();
      const stderr = err.bytes();
      const exitCode = exit?.code ?? null;
      const signal = exit?.signal ?? null;
      if (!timedOut && exitCode === 0 && signal === null) {
        const answer = parseProbeAnswer(stdout.toString("utf8"));
        if (answer) {
          log?.info("kernel self-test passed", { mode, device: answer.device, tokens: answer.tokens, ms: Math.round(answer.ms), wallMs: Math.round(wallMs) });
          resolve({ ...answer, wallMs });
          return;
        }
      }
      const why = explainCudaProbeFailure({ exitCode, signal, timedOut, timeoutMs, stdout, stderr });
      const stderrTail = new TextDecoder("utf-8", { fatal: false }).decode(stderr);
      // The raw evidence, in one journal line (the fields are JSON-escaped); the error says what it means.
      log?.error("kernel self-test failed", { mode, exitCode: exitCode ?? undefined, signal: signal ?? undefined, timedOut, wallMs: Math.round(wallMs), stderrTail: stderrTail.slice(-4096) });
      reject(new SealboxError("GPU_UNAVAILABLE", `${what}: ${why}`, { details: { probe: { exitCode, signal, timedOut, stderrTail } } }));
    };

    child.on("error", (e) => {
      // Emitted when the spawn itself failed (then no exit follows), or when a kill failed (ignored: exit follows).
      if (child.pid === undefined) finish(e);
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      // Anything the child left behind in its group goes with it.
      if (child.pid !== undefined) killGroup(child.pid, "SIGKILL", log);
      // Its output is read to the end ("close"), but a descendant outside the group could hold the pipes open: bounded.
      drainTimer = setTimeout(() => finish(), 2_000);
    });
    child.on("close", () => finish());
  });
}
