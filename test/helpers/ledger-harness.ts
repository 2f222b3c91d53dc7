// Test scaffolding for the ledger: temporary state directories with a real
// software key, the sealbox CLI as a child process, and small event makers.

import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSigner, provisionSoftwareKey } from "../../daemon/keys/key-store.js";
import type { Signer } from "../../daemon/keys/signer.js";
import { openLedgerReader } from "../../daemon/ledger/reader.js";
import type { AuditEvent, AuditRecord } from "../../daemon/ledger/types.js";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const sealboxBin = join(repoRoot, "bin", "sealbox");
export const sealboxdBin = join(repoRoot, "bin", "sealboxd");

export interface TempState {
  dir: string;
  signer: Signer;
  vkey: string;
  cleanup(): Promise<void>;
}

export async function tempDir(prefix = "sealbox-ledger-"): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A state directory with box.json and a software key (seed fixed when given). */
export async function tempState(seed?: Uint8Array): Promise<TempState> {
  const { dir, cleanup } = await tempDir();
  const state = join(dir, "state");
  const { info } = await provisionSoftwareKey(state, seed ? { seed } : {});
  const signer = await openSigner(state);
  return {
    dir: state,
    signer,
    vkey: info.vkey,
    cleanup: async () => {
      signer.close();
      await cleanup();
    },
  };
}

export function event(i: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return { actor: { role: "operator", transport: "console", peer: "uid:1000" }, category: "test", action: "test.event", target: `t-${i}`, outcome: "info", details: { i }, ...over };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/sealbox with args; kills it after timeoutMs (a hang is a failure, not a stuck suite). */
export function sealbox(args: string[], options: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(sealboxBin, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...options.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** Every record of the ledger in a state directory (a stopped daemon's), in order. */
export async function allRecords(stateDir: string): Promise<AuditRecord[]> {
  const reader = await openLedgerReader(stateDir);
  try {
    return Array.from({ length: reader.size() }, (_, seq) => reader.record(seq)!);
  } finally {
    await reader.close();
  }
}
