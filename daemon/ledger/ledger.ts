// The ledger: append-only audit records in an RFC 9162 Merkle tree, each
// group of appends committed in one LMDB transaction and covered by one new
// C2SP checkpoint signed through the Signer seam.
//
// Group commit: append() validates and encodes the event at once, then queues
// it. While one batch is being written, new appends wait; the next batch
// takes all of them (up to maxBatchRecords). A batch is: assign seqs, hash
// leaves, grow the tree, sign the new checkpoint, write records + nodes +
// checkpoint in one durable transaction. Only then do its appends resolve,
// each with the checkpoint that covers it. If anything fails, the whole batch
// rejects with a coded error and the in-memory tree is rolled back: the
// caller must not perform the action (no audit, no action).

import { SealboxError, toSealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { readBoxId } from "../box.js";
import type { Signer } from "../keys/signer.js";
import { formatCheckpoint, parseCheckpoint } from "./checkpoint.js";
import { CompactRange } from "./compact-range.js";
import { toHex } from "./encoding.js";
import { equalBytes, leafHash } from "./merkle.js";
import { formatVkey, keyId, parseNote, signNote, verifyNote, ed25519Verifier } from "./note.js";
import { leftRange } from "./proof.js";
import { META_CHECKPOINT, META_LOG, StoreReader, parseLogMeta, type LogMeta } from "./reader.js";
import { assembleRecord, encodeRecordParts, MAX_RECORD_BYTES, validateEvent, type RecordParts } from "./record.js";
import { DEFAULT_MAP_SIZE_BYTES, LedgerStore, type StoredNode } from "./store.js";
import type { Actor, AppendReceipt, AuditEvent, AuditLog, AuditRecord, LedgerReader } from "./types.js";

export interface OpenLedgerOptions {
  stateDir: string;
  /** Signs every checkpoint. Its name becomes the log's origin when the log is created. */
  signer: Signer;
  /** The box id every record carries. Defaults to DIR/box.json's. */
  boxId?: string;
  /** Hard cap on the ledger file in bytes; appends past it reject with LEDGER_FULL. Defaults to 16 GiB. */
  mapSizeBytes?: number;
  /** Most records in one group commit. Defaults to 4096. */
  maxBatchRecords?: number;
  /** Open without write access: every append rejects with LEDGER_READ_ONLY. Defaults to false. */
  readOnly?: boolean;
  log?: Logger;
  /** Clock for record times. Defaults to the system clock. */
  now?: () => Date;
}

export interface LedgerStats {
  size: number;
  batches: number;
  pending: number;
  usedBytes: number;
}

export interface Ledger extends AuditLog, LedgerReader {
  readonly boxId: string;
  readonly signer: Signer;
  stats(): LedgerStats;
  /** Finishes the appends already queued, then closes the store. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface Pending {
  parts: RecordParts;
  resolve: (r: AppendReceipt) => void;
  reject: (e: unknown) => void;
}

export const SYSTEM_ACTOR: Actor = { role: "system", transport: "internal", peer: "-" };

function keyDescription(signer: Signer): { name: string; key_id: string; origin: string; vkey: string } {
  return { name: signer.name, key_id: toHex(keyId(signer.name, signer.publicKey)), origin: signer.origin, vkey: formatVkey(signer.name, signer.publicKey) };
}

class LedgerImpl extends StoreReader implements Ledger {
  private range: CompactRange;
  private note: string | undefined;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private closing: Promise<void> | undefined;
  private broken: SealboxError | undefined;
  private batches = 0;

  constructor(
    store: LedgerStore,
    meta: LogMeta,
    range: CompactRange,
    note: string | undefined,
    readonly signer: Signer,
    private readonly opts: { maxBatchRecords: number; readOnly: boolean; log: Logger | undefined; now: () => Date },
  ) {
    super(store, meta.origin, meta.box);
    this.range = range;
    this.note = note;
  }

  override size(): number {
    return this.range.size;
  }

  override latestCheckpoint(): string | undefined {
    return this.note;
  }

  stats(): LedgerStats {
    return { size: this.range.size, batches: this.batches, pending: this.pending.length, usedBytes: this.store.usedBytes() };
  }

  append(event: AuditEvent): Promise<AppendReceipt> {
    if (this.closing) return Promise.reject(new SealboxError("LEDGER_CLOSED", "the ledger is closed; the action was not performed"));
    if (this.opts.readOnly) return Promise.reject(new SealboxError("LEDGER_READ_ONLY", "the ledger is open read-only; the action was not performed"));
    if (this.broken) return Promise.reject(this.broken);
    let parts: RecordParts;
    try {
      const e = validateEvent(event);
      // Members in canonical order, seq as a placeholder (encodeRecordParts splits around it).
      const record: AuditRecord = {
        action: e.action,
        actor: e.actor,
        box: this.boxId,
        category: e.category,
        outcome: e.outcome,
        seq: 0,
        target: e.target ?? "-",
        time: this.opts.now().toISOString(),
        v: 1,
      };
      if (e.details !== undefined) record.details = e.details;
      parts = encodeRecordParts(record);
      const seqDigits = String(this.range.size + this.pending.length).length;
      if (parts.sizeBytes + seqDigits > MAX_RECORD_BYTES) assembleRecord(parts, this.range.size + this.pending.length); // throws RECORD_TOO_LARGE
    } catch (err) {
      return Promise.reject(toSealboxError(err, "RECORD_INVALID"));
    }
    return new Promise<AppendReceipt>((resolve, reject) => {
      this.pending.push({ parts, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    // setImmediate: let every append issued in this turn (and the I/O callbacks
    // already due) join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flushing = this.flushLoop().finally(() => {
        this.flushing = undefined;
        if (this.pending.length > 0) this.schedule();
      });
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.opts.maxBatchRecords);
      try {
        await this.commitBatch(batch);
      } catch (e) {
        // Not expected (commitBatch answers every append itself), but never leave an append unanswered.
        const err = toSealboxError(e, "LEDGER_WRITE_FAILED");
        this.opts.log?.error("ledger batch failed unexpectedly; its actions must not run", { error: err.message });
        for (const p of batch) p.reject(err);
      }
    }
  }

  private async commitBatch(batch: Pending[]): Promise<void> {
    if (this.broken) {
      for (const p of batch) p.reject(this.broken);
      return;
    }
    const before = this.range.clone();
    const firstSeq = this.range.size;
    const records: Uint8Array[] = [];
    const nodes: StoredNode[] = [];
    const accepted: Pending[] = [];
    const onNode = (level: number, index: number, hash: Uint8Array): void => void nodes.push({ level, index, hash });
    for (const p of batch) {
      let bytes: Uint8Array;
      try {
        bytes = assembleRecord(p.parts, firstSeq + records.length);
      } catch (e) {
        p.reject(toSealboxError(e, "RECORD_TOO_LARGE"));
        continue;
      }
      records.push(bytes);
      accepted.push(p);
      this.range.append(leafHash(bytes), onNode);
    }
    if (accepted.length === 0) return;
    const size = this.range.size;
    try {
      const note = signNote(formatCheckpoint({ origin: this.origin, size, rootHash: this.range.root() }), this.signer);
      await this.store.commit({ firstSeq, records, nodes, meta: { [META_CHECKPOINT]: note } });
      this.note = note;
      this.batches++;
      this.emitCheckpoint(size, note, (e) => this.opts.log?.warn("a checkpoint listener threw", { error: e instanceof Error ? e : String(e) }));
      const receipt = (seq: number): AppendReceipt => ({ seq, treeSize: size, checkpoint: note });
      accepted.forEach((p, i) => p.resolve(receipt(firstSeq + i)));
    } catch (e) {
      this.range = before;
      const err = toSealboxError(e, "LEDGER_WRITE_FAILED");
      // Another writer got there first: this process's view of the tree is stale for good.
      if (err.details?.conflict === true) this.broken = err;
      this.opts.log?.error("ledger batch failed; its actions must not run", { records: accepted.length, firstSeq, code: err.code, error: err.message });
      for (const p of accepted) p.reject(err);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Drain: everything already accepted gets its answer.
      while (this.flushing || this.scheduled || this.pending.length > 0) {
        if (this.flushing) await this.flushing;
        else await new Promise<void>((r) => setImmediate(r));
      }
      await this.store.close();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Opens (creating when needed) the ledger in DIR/ledger. On open it checks
 * that the stored checkpoint covers exactly the stored records and that the
 * stored tree hashes to the checkpoint's root (LEDGER_CORRUPT otherwise);
 * a new log gets a first record naming its origin and key (and saying when
 * the key is a software key); a log now signed by a different key gets a
 * record saying so.
 */
export async function openLedger(options: OpenLedgerOptions): Promise<Ledger> {
  const { stateDir, signer } = options;
  const readOnly = options.readOnly ?? false;
  const boxId = options.boxId ?? (await readBoxId(stateDir));
  const store = LedgerStore.open(stateDir, { readOnly, mapSizeBytes: options.mapSizeBytes ?? DEFAULT_MAP_SIZE_BYTES });
  try {
    let meta = parseLogMeta(store.getMeta(META_LOG), store.path);
    if (!meta) {
      if (readOnly) throw new SealboxError("NOT_FOUND", `the ledger at ${store.path} has not been initialised`);
      const fresh: LogMeta = { format: 1, origin: signer.name, box: boxId, created: new Date().toISOString() };
      await store.putMetaIfAbsent(META_LOG, JSON.stringify(fresh));
      meta = parseLogMeta(store.getMeta(META_LOG), store.path)!;
    }
    if (meta.box !== boxId) throw new SealboxError("BAD_CONFIG", `the ledger in ${stateDir} belongs to box ${meta.box}, not ${boxId}`);
    const note = store.getMeta(META_CHECKPOINT);
    let size = 0;
    let previousSigner: { name: string; keyId: string } | undefined;
    let root: Uint8Array | undefined;
    if (note !== undefined) {
      const parsed = parseNote(note);
      const cp = parseCheckpoint(parsed.text);
      if (cp.origin !== meta.origin) throw new SealboxError("LEDGER_CORRUPT", `stored checkpoint origin ${cp.origin} is not the log's ${meta.origin}`);
      size = cp.size;
      root = cp.rootHash;
      const first = parsed.signatures[0]!;
      previousSigner = { name: first.name, keyId: toHex(first.keyId) };
      if (previousSigner.name === signer.name && previousSigner.keyId === toHex(keyId(signer.name, signer.publicKey))) {
        try {
          verifyNote(note, [ed25519Verifier(signer.name, signer.publicKey)]);
        } catch (e) {
          throw new SealboxError("LEDGER_CORRUPT", `the stored checkpoint's signature does not verify under this box's key: ${(e as Error).message}`, { cause: e });
        }
      }
    }
    const stored = store.recordCount();
    if (stored !== size) {
      throw new SealboxError("LEDGER_CORRUPT", `the stored checkpoint covers ${size} records but the store holds ${stored}`, { details: { size, stored } });
    }
    const reader = new StoreReader(store, meta.origin, meta.box);
    const range = CompactRange.fromHashes(
      size,
      leftRange(reader.readNode, size).map((n) => n.hash),
    );
    if (root && !equalBytes(range.root(), root)) {
      throw new SealboxError("LEDGER_CORRUPT", `the stored tree's root ${toHex(range.root())} is not the checkpoint's ${toHex(root)}`);
    }
    const ledger = new LedgerImpl(store, meta, range, note, signer, {
      maxBatchRecords: options.maxBatchRecords ?? 4096,
      readOnly,
      log: options.log,
      now: options.now ?? (() => new Date()),
    });
    if (!readOnly) {
      const key = keyDescription(signer);
      if (size === 0) {
        await ledger.append({
          actor: SYSTEM_ACTOR,
          category: "system",
          action: "ledger.create",
          target: meta.origin,
          outcome: "success",
          details: { origin: meta.origin, box: meta.box, key, ...(signer.origin === "software" ? { warning: "signed with a software key: development only, not hardware-protected" } : {}) },
        });
      } else if (previousSigner && (previousSigner.name !== key.name || previousSigner.keyId !== key.key_id)) {
        await ledger.append({
          actor: SYSTEM_ACTOR,
          category: "key",
          action: "ledger.key-change",
          target: key.vkey,
          outcome: "info",
          details: { previous: { name: previousSigner.name, key_id: previousSigner.keyId }, key },
        });
      }
    }
    options.log?.info("ledger open", { origin: meta.origin, size: ledger.size(), key: signer.name, keyOrigin: signer.origin, readOnly });
    return ledger;
  } catch (e) {
    await store.close();
    throw e;
  }
}
