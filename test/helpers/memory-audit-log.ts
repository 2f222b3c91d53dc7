// An AuditLog kept in memory, for tests of parts that audit (the AuditLog
// seam from daemon/ledger/types.ts, as a plain object: no ledger mocked).
// `refuse` makes append() reject the way a full or broken ledger does.

import { SealboxError, type ErrorCode } from "../../daemon/errors.js";
import type { AppendReceipt, AuditEvent, AuditLog } from "../../daemon/ledger/types.js";

export class MemoryAuditLog implements AuditLog {
  readonly events: AuditEvent[] = [];
  /** When set, append() rejects with this code and records nothing. */
  refuse: ErrorCode | undefined;
  /** Appends refused so far. */
  refused = 0;

  async append(event: AuditEvent): Promise<AppendReceipt> {
    if (this.refuse) {
      this.refused++;
      throw new SealboxError(this.refuse, `memory audit log refuses (${this.refuse})`);
    }
    // A deep copy, as a ledger would serialise it: later changes by the caller do not leak in.
    this.events.push(JSON.parse(JSON.stringify(event)) as AuditEvent);
    const seq = this.events.length - 1;
    return { seq, treeSize: seq + 1, checkpoint: `memory\n${seq + 1}\n-\n` };
  }

  byAction(action: string): AuditEvent[] {
    return this.events.filter((e) => e.action === action);
  }
}
