// The recorded nvidia-smi for tests: test/fixtures/nvidia-smi/bin/nvidia-smi
// replays a mode folder of test/fixtures/nvidia-smi/ (README.md there). These
// helpers build the environment that puts it first on PATH and picks a mode.

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The repository root (this file runs from dist/test/helpers/). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const NVIDIA_SMI_FIXTURES = join(REPO_ROOT, "test", "fixtures", "nvidia-smi");
export const FAKE_NVIDIA_SMI_BIN = join(NVIDIA_SMI_FIXTURES, "bin");

export interface FakeNvidiaSmiOptions {
  mode?: string;
  /** A file whose first line names the mode, read at every call. */
  modeFile?: string;
  /** Each call appends "pid<TAB>args"; a hang appends "child<TAB>pid". */
  logFile?: string;
  delayMs?: number;
}

export function fakeNvidiaSmiEnv(options: FakeNvidiaSmiOptions = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${FAKE_NVIDIA_SMI_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}` };
  delete env.SEALBOX_FAKE_NVIDIA_SMI_MODE_FILE;
  delete env.SEALBOX_FAKE_NVIDIA_SMI_LOG;
  delete env.SEALBOX_FAKE_NVIDIA_SMI_DELAY_MS;
  env.SEALBOX_FAKE_NVIDIA_SMI_MODE = options.mode ?? "ok";
  if (options.modeFile) env.SEALBOX_FAKE_NVIDIA_SMI_MODE_FILE = options.modeFile;
  if (options.logFile) env.SEALBOX_FAKE_NVIDIA_SMI_LOG = options.logFile;
  if (options.delayMs !== undefined) env.SEALBOX_FAKE_NVIDIA_SMI_DELAY_MS = String(options.delayMs);
  return env;
}

/** A recorded mode's query answer, for parser tests: { fields, csv }. */
export async function recordedQuery(mode: string): Promise<{ fields: string[]; csv: string }> {
  const dir = join(NVIDIA_SMI_FIXTURES, mode);
  const fields = (await readFile(join(dir, "query-gpu.fields"), "utf8")).split("\n")[0]!.split(",");
  const csv = await readFile(join(dir, "query-gpu.csv"), "utf8");
  return { fields, csv };
}

/**
 * Whether a process is still running. A killed grandchild stays a zombie until
 * init reaps it (slowly, in some containers): a zombie runs nothing, so it counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // /proc/PID/stat: "pid (comm) STATE …" (proc(5)); comm may hold spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Polls until predicate() holds or timeoutMs passes; resolves with the last result. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
