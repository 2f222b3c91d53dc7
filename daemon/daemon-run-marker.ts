// DIR/ledger/sealboxd.running: written (fsynced) once the daemon's start is
// recorded, removed once its clean stop is recorded. Kept in the state
// directory, not /run, so that a power cut — the unclean stop that matters
// most — is still visible at the next start.

import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./box.js";
import { ledgerDir } from "./ledger/store.js";

export interface RunMarker {
  pid: number;
  started: string;
  /** Sequence number of the daemon.start record. */
  start_seq: number;
}

export function runMarkerPath(stateDir: string): string {
  return join(ledgerDir(stateDir), "sealboxd.running");
}

export async function readRunMarker(stateDir: string): Promise<RunMarker | "unreadable" | undefined> {
  let text: string;
  try {
    text = await readFile(runMarkerPath(stateDir), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return "unreadable";
  }
  try {
    const v = JSON.parse(text) as RunMarker;
    if (typeof v.pid === "number" && typeof v.started === "string" && typeof v.start_seq === "number") return v;
  } catch {
    // a marker cut short by the crash it records is still a marker
  }
  return "unreadable";
}

/** Whether pid is a live sealboxd (not merely a reused pid). */
export async function isDaemonAlive(pid: number): Promise<boolean> {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8");
    return /sealboxd|daemon\/main\.js|run-box\.js/.test(cmd);
  } catch {
    return true;
  }
}

export async function writeRunMarker(stateDir: string, marker: RunMarker): Promise<void> {
  await writeFileAtomic(runMarkerPath(stateDir), JSON.stringify(marker) + "\n");
}

export async function removeRunMarker(stateDir: string): Promise<void> {
  await rm(runMarkerPath(stateDir), { force: true });
}
