// Runs a short-lived tool (nvidia-smi) asynchronously with a hard time and
// output limit. The child leads its own process group so that, when it hangs
// in the driver or floods its output, the whole group (it and anything it
// started) is killed with SIGKILL; the event loop never waits on it.

import { spawn } from "node:child_process";
import { signalProcessGroup } from "../system/process-group.js";

export interface BoundedRunOptions {
  /** Kill the process group after this long. */
  timeoutMs: number;
  /** Kill the process group once stdout + stderr exceed this. */
  maxOutputBytes: number;
  env?: NodeJS.ProcessEnv;
}

export interface BoundedRunResult {
  stdout: string;
  stderr: string;
  /** null when killed by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  outputTooLarge: boolean;
  /** Set when the process could not start (ENOENT: no such program). */
  spawnError?: NodeJS.ErrnoException;
  durationMs: number;
  pid: number | undefined;
}

/** A set of running children, so an owner's close() can kill what is still running. */
export class ProcessGroupSet {
  private readonly pids = new Set<number>();
  add(pid: number): void {
    this.pids.add(pid);
  }
  delete(pid: number): void {
    this.pids.delete(pid);
  }
  get size(): number {
    return this.pids.size;
  }
  killAll(): void {
    for (const pid of this.pids) killGroup(pid);
  }
}

function killGroup(pid: number): void {
  signalProcessGroup(pid, "SIGKILL");
}

export function runBounded(command: string, args: readonly string[], options: BoundedRunOptions, running?: ProcessGroupSet): Promise<BoundedRunResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, env: options.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outputBytes = 0;
    let timedOut = false;
    let outputTooLarge = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const pid = child.pid;
    if (pid !== undefined) running?.add(pid);

    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid);
    }, options.timeoutMs);

    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      if (outputTooLarge) return;
      outputBytes += chunk.length;
      if (outputBytes > options.maxOutputBytes) {
        outputTooLarge = true;
        if (pid !== undefined) killGroup(pid);
        return;
      }
      into.push(chunk);
    };
    child.stdout.on("data", collect(out));
    child.stderr.on("data", collect(err));

    child.on("error", (e: NodeJS.ErrnoException) => {
      spawnError = e;
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      // Anything the tool left running in its group would hold the pipes open.
      if (pid !== undefined) killGroup(pid);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) running?.delete(pid);
      resolve({
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        exitCode: exit?.code ?? code ?? null,
        signal: exit?.signal ?? signal ?? null,
        timedOut,
        outputTooLarge,
        ...(spawnError ? { spawnError } : {}),
        durationMs: performance.now() - started,
        pid,
      });
    });
  });
}
