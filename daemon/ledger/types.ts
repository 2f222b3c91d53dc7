// The ledger's public contract: what every other part of the box depends on.
// Everything else in daemon/ledger/ is its implementation.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Who acted: the role the call ran with, the transport it came over, and the peer (uid, port, "-"). */
export interface Actor {
  role: string;
  transport: string;
  peer: string;
}

/**
 * How the action ended, as recorded. "requested" is the write-ahead record made
 * before an action runs; its outcome follows in a second record.
 */
export type Outcome = "requested" | "success" | "failure" | "refused" | "info";

/** What a caller hands to append(); the ledger adds seq, time and box id. */
export interface AuditEvent {
  actor: Actor;
  /** e.g. "system", "inference", "model", "audit", "key", "diode", "rpc", "health", "site". */
  category: string;
  /** e.g. "daemon.start", "chat", "model.import". */
  action: string;
  /** What the action was done to (a model hash, a path, a sequence number), or "-". */
  target?: string;
  outcome: Outcome;
  /** Free-form, canonical-JSON-able; large payloads go in by SHA-256 reference. */
  details?: { [key: string]: JsonValue };
}

/** The stored record. Its RFC 8785 canonical JSON bytes are the Merkle leaf. */
export interface AuditRecord extends AuditEvent {
  /** Record format version. */
  v: 1;
  /** 0-based leaf index in the log. */
  seq: number;
  /** UTC, RFC 3339 with milliseconds. */
  time: string;
  /** The box's id. */
  box: string;
}

/** What append() resolves with, once the record is durable and covered by a signed checkpoint. */
export interface AppendReceipt {
  seq: number;
  /** Tree size of the checkpoint that covers the record. */
  treeSize: number;
  /** The covering checkpoint, a C2SP signed note. */
  checkpoint: string;
}

/**
 * Write side. Contract: if append() rejects, the caller does not perform the
 * action (no audit, no action). Rejections are SealboxErrors with codes
 * LEDGER_FULL, LEDGER_WRITE_FAILED, LEDGER_READ_ONLY, LEDGER_CLOSED,
 * RECORD_TOO_LARGE, RECORD_INVALID or KEY_UNAVAILABLE.
 */
export interface AuditLog {
  append(event: AuditEvent): Promise<AppendReceipt>;
}

/**
 * Read side, used by the diode sender, the anti-rollback check and the socket
 * API. Every method is synchronous and reads at most O(log n) stored nodes.
 */
export interface LedgerReader {
  /** The log's origin line (C2SP tlog-checkpoint), fixed when the log was created. */
  readonly origin: string;
  /** Number of records covered by the latest signed checkpoint. */
  size(): number;
  /** The latest signed checkpoint (C2SP signed note), or undefined for a log that has none yet. */
  latestCheckpoint(): string | undefined;
  /** The canonical bytes of record seq (the Merkle leaf), or undefined past the end. */
  recordBytes(seq: number): Uint8Array | undefined;
  /** Record seq, decoded and validated, or undefined past the end. */
  record(seq: number): AuditRecord | undefined;
  /** RFC 9162 audit path for leaf seq in the tree of treeSize (seq < treeSize <= size()). */
  inclusionProof(seq: number, treeSize: number): Uint8Array[];
  /** RFC 9162 consistency proof between two tree sizes (oldSize <= newSize <= size()). */
  consistencyProof(oldSize: number, newSize: number): Uint8Array[];
  /**
   * Called after every new durable checkpoint, in the process that writes the
   * ledger (a read-only reader in another process never hears of one: poll
   * latestCheckpoint() there). Returns the unsubscribe function.
   */
  onCheckpoint(listener: (size: number, note: string) => void): () => void;
}
