// An in-memory AuditLog + ledger reader for rpc and transport tests: a plain
// object implementing the seams (no module mocks). It keeps records in an
// array, "signs" a checkpoint text per append, and can be told to fail
// appends with a ledger error to test that calls fail closed.

import { SealboxError, type ErrorCode } from "../../daemon/errors.js";
import type { AppendReceipt, AuditEvent, AuditLog, AuditRecord } from "../../daemon/ledger/types.js";
import type { LedgerReaderPort } from "../../daemon/rpc/ports.js";

export interface MemoryLedger extends AuditLog, LedgerReaderPort {
  readonly records: AuditRecord[];
  /** From now on append() rejects with this code (undefined: appends work again). */
  failAppends(code: ErrorCode | undefined): void;
  /** Records whose action is `action`. */
  byAction(action: string): AuditRecord[];
}

export function createMemoryLedger(boxId = "test-box"): MemoryLedger {
  const records: AuditRecord[] = [];
  const listeners = new Set<(size: number, note: string) => void>();
  let failCode: ErrorCode | undefined;
  let checkpoint: string | undefined;

  const note = (size: number): string => `test.local/${boxId}\n${size}\n${Buffer.alloc(32, size % 256).toString("base64")}\n\n— test.local/${boxId} AAAA\n`;

  return {
    records,
    failAppends(code) {
      failCode = code;
    },
    byAction: (action) => records.filter((r) => r.action === action),
    async append(event: AuditEvent): Promise<AppendReceipt> {
      // A turn of the event loop, as a real group commit would take.
      await new Promise((r) => setImmediate(r));
      if (failCode) throw new SealboxError(failCode, `memory ledger told to fail (${failCode})`);
      const rec: AuditRecord = { v: 1, seq: records.length, time: new Date().toISOString(), box: boxId, ...structuredClone(event) };
      records.push(rec);
      checkpoint = note(records.length);
      for (const l of listeners) l(records.length, checkpoint);
      return { seq: rec.seq, treeSize: records.length, checkpoint };
    },
    size: () => records.length,
    latestCheckpoint: () => checkpoint,
    record: (seq) => records[seq],
    recordBytes: (seq) => (records[seq] ? new TextEncoder().encode(JSON.stringify(records[seq])) : undefined),
    inclusionProof: (seq, treeSize) => {
      if (seq >= treeSize || treeSize > records.length) throw new SealboxError("NOT_FOUND", "out of range");
      return [new Uint8Array(32).fill(seq % 256)];
    },
    consistencyProof: (oldSize, newSize) => (oldSize === newSize ? [] : [new Uint8Array(32).fill(newSize % 256)]),
    onCheckpoint(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
