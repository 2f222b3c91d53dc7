// A bounded priority queue in front of a fixed number of slots (the context's
// parallel sequences). A request either runs at once, waits in a bounded line,
// or is refused with BUSY and a retry hint: never an unbounded wait, and memory
// bounded by slots + maxQueued whatever the load.
//
// Order: higher priority first, first-come first-served within a priority. A
// request of higher priority arriving at a full queue takes the place of the
// newest waiting request of the lowest priority below its own (that one gets
// BUSY), so the operator's console is never locked out by integrators.

import { SealboxError } from "../errors.js";

/** "high": the operator's console; "normal": integrators; "low": background work (replays, benchmarks). */
export type Priority = "high" | "normal" | "low";

const RANK: Record<Priority, number> = { high: 2, normal: 1, low: 0 };

export function isPriority(v: unknown): v is Priority {
  return v === "high" || v === "normal" || v === "low";
}

export interface RequestQueueOptions {
  /** Requests that may run at once (the context's sequences). */
  slots: number;
  /** Requests that may wait for a slot; one more is refused with BUSY. Defaults to 4 × slots. */
  maxQueued?: number;
  /** First guess of how long a request holds a slot, in ms, before any has finished. Defaults to 2000. */
  initialServiceMs?: number;
  /** Clock, for tests. Defaults to performance.now. */
  now?: () => number;
}

/** A slot held by a running request. release() is idempotent. */
export interface Lease {
  readonly id: string;
  release(): void;
}

/** A request's place: granted resolves with a lease (or rejects with BUSY/CANCELLED); cancel() leaves the line. */
export interface Ticket {
  readonly id: string;
  readonly priority: Priority;
  readonly granted: Promise<Lease>;
  /** 0 while running, 1 for the next to run, and so on; undefined once it has left. */
  position(): number | undefined;
  /** Leaves the line (or releases the slot once granted). Idempotent. */
  cancel(): void;
}

export interface QueueStats {
  slots: number;
  running: number;
  queued: number;
  maxQueued: number;
  /** Moving average of the time a request holds a slot, ms. */
  serviceMs: number;
}

interface Waiter {
  id: string;
  priority: Priority;
  order: number;
  resolve: (lease: Lease) => void;
  reject: (e: unknown) => void;
  state: "waiting" | "running" | "gone";
  startedAt: number;
}

export class RequestQueue {
  readonly slots: number;
  readonly maxQueued: number;
  private readonly now: () => number;
  private readonly waiting: Waiter[] = [];
  private readonly running = new Map<string, Waiter>();
  private order = 0;
  private serviceMs: number;
  private closed = false;

  constructor(options: RequestQueueOptions) {
    if (!Number.isInteger(options.slots) || options.slots < 1) throw new RangeError(`slots must be a positive integer, got ${options.slots}`);
    const maxQueued = options.maxQueued ?? options.slots * 4;
    if (!Number.isInteger(maxQueued) || maxQueued < 0) throw new RangeError(`maxQueued must be a non-negative integer, got ${maxQueued}`);
    this.slots = options.slots;
    this.maxQueued = maxQueued;
    this.now = options.now ?? (() => performance.now());
    this.serviceMs = options.initialServiceMs ?? 2000;
  }

  /**
   * Joins the line. Synchronous: throws BUSY (details.retryAfterMs) at once when
   * the line is full and nothing of lower priority can be displaced.
   */
  enter(id: string, priority: Priority): Ticket {
    if (this.closed) throw new SealboxError("MODEL_UNAVAILABLE", "the inference queue is closed");
    if (this.running.has(id) || this.waiting.some((w) => w.id === id)) {
      throw new SealboxError("BAD_REQUEST", `request id ${id} is already in the queue`);
    }
    let resolve!: (lease: Lease) => void;
    let reject!: (e: unknown) => void;
    const granted = new Promise<Lease>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A caller that cancels before awaiting must not see an unhandled rejection.
    granted.catch(() => undefined);
    const w: Waiter = { id, priority, order: this.order++, resolve, reject, state: "waiting", startedAt: 0 };

    if (this.running.size < this.slots && this.waiting.length === 0) {
      this.start(w);
    } else {
      if (this.waiting.length >= this.maxQueued) {
        const victim = this.lowestBelow(priority);
        if (!victim) throw this.busy(priority);
        this.remove(victim);
        victim.state = "gone";
        victim.reject(this.busy(victim.priority, "displaced by a request of higher priority"));
      }
      this.insert(w);
    }
    return {
      id,
      priority,
      granted,
      position: () => this.positionOf(w),
      cancel: () => this.leave(w, false),
    };
  }

  /** Position of a request by id: 0 running, n ≥ 1 waiting, undefined unknown. */
  position(id: string): number | undefined {
    if (this.running.has(id)) return 0;
    const i = this.waiting.findIndex((w) => w.id === id);
    return i < 0 ? undefined : i + 1;
  }

  stats(): QueueStats {
    return { slots: this.slots, running: this.running.size, queued: this.waiting.length, maxQueued: this.maxQueued, serviceMs: Math.round(this.serviceMs) };
  }

  /** The wait a caller refused now should leave before retrying, ms. */
  retryAfterMs(): number {
    const rounds = Math.ceil((this.waiting.length + 1) / this.slots);
    return Math.min(60_000, Math.max(100, Math.round(rounds * this.serviceMs)));
  }

  /** Refuses everything waiting (MODEL_UNAVAILABLE) and every later enter(). Running leases stay valid. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiting.splice(0)) {
      w.state = "gone";
      w.reject(new SealboxError("MODEL_UNAVAILABLE", "the inference service is shutting down"));
    }
  }

  private busy(priority: Priority, why = "the inference queue is full"): SealboxError {
    const retryAfterMs = this.retryAfterMs();
    return new SealboxError("BUSY", `${why}; retry in ${retryAfterMs} ms`, {
      details: { retryAfterMs, queued: this.waiting.length, maxQueued: this.maxQueued, running: this.running.size, priority },
    });
  }

  /** Keeps `waiting` sorted: priority descending, then arrival. */
  private insert(w: Waiter): void {
    let i = this.waiting.length;
    while (i > 0 && RANK[this.waiting[i - 1]!.priority] < RANK[w.priority]) i--;
    this.waiting.splice(i, 0, w);
  }

  private lowestBelow(priority: Priority): Waiter | undefined {
    const last = this.waiting[this.waiting.length - 1];
    return last && RANK[last.priority] < RANK[priority] ? last : undefined;
  }

  private remove(w: Waiter): void {
    const i = this.waiting.indexOf(w);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  private positionOf(w: Waiter): number | undefined {
    if (w.state === "running") return 0;
    if (w.state === "gone") return undefined;
    return this.waiting.indexOf(w) + 1;
  }

  private start(w: Waiter): void {
    w.state = "running";
    w.startedAt = this.now();
    this.running.set(w.id, w);
    w.resolve({ id: w.id, release: () => this.leave(w) });
  }

  /** `served`: the slot did work (its holding time feeds the retry estimate); a cancelled reservation did not. */
  private leave(w: Waiter, served = true): void {
    if (w.state === "waiting") {
      this.remove(w);
      w.state = "gone";
      w.reject(new SealboxError("CANCELLED", "the request was cancelled while waiting"));
      return;
    }
    if (w.state !== "running") return;
    w.state = "gone";
    this.running.delete(w.id);
    // Exponential moving average (weight 1/8) of slot holding time, for retry hints.
    if (served) this.serviceMs += (this.now() - w.startedAt - this.serviceMs) / 8;
    this.pump();
  }

  private pump(): void {
    while (this.running.size < this.slots && this.waiting.length > 0) this.start(this.waiting.shift()!);
  }
}
