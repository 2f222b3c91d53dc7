// The ledger's storage: one LMDB environment (DIR/ledger/ledger.mdb) with
//   records  u64 BE seq            → record bytes (the Merkle leaf)
//   nodes    u8 level ‖ u64 BE idx → SHA-256 of that complete subtree
//   meta     utf-8 name            → utf-8 value ("log": origin/box JSON, "checkpoint": the signed note)
// Writes are one conditional batch per group commit: all puts are queued in
// one event turn (lmdb-js turns them into one write transaction, committed
// and fsynced on its writer thread), guarded by "record firstSeq does not
// exist yet" so a second writer can never interleave.
//
// lmdb-js grows the map by itself (its patched mdb_page_alloc), so MDB_MAP_FULL
// never reaches us: the store enforces mapSizeBytes as a hard cap and refuses
// a batch (LEDGER_FULL) before the file grows past it.

import { existsSync, mkdirSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import { open as openLmdb, type Database, type RootDatabase } from "lmdb";
import { SealboxError, type ErrorCode } from "../errors.js";

export const LEDGER_FILE = "ledger.mdb";
/** Default hard cap on the ledger file: 16 GiB (~40 million records of ~300 bytes). */
export const DEFAULT_MAP_SIZE_BYTES = 16 * 1024 ** 3;

export interface StoreOptions {
  readOnly: boolean;
  /** Hard cap on the database file size; a batch that would pass it is refused with LEDGER_FULL. */
  mapSizeBytes: number;
}

export interface StoredNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

export interface Batch {
  firstSeq: number;
  records: Uint8Array[];
  nodes: StoredNode[];
  meta: Record<string, string>;
}

export function ledgerDir(stateDir: string): string {
  return join(stateDir, "ledger");
}

export function seqKey(seq: number): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeUIntBE(Math.floor(seq / 2 ** 32), 0, 4);
  k.writeUIntBE(seq % 2 ** 32, 4, 4);
  return k;
}

export function nodeKey(level: number, index: number): Buffer {
  const k = Buffer.allocUnsafe(9);
  k[0] = level;
  k.writeUIntBE(Math.floor(index / 2 ** 32), 1, 4);
  k.writeUIntBE(index % 2 ** 32, 5, 4);
  return k;
}

/** Maps a storage failure to the coded error the caller must act on (no audit, no action). */
export function storageError(e: unknown, doing: string): SealboxError {
  if (e instanceof SealboxError) return e;
  const err = e as NodeJS.ErrnoException;
  const text = `${err?.code ?? ""} ${err?.message ?? String(e)}`;
  let code: ErrorCode = "LEDGER_WRITE_FAILED";
  if (/MDB_MAP_FULL|ENOSPC|No space left|EDQUOT|quota/i.test(text)) code = "LEDGER_FULL";
  else if (/EROFS|EACCES|EPERM|read-only|Permission denied/i.test(text)) code = "LEDGER_READ_ONLY";
  return new SealboxError(code, `ledger: ${doing} failed: ${err?.message ?? String(e)}`, { cause: e });
}

/**
 * The put() promises inside a conditional batch settle with the batch, whose
 * own promise is the one awaited; a failed commit must not also surface as
 * an unhandled rejection of each put.
 */
function quiet(p: unknown): void {
  if (p && typeof (p as Promise<unknown>).then === "function") (p as Promise<unknown>).then(undefined, () => undefined);
}

export class LedgerStore {
  private closed = false;
  /** LMDB's used bytes at the last look, and a generous estimate of what was written since. */
  private knownUsed: number | undefined;
  private sinceKnown = 0;

  private constructor(
    private readonly env: RootDatabase,
    private readonly records: Database<Buffer, Buffer>,
    private readonly nodes: Database<Buffer, Buffer>,
    private readonly meta: Database<Buffer, Buffer>,
    readonly path: string,
    readonly options: StoreOptions,
  ) {}

  /** Opens (read-only: never creates) the LMDB environment under DIR/ledger. */
  static open(stateDir: string, options: StoreOptions): LedgerStore {
    const dir = ledgerDir(stateDir);
    const path = join(dir, LEDGER_FILE);
    if (options.readOnly && !existsSync(path)) {
      throw new SealboxError("NOT_FOUND", `no ledger at ${path}`);
    }
    try {
      if (!options.readOnly) mkdirSync(dir, { recursive: true, mode: 0o750 });
      const env = openLmdb({
        path,
        readOnly: options.readOnly,
        // Sync inside each commit: a write resolves only once it is on disk.
        overlappingSync: false,
        // Each batch is one explicit conditional block; lmdb-js's own event-turn
        // batching would add a commit promise nobody holds, which turns a failed
        // commit (a full disk) into an unhandled rejection that ends the process.
        eventTurnBatching: false,
        maxDbs: 4,
        mapSize: Math.min(options.mapSizeBytes, 1024 ** 3),
      });
      const dbOpts = { keyEncoding: "binary" as const, encoding: "binary" as const, create: !options.readOnly };
      const records = env.openDB<Buffer, Buffer>("records", dbOpts);
      const nodes = env.openDB<Buffer, Buffer>("nodes", dbOpts);
      const meta = env.openDB<Buffer, Buffer>("meta", dbOpts);
      return new LedgerStore(env, records, nodes, meta, path, options);
    } catch (e) {
      if (e instanceof SealboxError) throw e;
      throw new SealboxError(options.readOnly ? "LEDGER_CORRUPT" : "LEDGER_WRITE_FAILED", `cannot open the ledger at ${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  private check(): void {
    if (this.closed) throw new SealboxError("LEDGER_CLOSED", "the ledger is closed");
  }

  getRecord(seq: number): Uint8Array | undefined {
    this.check();
    const v = this.records.getBinary(seqKey(seq));
    return v === undefined ? undefined : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }

  getNode(level: number, index: number): Uint8Array | undefined {
    this.check();
    const v = this.nodes.getBinary(nodeKey(level, index));
    return v === undefined ? undefined : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }

  getMeta(name: string): string | undefined {
    this.check();
    const v = this.meta.getBinary(Buffer.from(name, "utf8"));
    return v === undefined ? undefined : v.toString("utf8");
  }

  /** Records with from <= seq < to, in order, through one cursor. */
  *recordRange(from: number, to: number): Generator<{ seq: number; bytes: Uint8Array }> {
    this.check();
    for (const { key, value } of this.records.getRange({ start: seqKey(from), end: seqKey(to) })) {
      const k = key as Buffer;
      const v = value as Buffer;
      yield { seq: k.readUIntBE(0, 4) * 2 ** 32 + k.readUIntBE(4, 4), bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
    }
  }

  /** Number of records stored: the last key + 1 (keys are dense from 0). */
  recordCount(): number {
    this.check();
    for (const k of this.records.getKeys({ reverse: true, limit: 1 })) {
      const b = k as Buffer;
      return b.readUIntBE(0, 4) * 2 ** 32 + b.readUIntBE(4, 4) + 1;
    }
    return 0;
  }

  /** Bytes of the database file in use (LMDB's high-water page mark). */
  usedBytes(): number {
    this.check();
    const s = this.env.getStats() as { lastPageNumber: number; pageSize: number };
    return (s.lastPageNumber + 1) * s.pageSize;
  }

  /**
   * Writes one batch atomically and durably. Rejects with LEDGER_WRITE_FAILED
   * when record firstSeq already exists (another writer got there first).
   */
  async commit(batch: Batch): Promise<void> {
    this.check();
    if (this.options.readOnly) throw new SealboxError("LEDGER_READ_ONLY", "the ledger was opened read-only");
    // Estimate with LMDB's per-entry overhead and page slack; refuse rather than grow past the cap.
    let estimate = 0;
    for (const r of batch.records) estimate += r.length + 24;
    estimate += batch.nodes.length * 64 + 4096;
    for (const v of Object.values(batch.meta)) estimate += v.length + 64;
    // getStats costs ~0.1 ms: ask LMDB only when the running (generous) estimate
    // since the last answer comes near the cap.
    if (this.knownUsed === undefined || this.knownUsed + this.sinceKnown + estimate * 2 > this.options.mapSizeBytes) {
      this.knownUsed = this.usedBytes();
      this.sinceKnown = 0;
    }
    const used = this.knownUsed + this.sinceKnown;
    if (used + estimate * 2 > this.options.mapSizeBytes) {
      throw new SealboxError("LEDGER_FULL", `the ledger is full: ${used} of ${this.options.mapSizeBytes} bytes used; the action was not performed`, {
        details: { usedBytes: used, mapSizeBytes: this.options.mapSizeBytes },
      });
    }
    let written: boolean;
    try {
      written = await this.records.ifNoExists(seqKey(batch.firstSeq), () => {
        batch.records.forEach((r, i) => quiet(this.records.put(seqKey(batch.firstSeq + i), Buffer.from(r.buffer, r.byteOffset, r.byteLength))));
        for (const n of batch.nodes) quiet(this.nodes.put(nodeKey(n.level, n.index), Buffer.from(n.hash.buffer, n.hash.byteOffset, n.hash.byteLength)));
        for (const [k, v] of Object.entries(batch.meta)) quiet(this.meta.put(Buffer.from(k, "utf8"), Buffer.from(v, "utf8")));
      });
    } catch (e) {
      throw await this.commitFailure(e, estimate);
    }
    this.sinceKnown += estimate * 2;
    if (!written) {
      throw new SealboxError("LEDGER_WRITE_FAILED", `record ${batch.firstSeq} already exists: another process is writing this ledger`, {
        details: { firstSeq: batch.firstSeq, conflict: true },
      });
    }
  }

  /**
   * lmdb-js rejects a failed commit with a generic "Commit failed" whose
   * commitError promise carries the real error a moment later — and crashes
   * the process with an unhandled rejection if nobody takes it. Take it, and
   * map it: an I/O error on a file system with no room left is LEDGER_FULL
   * (a full disk surfaces as EIO from LMDB's writes, not always as ENOSPC).
   */
  private async commitFailure(e: unknown, estimate: number): Promise<SealboxError> {
    let cause: unknown = e;
    const pending = (e as { commitError?: Promise<unknown> } | undefined)?.commitError;
    if (pending && typeof pending.then === "function") {
      cause = await pending.then(
        () => e,
        (real: unknown) => real,
      );
    }
    const mapped = storageError(cause, "writing a batch");
    if (mapped.code === "LEDGER_WRITE_FAILED") {
      try {
        const st = await statfs(join(this.path, ".."));
        const freeBytes = st.bavail * st.bsize;
        if (freeBytes < estimate * 2 + 65536) {
          return new SealboxError("LEDGER_FULL", `the file system holding the ledger is full (${freeBytes} bytes free); the action was not performed`, {
            cause,
            details: { freeBytes },
          });
        }
      } catch {
        // statfs failing leaves the write failure as it is
      }
    }
    return mapped;
  }

  /** Writes meta entries only if name does not exist yet; resolves to whether it wrote. */
  async putMetaIfAbsent(name: string, value: string): Promise<boolean> {
    this.check();
    try {
      return await this.meta.ifNoExists(Buffer.from(name, "utf8"), () => {
        quiet(this.meta.put(Buffer.from(name, "utf8"), Buffer.from(value, "utf8")));
      });
    } catch (e) {
      throw await this.commitFailure(e, value.length);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.env.close();
  }
}
