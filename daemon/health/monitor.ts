// The health monitor: polls the GPU and host probes every intervalMs, turns
// the readings into a state (evaluate.ts), and audits every change of state
// (category "health"). The inference service calls check() before each
// request: it throws HEALTH_CRITICAL while the box is critical, unless the
// only critical reasons are the GPU's and a CPU fallback is configured.
//
// Fail closed: a change for the worse takes effect at once, even when its
// record cannot be written yet (it is retried each poll); a change for the
// better takes effect only after `recoveryPolls` better readings in a row AND
// once its record is durable. Until the first poll the state is "unknown" and
// check() refuses.
//
// The thresholds can change while it runs (setThresholds, on SIGHUP): the
// change is itself audited ("health.thresholds", old and new values) and takes
// effect only once that record is durable; the next poll evaluates with them.

import { SealboxError, toSealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Actor, AuditLog, JsonValue } from "../ledger/types.js";
import type { GpuProbe, GpuReading } from "../../hal/gpu/types.js";
import type { SystemProbe, SystemReading } from "../../hal/system/types.js";
import { evaluateHealth, isBetter, worse, type HealthReason, type HealthState } from "./evaluate.js";
import { DEFAULT_HEALTH_THRESHOLDS, resolveThresholds, type HealthThresholds } from "./thresholds.js";

export interface HealthMonitorOptions {
  /** Where state changes are recorded. */
  audit: AuditLog;
  /** The GPU probe; null or absent in CPU mode. */
  gpu?: GpuProbe | null;
  /** The host probe; null or absent to skip host checks. */
  system?: SystemProbe | null;
  /** Whether inference needs the GPU. Defaults to true when a GPU probe is given. */
  gpuRequired?: boolean;
  /** Defaults to DEFAULT_HEALTH_THRESHOLDS for every limit not given. */
  thresholds?: Partial<HealthThresholds>;
  /** Time between polls. Defaults to 10000 ms. */
  intervalMs?: number;
  /** Better readings in a row before the state improves. Defaults to 3. */
  recoveryPolls?: number;
  /** While only the GPU is critical, let inference run on the CPU instead of refusing. Defaults to false. */
  cpuFallback?: boolean;
  /** Paths whose file systems must keep free space, e.g. [stateDir]. Defaults to none. */
  watchPaths?: string[];
  logger?: Logger;
  /** Who the audit records name. Defaults to { role: "system", transport: "internal", peer: "health-monitor" }. */
  actor?: Actor;
}

export interface HealthChange {
  from: HealthState | null;
  to: HealthState;
  reasons: HealthReason[];
  at: string;
}

export interface HealthSnapshot {
  state: HealthState | "unknown";
  /** When the current state began (UTC, RFC 3339). */
  since: string | null;
  /** When the last poll finished. */
  checkedAt: string | null;
  /** The reasons behind the current state. */
  reasons: HealthReason[];
  /** The latest poll's reasons (differ from `reasons` while a recovery is pending). */
  latestReasons: HealthReason[];
  /** Better polls in a row so far, toward recoveryPolls. */
  recoveringPolls: number;
  cpuFallbackConfigured: boolean;
  /** Critical only because of the GPU, with a CPU fallback configured: inference runs on the CPU. */
  cpuFallbackActive: boolean;
  /** State-change records not yet durable in the ledger. */
  unauditedChanges: number;
  gpu: GpuReading | null;
  system: SystemReading | null;
}

export interface HealthCheckResult {
  state: HealthState;
  /** true: the GPU is critical and inference must run on the CPU. */
  cpuFallback: boolean;
}

const MAX_UNAUDITED = 32;
const MAX_REASONS_RECORDED = 16;

export class HealthMonitor {
  private readonly audit: AuditLog;
  private readonly gpu: GpuProbe | null;
  private readonly system: SystemProbe | null;
  private readonly gpuRequired: boolean;
  private thresholds: HealthThresholds;
  /** setThresholds calls, one after another (each record names the values it replaced). */
  private thresholdsQueue: Promise<unknown> = Promise.resolve();
  private readonly intervalMs: number;
  private readonly recoveryPolls: number;
  private readonly cpuFallback: boolean;
  private readonly watchPaths: string[];
  private readonly logger: Logger | undefined;
  private readonly actor: Actor;
  private readonly listeners = new Set<(c: HealthChange) => void>();

  private state: HealthState | null = null;
  private since: string | null = null;
  private checkedAt: string | null = null;
  private reasons: HealthReason[] = [];
  private latestReasons: HealthReason[] = [];
  private betterStreak = 0;
  private betterStreakWorst: HealthState = "ok";
  private timeouts = 0;
  private lastGpu: GpuReading | null = null;
  private lastSystem: SystemReading | null = null;
  private readonly unaudited: HealthChange[] = [];
  private inFlight: Promise<HealthSnapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;

  constructor(options: HealthMonitorOptions) {
    this.audit = options.audit;
    this.gpu = options.gpu ?? null;
    this.system = options.system ?? null;
    this.gpuRequired = options.gpuRequired ?? this.gpu !== null;
    this.thresholds = resolveThresholds(options.thresholds);
    this.intervalMs = options.intervalMs ?? 10_000;
    this.recoveryPolls = options.recoveryPolls ?? 3;
    this.cpuFallback = options.cpuFallback ?? false;
    this.watchPaths = options.watchPaths ?? [];
    this.logger = options.logger;
    this.actor = options.actor ?? { role: "system", transport: "internal", peer: "health-monitor" };
    if (!Number.isInteger(this.recoveryPolls) || this.recoveryPolls < 1) throw new SealboxError("BAD_CONFIG", `recoveryPolls must be a whole number ≥ 1, got ${this.recoveryPolls}`);
    if (!(this.intervalMs >= 10)) throw new SealboxError("BAD_CONFIG", `intervalMs must be ≥ 10, got ${this.intervalMs}`);
  }

  /** Polls once now, then every intervalMs. Resolves with the first snapshot. */
  async start(): Promise<HealthSnapshot> {
    if (this.closed) throw new SealboxError("INTERNAL", "the health monitor is closed");
    if (this.started) return this.snapshot();
    this.started = true;
    const first = await this.poll();
    this.schedule();
    return first;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.poll().then(
        () => this.schedule(),
        (e: unknown) => {
          this.logger?.error("health poll failed", { error: e instanceof Error ? e : String(e) });
          this.schedule();
        },
      );
    }, this.intervalMs);
    // The daemon's lifecycle, not this timer, decides when the process ends.
    this.timer.unref();
  }

  /** Runs one poll (concurrent callers share it) and resolves with the snapshot after it. */
  poll(): Promise<HealthSnapshot> {
    this.inFlight ??= this.pollOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async pollOnce(): Promise<HealthSnapshot> {
    const [gpu, system] = await Promise.all([this.gpu?.read() ?? null, this.system?.read() ?? null]);
    this.lastGpu = gpu;
    this.lastSystem = system;
    this.timeouts = gpu?.faults.some((f) => f.kind === "timeout") ? this.timeouts + 1 : 0;
    const evaluation = evaluateHealth(
      { gpu, system, gpuRequired: this.gpuRequired, consecutiveGpuTimeouts: this.timeouts, watchPaths: this.watchPaths },
      this.thresholds,
    );
    const at = new Date().toISOString();
    this.checkedAt = at;
    this.latestReasons = evaluation.reasons;
    await this.flushUnaudited();

    const next = evaluation.state;
    const current = this.state;
    if (current === null || !isBetter(next, current)) {
      this.betterStreak = 0;
      if (current === null || next !== current) {
        // First reading, or worse: take effect now (fail closed), then record it.
        this.apply({ from: current, to: next, reasons: evaluation.reasons, at });
        await this.record({ from: current, to: next, reasons: evaluation.reasons, at });
      } else {
        this.reasons = evaluation.reasons;
      }
    } else {
      this.betterStreakWorst = this.betterStreak === 0 ? next : worse(this.betterStreakWorst, next);
      this.betterStreak++;
      if (this.betterStreak >= this.recoveryPolls && this.unaudited.length === 0) {
        const change = { from: current, to: this.betterStreakWorst, reasons: evaluation.reasons, at };
        // Better: only once its record is durable (no audit, no action).
        if (await this.record(change, false)) {
          this.apply(change);
          this.betterStreak = 0;
        }
      }
    }
    return this.snapshot();
  }

  private apply(change: HealthChange): void {
    this.state = change.to;
    this.since = change.at;
    this.reasons = change.reasons;
    if (change.from !== change.to) {
      const log = change.to === "critical" ? "error" : change.to === "degraded" ? "warn" : "notice";
      this.logger?.[log](`health ${change.from ?? "unknown"} → ${change.to}`, { reasons: change.reasons.map((r) => r.code).join(",") || "-" });
      for (const l of this.listeners) {
        try {
          l(change);
        } catch (e) {
          this.logger?.error("health change listener threw", { error: e instanceof Error ? e : String(e) });
        }
      }
    }
  }

  /** Appends a state-change record. On failure: queue it for the next poll (queue=true) or report false. */
  private async record(change: HealthChange, queue = true): Promise<boolean> {
    try {
      await this.audit.append(this.eventOf(change));
      return true;
    } catch (e) {
      this.logger?.error("health change could not be audited", { from: change.from ?? "unknown", to: change.to, error: e instanceof Error ? e : String(e) });
      if (queue) {
        this.unaudited.push(change);
        if (this.unaudited.length > MAX_UNAUDITED) {
          const dropped = this.unaudited.splice(0, this.unaudited.length - MAX_UNAUDITED);
          this.logger?.error("health change records dropped: the ledger has refused them too long", { dropped: dropped.length });
        }
      }
      return false;
    }
  }

  private async flushUnaudited(): Promise<void> {
    while (this.unaudited.length > 0) {
      try {
        await this.audit.append(this.eventOf(this.unaudited[0]!));
        this.unaudited.shift();
      } catch (e) {
        this.logger?.error("health change still cannot be audited", { pending: this.unaudited.length, error: e instanceof Error ? e : String(e) });
        return;
      }
    }
  }

  private eventOf(change: HealthChange) {
    const reasons: JsonValue[] = change.reasons.slice(0, MAX_REASONS_RECORDED).map((r) => ({
      code: r.code,
      severity: r.severity,
      source: r.source,
      message: r.message,
      ...(r.gpuIndex !== undefined ? { gpu: r.gpuIndex } : {}),
    }));
    return {
      actor: this.actor,
      category: "health",
      action: "health.state",
      target: "box",
      outcome: "info" as const,
      details: {
        from: change.from ?? "unknown",
        to: change.to,
        observedAt: change.at,
        reasons,
        ...(change.reasons.length > MAX_REASONS_RECORDED ? { reasonsOmitted: change.reasons.length - MAX_REASONS_RECORDED } : {}),
      },
    };
  }

  /**
   * Replaces the limits given (keys not given, or undefined, keep their current
   * value) through the same validation as at start (resolveThresholds). Resolves
   * with the limits in force. The change is recorded first (category "health",
   * action "health.thresholds", every changed limit with its old and new value)
   * and takes effect only once that record is durable; the next poll evaluates
   * with it, and a change of state that follows is audited like any other.
   * Rejects, keeping the old limits: BAD_CONFIG for an unknown limit or a value
   * resolveThresholds refuses; the ledger's own error (LEDGER_FULL, …) when the
   * record cannot be written. Setting the values already in force records nothing.
   * Calls run one after another.
   */
  setThresholds(partial: Partial<HealthThresholds>, context: { reason?: string } = {}): Promise<HealthThresholds> {
    const run = this.thresholdsQueue.then(() => this.replaceThresholds(partial, context.reason));
    this.thresholdsQueue = run.catch(() => undefined);
    return run;
  }

  private async replaceThresholds(partial: Partial<HealthThresholds>, reason: string | undefined): Promise<HealthThresholds> {
    if (this.closed) throw new SealboxError("INTERNAL", "the health monitor is closed");
    const given = Object.entries(partial).filter(([, v]) => v !== undefined);
    const unknown = given.map(([k]) => k).filter((k) => !Object.hasOwn(DEFAULT_HEALTH_THRESHOLDS, k));
    if (unknown.length > 0) {
      throw new SealboxError("BAD_CONFIG", `health thresholds: unknown limit ${unknown.join(", ")} (known: ${Object.keys(DEFAULT_HEALTH_THRESHOLDS).join(", ")})`, { details: { unknown } });
    }
    const old = this.thresholds;
    const next = resolveThresholds({ ...old, ...(Object.fromEntries(given) as Partial<HealthThresholds>) });
    const keys = (Object.keys(next) as (keyof HealthThresholds)[]).filter((k) => next[k] !== old[k]);
    if (keys.length === 0) return old;
    const changed: { [key: string]: JsonValue } = {};
    for (const k of keys) changed[k] = { from: old[k], to: next[k] };
    try {
      await this.audit.append({
        actor: this.actor,
        category: "health",
        action: "health.thresholds",
        target: "box",
        outcome: "success",
        details: { changed, thresholds: { ...next }, ...(reason !== undefined ? { reason } : {}) },
      });
    } catch (e) {
      // No audit, no action: the operator changed what "critical" means, and that must be on record first.
      const error = toSealboxError(e, "LEDGER_WRITE_FAILED");
      this.logger?.error("health thresholds unchanged: their change could not be audited", { changed: keys.join(","), error: error.message });
      throw new SealboxError(error.code, `the health thresholds were not changed: their audit record could not be written (${error.message})`, { cause: e, details: { changed } });
    }
    this.thresholds = next;
    this.logger?.notice("health thresholds changed", { changed: keys.map((k) => `${k}:${String(old[k])}→${String(next[k])}`).join(",") });
    return next;
  }

  /** The limits in force. */
  get currentThresholds(): Readonly<HealthThresholds> {
    return this.thresholds;
  }

  /** Called with each change of state, after it takes effect. Returns an unsubscribe function. */
  onChange(listener: (change: HealthChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get currentState(): HealthState | "unknown" {
    return this.state ?? "unknown";
  }

  private fallbackActive(): boolean {
    return this.cpuFallback && this.state === "critical" && this.reasons.filter((r) => r.severity === "critical").every((r) => r.source === "gpu");
  }

  /**
   * Before each inference request. Throws HEALTH_CRITICAL (retryable) while the
   * box is critical or not yet checked; with a CPU fallback configured and only
   * the GPU critical, returns { cpuFallback: true } instead.
   */
  check(): HealthCheckResult {
    if (this.state === null) throw new SealboxError("HEALTH_CRITICAL", "the box's health has not been checked yet; inference is refused until it has", { details: { state: "unknown" } });
    if (this.state !== "critical") return { state: this.state, cpuFallback: false };
    if (this.fallbackActive()) return { state: this.state, cpuFallback: true };
    const critical = this.reasons.filter((r) => r.severity === "critical");
    throw new SealboxError("HEALTH_CRITICAL", `the box's health is critical: ${critical.map((r) => r.message).join("; ") || "see status"}`, {
      details: { state: "critical", since: this.since, reasons: critical.map((r) => ({ code: r.code, message: r.message })) },
    });
  }

  snapshot(): HealthSnapshot {
    return {
      state: this.currentState,
      since: this.since,
      checkedAt: this.checkedAt,
      reasons: this.reasons,
      latestReasons: this.latestReasons,
      recoveringPolls: this.betterStreak,
      cpuFallbackConfigured: this.cpuFallback,
      cpuFallbackActive: this.fallbackActive(),
      unauditedChanges: this.unaudited.length,
      gpu: this.lastGpu,
      system: this.lastSystem,
    };
  }

  /** The snapshot as plain JSON, for the status endpoint (HealthPort.status). */
  status(): { [key: string]: JsonValue } {
    return JSON.parse(JSON.stringify(this.snapshot())) as { [key: string]: JsonValue };
  }

  /** Stops polling and waits for a poll in flight. Does not close the probes (their owner does). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.inFlight?.catch(() => undefined);
  }
}
