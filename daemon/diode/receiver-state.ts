// The receiver's own state, OUT/state.json: how far the verified output
// reaches, the Merkle frontier of that prefix (so a restarted receiver can
// keep verifying without re-reading its entries), what the sender last
// claimed, and what is missing. Written atomically after every flush.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SealboxError } from "../errors.js";
import type { OutputSizes } from "./receiver-output.js";

export type LastHeartbeat = { receivedAt: string; epoch: string; seq: number; head: number; oldest: number; time: string; catchupBoundS: number };

export type ReceiverState = {
  version: 1;
  /** The log's origin line, pinned by the first accepted checkpoint. */
  origin: string | null;
  /** First entry of the output (0 unless the receiver started after the sender's retention window). */
  base: number;
  /** Entries [base, head) are verified and written, in order, with no gap. */
  head: number;
  /** Compact range of [0, head), base64, largest subtree first. */
  frontier: string[];
  /** The latest accepted checkpoint (its size ≤ head). */
  checkpoint: { size: number; root: string } | null;
  /** The checkpoint that proves [base, head) (size ≥ head), with the hashes covering [head, size): what bundle.json states. */
  headProof: { note: string; size: number; right: string[] } | null;
  /** Compact range of [0, base), base64 (empty unless the output starts after entry 0). */
  baseLeft: string[];
  /** The box id, from the first entry written. */
  box: string | null;
  /** Recent accepted checkpoints [size, base64 root], to check old checkpoints that turn up again. */
  acceptedRoots: [number, string][];
  senderEpoch: string | null;
  /** The sender's latest verified head (the size of the checkpoint in its heartbeat). */
  senderHead: number | null;
  senderOldest: number | null;
  lastHeartbeat: LastHeartbeat | null;
  /** [from, to) ranges not yet received, up to senderHead. */
  missing: [number, number][];
  /** [from, to) ranges received ahead of head, waiting (verified) for the gap before them. */
  pending: [number, number][];
  /** [from, to) ranges the sender no longer retains: they will never arrive. */
  unrecoverable: [number, number][];
  files: OutputSizes;
  counters: Record<string, number>;
  updatedAt: string;
};

export const STATE_FILE = "state.json";

export function freshState(): ReceiverState {
  return {
    version: 1,
    origin: null,
    base: 0,
    head: 0,
    frontier: [],
    checkpoint: null,
    headProof: null,
    baseLeft: [],
    box: null,
    acceptedRoots: [],
    senderEpoch: null,
    senderHead: null,
    senderOldest: null,
    lastHeartbeat: null,
    missing: [],
    pending: [],
    unrecoverable: [],
    files: { records: 0, syslog: 0, checkpoints: 0 },
    counters: {},
    updatedAt: new Date().toISOString(),
  };
}

/** Reads OUT/state.json, or undefined when there is none. Throws DIODE_ERROR when it is unreadable. */
export function loadReceiverState(dir: string): ReceiverState | undefined {
  const path = join(dir, STATE_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new SealboxError("DIODE_ERROR", `cannot read ${path}`, { cause: e });
  }
  try {
    const s = JSON.parse(text) as ReceiverState;
    const okInt = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
    if (s.version !== 1 || !okInt(s.head) || !okInt(s.base) || s.base > s.head || !Array.isArray(s.frontier)) throw new Error("unexpected shape");
    if (!s.files || !okInt(s.files.records) || !okInt(s.files.syslog) || !okInt(s.files.checkpoints)) throw new Error("bad file sizes");
    if (s.senderEpoch !== null && !/^\d{1,20}$/.test(s.senderEpoch)) throw new Error("bad epoch");
    s.acceptedRoots ??= [];
    s.headProof ??= null;
    s.baseLeft ??= [];
    s.box ??= null;
    s.counters ??= {};
    return s;
  } catch (e) {
    throw new SealboxError("DIODE_ERROR", `${path} is corrupt (${(e as Error).message}); move the output directory aside to start again`, { cause: e });
  }
}
