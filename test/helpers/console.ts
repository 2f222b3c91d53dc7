// Helpers for console tests: a box in its own process (the test box, or the
// real daemon), and running `bin/sealbox` as a person would, as a child
// process with its exit code, stdout and stderr.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (dist/test/helpers → ../../..). */
export const REPO = resolve(here, "..", "..", "..");
export const SEALBOX = join(REPO, "bin", "sealbox");

export interface BoxProcess {
  dir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts test/helpers/http-box-main in a fresh temp dir; resolves once its sockets answer. */
export async function startBoxProcess(tokenDelayMs = 0): Promise<BoxProcess> {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-console-"));
  const child = spawn(process.execPath, [join(here, "http-box-main.js"), dir, String(tokenDelayMs)], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("test box did not start")), 20_000);
    child.stdout!.once("data", () => {
      clearTimeout(timer);
      ok();
    });
    child.once("exit", (code) => fail(new Error(`test box exited with ${code}`)));
  });
  return {
    dir,
    child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string>;
  /** Run as this uid/gid (setpriv), e.g. nobody to test socket permissions. */
  asUid?: number;
  asGid?: number;
  timeoutMs?: number;
  /** Called with each stdout chunk while it runs. */
  onStdout?: (chunk: string, child: ChildProcess) => void;
}

export function runSealbox(args: string[], options: RunOptions = {}): Promise<Run> {
  const argv = options.asUid !== undefined ? ["setpriv", `--reuid=${options.asUid}`, `--regid=${options.asGid ?? options.asUid}`, "--clear-groups", SEALBOX, ...args] : [SEALBOX, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, NO_COLOR: "1", ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stdout!.on("data", (c: string) => {
    stdout += c;
    options.onStdout?.(c, child);
  });
  child.stderr!.on("data", (c: string) => (stderr += c));
  child.stdin!.end(options.input ?? "");
  return new Promise((ok) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      ok({ code, signal, stdout, stderr });
    });
  });
}
