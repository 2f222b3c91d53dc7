// The sender's position, persisted in STATE/diode/sender.json so a restarted
// sender resumes where it was: its last epoch (the next must be larger), the
// entries already authorised by a write-ahead audit record, and per channel
// what went out live and where the carousel stood.

import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SealboxError } from "../errors.js";
import type { ChannelPosition } from "./channel.js";

export interface SavedChannel extends ChannelPosition {
  /** The link's target when saved: a position is only reused for the same target. */
  target: string;
}

export interface SenderState {
  version: 1;
  /** Last epoch used (decimal string: a u64). */
  epoch: string;
  /** Entries [0, auditedUpTo) are covered by diode write-ahead audit records. */
  auditedUpTo: number;
  channels: Record<string, SavedChannel>;
  savedAt: string;
}

export function diodeDir(stateDir: string): string {
  return join(stateDir, "diode");
}

export async function loadSenderState(stateDir: string): Promise<SenderState | undefined> {
  const path = join(diodeDir(stateDir), "sender.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new SealboxError("DIODE_ERROR", `diode: cannot read ${path}`, { cause: e });
  }
  try {
    const s = JSON.parse(text) as SenderState;
    if (s.version !== 1 || !/^\d{1,20}$/.test(s.epoch) || !Number.isSafeInteger(s.auditedUpTo) || typeof s.channels !== "object" || s.channels === null) throw new Error("unexpected shape");
    for (const c of Object.values(s.channels)) {
      if (![c.liveNext, c.carouselNext, c.block].every((n) => Number.isSafeInteger(n) && n >= 0) || typeof c.target !== "string") throw new Error("unexpected channel");
    }
    return s;
  } catch (e) {
    throw new SealboxError("DIODE_ERROR", `diode: ${path} is corrupt (${(e as Error).message}); move it aside to start the diode from scratch`, { cause: e });
  }
}

/** Writes atomically (temp file + rename) so a crash leaves the old or the new state, never half of one. */
export async function saveSenderState(stateDir: string, state: SenderState): Promise<void> {
  await writeJsonAtomic(join(diodeDir(stateDir), "sender.json"), state);
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 2) + "\n", { mode: 0o640 });
  await rename(tmp, path);
}

/** The next epoch: the clock in milliseconds, but always above the last one used. */
export function nextEpoch(previous: string | undefined, nowMs: number): bigint {
  const prev = previous === undefined ? 0n : BigInt(previous);
  const now = BigInt(Math.floor(nowMs));
  return now > prev ? now : prev + 1n;
}
