// Anti-rollback: a TPM NV counter only goes up; the ledger records every value
// it is about to reach BEFORE the increment (no audit, no action), so the
// ledger always knows the counter value it expects. At start:
//   TPM counter = ledger's last recorded value  → fine;
//   TPM counter > ledger's last recorded value  → the ledger is an older copy
//       (restored, replaced): LEDGER_ROLLBACK, the daemon refuses to serve
//       until a technician acknowledges it (acknowledge() records that);
//   TPM counter < recorded value → an increment was recorded but did not
//       happen (a crash in between): harmless, logged.
// Increments happen per checkpoint epoch (only when the ledger grew), on
// export and on clean shutdown — never per record: a real TPM's NV wears out
// and rate-limits (TPM_RC_NV_RATE).
//
// The window this cannot see: records appended after the last increment can
// be cut off by restoring a copy taken after that increment. The epoch bounds
// that window (docs/tpm.md).

import { SealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Actor, AuditLog, AuditRecord } from "../ledger/types.js";
import { type MonotonicCounter, parseCounterValue } from "./tpm-counter.js";

/** The part of the ledger's read side this needs (daemon/ledger/types.ts LedgerReader has it). */
export interface CounterLedgerView {
  size(): number;
  record(seq: number): AuditRecord | undefined;
}

export type BumpReason = "epoch" | "export" | "shutdown" | "acknowledge" | "start";

export const COUNTER_CATEGORY = "key";
export const COUNTER_ACTION = "counter.increment";
export const ROLLBACK_ACK_ACTION = "counter.rollback.acknowledged";

export interface AntiRollbackOptions {
  counter: MonotonicCounter;
  audit: AuditLog;
  ledger: CounterLedgerView;
  /** Counter value at provisioning (key.json nv_baseline): what to expect while the ledger has no counter record. */
  baseline: bigint;
  /** Minutes between epoch increments. Defaults to 60. */
  epochMinutes?: number;
  /** Who the records name. Defaults to the system actor. */
  actor?: Actor;
  log?: Logger;
  /**
   * Called after each increment is recorded (e.g. to have the TPM certify the
   * counter against the new checkpoint). Its failure is logged, not thrown:
   * the evidence is optional, the increment already happened.
   */
  onIncremented?: (value: bigint, reason: BumpReason) => Promise<void>;
}

export interface RecordedValue {
  value: bigint;
  /** The record's sequence number; undefined when the value is the provisioning baseline. */
  seq: number | undefined;
}

export interface CheckResult {
  tpm: bigint;
  expected: RecordedValue;
  state: "in-step" | "tpm-behind";
}

const SYSTEM: Actor = { role: "system", transport: "internal", peer: "-" };

/** The newest counter value the ledger recorded, scanning back from its head. */
export function lastRecordedCounter(ledger: CounterLedgerView): RecordedValue | undefined {
  for (let seq = ledger.size() - 1; seq >= 0; seq--) {
    const r = ledger.record(seq);
    if (!r || r.category !== COUNTER_CATEGORY || r.action !== COUNTER_ACTION) continue;
    const value = parseCounterValue(r.details?.value);
    if (value === undefined) throw new SealboxError("LEDGER_CORRUPT", `ledger record ${seq} (${COUNTER_ACTION}) has no valid counter value`);
    return { value, seq };
  }
  return undefined;
}

export class AntiRollback {
  private readonly counter: MonotonicCounter;
  private readonly audit: AuditLog;
  private readonly ledger: CounterLedgerView;
  private readonly baseline: bigint;
  private readonly actor: Actor;
  private readonly log: Logger | undefined;
  private readonly onIncremented: AntiRollbackOptions["onIncremented"];
  readonly epochMs: number;
  private timer: NodeJS.Timeout | undefined;
  private sizeAfterLastBump = -1;
  private bumping: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: AntiRollbackOptions) {
    this.counter = options.counter;
    this.audit = options.audit;
    this.ledger = options.ledger;
    this.baseline = options.baseline;
    this.actor = options.actor ?? SYSTEM;
    this.log = options.log;
    this.onIncremented = options.onIncremented;
    const minutes = options.epochMinutes ?? 60;
    if (!(minutes > 0)) throw new SealboxError("BAD_CONFIG", `anti-rollback epoch must be > 0 minutes, got ${minutes}`);
    this.epochMs = minutes * 60_000;
  }

  expected(): RecordedValue {
    return lastRecordedCounter(this.ledger) ?? { value: this.baseline, seq: undefined };
  }

  private describe(expected: RecordedValue): string {
    return expected.seq === undefined ? `the value recorded at provisioning (${expected.value})` : `${expected.value} (ledger record #${expected.seq})`;
  }

  /** Compares the TPM's counter with the ledger. Throws LEDGER_ROLLBACK when the TPM is ahead. */
  async check(): Promise<CheckResult> {
    const tpm = await this.counter.read();
    const expected = this.expected();
    if (tpm > expected.value) {
      throw new SealboxError(
        "LEDGER_ROLLBACK",
        `The ledger is older than the TPM: the ${this.counter.description} is at ${tpm}, but the newest counter value the ledger recorded is ${this.describe(expected)}. ` +
          `The ledger was restored from an older copy or replaced, so records may be missing. sealbox will not serve until a technician acknowledges this ` +
          `(sealbox keys acknowledge-rollback; see docs/operations.md, "Ledger rollback").`,
        { details: { tpm: tpm.toString(), ledger: expected.value.toString(), seq: expected.seq ?? null } },
      );
    }
    const state = tpm === expected.value ? "in-step" : "tpm-behind";
    if (state === "tpm-behind") {
      this.log?.warn("the TPM counter is behind the ledger's last recorded value (an increment was recorded but did not happen)", { tpm: tpm.toString(), ledger: expected.value.toString() });
    }
    return { tpm, expected, state };
  }

  /**
   * Records the value the counter is about to reach, increments, records the
   * value reached. If the first record cannot be written nothing is
   * incremented (no audit, no action).
   */
  bump(reason: BumpReason): Promise<bigint> {
    const run = this.bumping.then(() => this.bumpNow(reason));
    this.bumping = run.catch(() => undefined);
    return run;
  }

  private async bumpNow(reason: BumpReason): Promise<bigint> {
    const current = await this.counter.read();
    const next = current + 1n;
    const target = this.counter.description;
    await this.audit.append({ actor: this.actor, category: COUNTER_CATEGORY, action: COUNTER_ACTION, target, outcome: "requested", details: { value: next.toString(), reason } });
    let reached: bigint;
    try {
      reached = await this.counter.increment();
    } catch (e) {
      await this.audit
        .append({ actor: this.actor, category: COUNTER_CATEGORY, action: COUNTER_ACTION, target, outcome: "failure", details: { value: current.toString(), reason, error: e instanceof Error ? e.message : String(e) } })
        .catch((ae: unknown) => this.log?.error("could not record a failed counter increment", { error: ae instanceof Error ? ae : String(ae) }));
      throw e;
    }
    // The value actually reached is what the next start compares with.
    await this.audit.append({ actor: this.actor, category: COUNTER_CATEGORY, action: COUNTER_ACTION, target, outcome: "success", details: { value: reached.toString(), reason } });
    this.sizeAfterLastBump = this.ledger.size();
    if (reached !== next) this.log?.warn("the counter moved by more than one: something else incremented it", { expected: next.toString(), reached: reached.toString() });
    this.log?.info("anti-rollback counter incremented", { value: reached.toString(), reason });
    if (this.onIncremented) {
      try {
        await this.onIncremented(reached, reason);
      } catch (e) {
        this.log?.warn("after the counter increment, the follow-up failed", { error: e instanceof Error ? e : String(e) });
      }
    }
    return reached;
  }

  /** Starts the epoch timer: an increment every epoch in which the ledger grew. */
  start(): void {
    if (this.timer || this.closed) return;
    this.sizeAfterLastBump = this.ledger.size();
    this.timer = setInterval(() => void this.epochTick(), this.epochMs);
    this.timer.unref();
  }

  /** One epoch: bump only if records were appended since the last bump (an idle box does not wear its NV). */
  async epochTick(): Promise<bigint | undefined> {
    if (this.closed || this.ledger.size() <= this.sizeAfterLastBump) return undefined;
    try {
      return await this.bump("epoch");
    } catch (e) {
      this.log?.error("epoch counter increment failed", { error: e instanceof Error ? e : String(e) });
      return undefined;
    }
  }

  /**
   * A technician acknowledged a detected rollback: record what was found and
   * who acknowledged it, then bump so the ledger and the TPM agree again.
   */
  async acknowledge(technician: string, note = ""): Promise<{ tpm: bigint; ledger: bigint; now: bigint }> {
    if (technician.trim() === "") throw new SealboxError("BAD_ARGUMENT", "say who acknowledges the rollback (--by NAME)");
    const tpm = await this.counter.read();
    const expected = this.expected();
    if (tpm <= expected.value) throw new SealboxError("BAD_REQUEST", `there is no rollback to acknowledge: the TPM counter (${tpm}) is not ahead of the ledger (${expected.value})`);
    await this.audit.append({
      actor: this.actor,
      category: COUNTER_CATEGORY,
      action: ROLLBACK_ACK_ACTION,
      target: this.counter.description,
      outcome: "info",
      details: { tpm_value: tpm.toString(), ledger_value: expected.value.toString(), ledger_seq: expected.seq ?? null, technician, note },
    });
    const now = await this.bump("acknowledge");
    return { tpm, ledger: expected.value, now };
  }

  /** Stops the epoch timer and waits for a bump in progress. The shutdown bump is the caller's (before closing the ledger). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.bumping;
  }
}
