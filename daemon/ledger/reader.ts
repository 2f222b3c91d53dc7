// The read side over a LedgerStore: records, proofs and checkpoints, each in
// O(log n) reads. Used by the writer (daemon) and, read-only, by the CLI while
// the daemon runs (LMDB readers never block the writer).

import { SealboxError } from "../errors.js";
import { parseCheckpoint } from "./checkpoint.js";
import { parseNote } from "./note.js";
import { consistencyProof, inclusionProof, type NodeReader } from "./proof.js";
import { decodeRecord } from "./record.js";
import { LedgerStore, DEFAULT_MAP_SIZE_BYTES } from "./store.js";
import type { AuditRecord, LedgerReader } from "./types.js";

export const META_LOG = "log";
export const META_CHECKPOINT = "checkpoint";

/** meta "log": fixed when the log is created. */
export interface LogMeta {
  format: 1;
  origin: string;
  box: string;
  created: string;
}

export function parseLogMeta(text: string | undefined, path: string): LogMeta | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new SealboxError("LEDGER_CORRUPT", `${path}: the log description is not JSON`, { cause: e });
  }
  const o = v as Record<string, unknown>;
  if (typeof o !== "object" || o === null || o.format !== 1 || typeof o.origin !== "string" || typeof o.box !== "string" || typeof o.created !== "string") {
    throw new SealboxError("LEDGER_CORRUPT", `${path}: the log description is malformed`);
  }
  return o as unknown as LogMeta;
}

/** Size of the tree a stored checkpoint note covers (0 when there is none). */
export function checkpointSize(note: string | undefined): number {
  if (note === undefined) return 0;
  return parseCheckpoint(parseNote(note).text).size;
}

export class StoreReader implements LedgerReader {
  private readonly listeners = new Set<(size: number, note: string) => void>();
  readonly readNode: NodeReader;

  constructor(
    protected readonly store: LedgerStore,
    readonly origin: string,
    readonly boxId: string,
  ) {
    this.readNode = (level, index) => {
      const h = store.getNode(level, index);
      if (!h) throw new SealboxError("LEDGER_CORRUPT", `ledger node ${level}/${index} is missing`, { details: { level, index } });
      return h;
    };
  }

  /** The latest checkpoint note as stored (the writer overrides with its in-memory copy). */
  latestCheckpoint(): string | undefined {
    return this.store.getMeta(META_CHECKPOINT);
  }

  private cachedNote: string | undefined;
  private cachedSize = 0;

  size(): number {
    const note = this.latestCheckpoint();
    if (note !== this.cachedNote) {
      this.cachedSize = checkpointSize(note);
      this.cachedNote = note;
    }
    return this.cachedSize;
  }

  /**
   * Records [from, to) in order, read with one cursor (much faster than one
   * get per record). Throws LEDGER_CORRUPT when one is missing.
   */
  *recordsBetween(from: number, to: number): Generator<Uint8Array> {
    let expected = from;
    for (const { seq, bytes } of this.store.recordRange(from, to)) {
      if (seq !== expected) throw new SealboxError("LEDGER_CORRUPT", `record ${expected} is missing from the ledger`, { details: { seq: expected } });
      yield bytes;
      expected++;
    }
    if (expected !== to) throw new SealboxError("LEDGER_CORRUPT", `record ${expected} is missing from the ledger`, { details: { seq: expected } });
  }

  recordBytes(seq: number): Uint8Array | undefined {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= this.size()) return undefined;
    return this.store.getRecord(seq);
  }

  record(seq: number): AuditRecord | undefined {
    const bytes = this.recordBytes(seq);
    if (bytes === undefined) return undefined;
    try {
      return decodeRecord(bytes);
    } catch (e) {
      throw new SealboxError("LEDGER_CORRUPT", `stored record ${seq} does not decode: ${(e as Error).message}`, { cause: e, details: { seq } });
    }
  }

  private checkSize(treeSize: number): void {
    const size = this.size();
    if (!Number.isSafeInteger(treeSize) || treeSize < 0 || treeSize > size) {
      throw new SealboxError("BAD_ARGUMENT", `tree size ${treeSize} is not between 0 and the log's size ${size}`, { details: { treeSize, size } });
    }
  }

  inclusionProof(seq: number, treeSize: number): Uint8Array[] {
    this.checkSize(treeSize);
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= treeSize) {
      throw new SealboxError("NOT_FOUND", `no record ${seq} in a tree of ${treeSize}`, { details: { seq, treeSize } });
    }
    return inclusionProof(this.readNode, seq, treeSize);
  }

  consistencyProof(oldSize: number, newSize: number): Uint8Array[] {
    this.checkSize(newSize);
    if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > newSize) {
      throw new SealboxError("BAD_ARGUMENT", `old size ${oldSize} is not between 0 and ${newSize}`, { details: { oldSize, newSize } });
    }
    return consistencyProof(this.readNode, oldSize, newSize);
  }

  onCheckpoint(listener: (size: number, note: string) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  protected emitCheckpoint(size: number, note: string, onError: (e: unknown) => void): void {
    for (const l of [...this.listeners]) {
      try {
        l(size, note);
      } catch (e) {
        onError(e);
      }
    }
  }
}

export interface LedgerReadHandle extends LedgerReader {
  readonly boxId: string;
  recordsBetween(from: number, to: number): Iterable<Uint8Array>;
  readonly readNode: NodeReader;
  close(): Promise<void>;
}

/**
 * Opens a ledger read-only, without a key: for `sealbox audit …` while the
 * daemon runs or on a stopped box's state. Never writes, never creates.
 */
export async function openLedgerReader(stateDir: string): Promise<LedgerReadHandle> {
  const store = LedgerStore.open(stateDir, { readOnly: true, mapSizeBytes: DEFAULT_MAP_SIZE_BYTES });
  try {
    const meta = parseLogMeta(store.getMeta(META_LOG), store.path);
    if (!meta) throw new SealboxError("NOT_FOUND", `the ledger at ${store.path} has not been initialised`);
    const reader = new StoreReader(store, meta.origin, meta.box);
    return Object.assign(reader, { close: () => store.close() });
  } catch (e) {
    await store.close();
    throw e;
  }
}
