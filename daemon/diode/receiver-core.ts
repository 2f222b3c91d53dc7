// The receiver's logic, free of sockets: frames in; verified entries,
// accepted checkpoints and events out (through ReceiverOutput), plus the
// state to persist. The rules it keeps (docs/diode.md §Receiver):
//
// - An entry is written only when its block's records, with the block's left
//   and right hashes, reproduce the root of a checkpoint whose signature
//   verifies under the configured key, AND the block's view of [0, head)
//   equals the receiver's own verified frontier (so the checkpoint extends
//   everything already accepted: that is the consistency proof).
// - A checkpoint is accepted once the verified entries reach its size and
//   reproduce its root; a signed checkpoint that contradicts the verified
//   entries is reported (inconsistent_checkpoint) and never accepted.
// - Frames of an epoch older than the sender's current one are replays.

import { crc32 } from "node:zlib";
import { isSealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { decodeBlock, type DiodeBlock } from "./block.js";
import { DecoderPool, type AbandonReason, type OpenBlock } from "./decoder-pool.js";
import { FLAG_CAROUSEL, parseFrame, type HeartbeatFrame, type SymbolFrame } from "./frame.js";
import { parseHeartbeat } from "./heartbeat.js";
import { bytesEqual, CompactRange, leafHashOf } from "./merkle-range.js";
import { verifyCheckpoint, verifyHeartbeatNote, type NoteVerifier, type VerifiedCheckpoint } from "./notes.js";
import type { PendingStore } from "./pending-store.js";
import type { BundleView, ReceiverEvent, ReceiverOutput } from "./receiver-output.js";
import type { LastHeartbeat, ReceiverState } from "./receiver-state.js";

export interface ReceiverCoreOptions {
  verifier: NoteVerifier;
  output: ReceiverOutput;
  pending: PendingStore;
  state: ReceiverState;
  log: Logger;
  nowMs?: () => number;
  /** Defaults to 64. */
  maxDecoders?: number;
  /** Bytes of symbols held by open decoders. Defaults to 96 MiB. */
  maxDecoderBytes?: number;
  /** A decoder with no symbol for this long is abandoned. Defaults to 30 s. */
  decoderIdleMs?: number;
  /** …or with no symbol while this many symbols of other blocks arrived. Defaults to 8192 (the sender interleaves ≤ 64 blocks). */
  decoderIdleSymbols?: number;
  /** No verified heartbeat for this long is reported as heartbeat_lost. Defaults to 3500 ms. */
  heartbeatTimeoutMs?: number;
  /** Signature checks of heartbeats per second, at most (a flood of forged heartbeats costs no more). Defaults to 20. */
  heartbeatChecksPerS?: number;
  /** Called when work done outside onFrame (joining parked blocks) fails for a reason other than bad input. */
  onFatal?: (e: unknown) => void;
}

const MAX_PENDING_CHECKPOINTS = 64;
const MAX_ACCEPTED_ROOTS = 64;
const MAX_CP_CACHE = 64;
/** Repeated problems (bad CRCs, forged signatures, replays) become one event per kind per this period, with a count. */
const REPORT_EVERY_MS = 10_000;

type Gap = { from: number; to: number; sinceMs: number; reason: string };

export class ReceiverCore {
  private readonly o: Required<Pick<ReceiverCoreOptions, "maxDecoders" | "maxDecoderBytes" | "decoderIdleMs" | "decoderIdleSymbols" | "heartbeatTimeoutMs" | "heartbeatChecksPerS">> & ReceiverCoreOptions;
  private readonly now: () => number;
  private readonly pool: DecoderPool;
  private frontier: CompactRange;
  private epoch: bigint | undefined;
  private lastHeartbeatSeq = -1;
  private lastHeartbeatMs: number | undefined;
  private heartbeatLost = false;
  private heartbeatChecks = { second: 0, count: 0 };
  private lastHeartbeatText = "";
  /** Signature-verified checkpoints beyond head, by size, waiting for the entries that prove them. */
  private readonly pendingCps = new Map<number, VerifiedCheckpoint>();
  private readonly acceptedRoots = new Map<number, Uint8Array>();
  /** Parked blocks proven this run: the compact range after them, so joining them needs no second hashing. */
  private readonly parkedProofs = new Map<number, { count: number; crc: number; end: CompactRange }>();
  private readonly cpCache = new Map<string, VerifiedCheckpoint | "bad">();
  private gaps: Gap[] = [];
  private readonly reported = new Map<string, { type: string; count: number; firstMs: number; details: Record<string, unknown> }>();
  private lastReportMs = 0;
  private firstHeartbeatHead: number | undefined;
  private lastProgressMs: number;
  readonly counters: Record<string, number>;
  /** Set when something changed that the state file should record. */
  dirty = false;
  private draining = false;
  private closed = false;

  constructor(options: ReceiverCoreOptions) {
    this.o = { maxDecoders: 64, maxDecoderBytes: 96 * 1024 * 1024, decoderIdleMs: 30_000, decoderIdleSymbols: 8192, heartbeatTimeoutMs: 3500, heartbeatChecksPerS: 20, ...options };
    this.now = options.nowMs ?? (() => performance.now());
    const s = options.state;
    this.frontier = CompactRange.of(s.head, s.frontier.map((h) => Buffer.from(h, "base64")));
    this.epoch = s.senderEpoch === null ? undefined : BigInt(s.senderEpoch);
    for (const [size, root] of s.acceptedRoots) this.acceptedRoots.set(size, Buffer.from(root, "base64"));
    this.counters = { ...s.counters };
    this.lastProgressMs = this.now();
    this.pool = new DecoderPool({ maxDecoders: this.o.maxDecoders, maxHeldBytes: this.o.maxDecoderBytes, onAbandon: (b, r) => this.onAbandon(b, r) });
  }

  private get s(): ReceiverState {
    return this.o.state;
  }

  get head(): number {
    return this.s.head;
  }

  /** The sender's head as of the first verified heartbeat this run (the target of --once). */
  get firstHeartbeatTarget(): number | undefined {
    return this.firstHeartbeatHead;
  }

  private count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  private event(type: string, details: Record<string, unknown>): void {
    const e: ReceiverEvent = { type, time: new Date().toISOString(), ...details };
    this.o.output.event(e);
    this.dirty = true;
  }

  /** Counts a repeated problem; tick() turns the counts into one event per kind (and `what`) per period. */
  private report(type: string, details: Record<string, unknown>): void {
    const key = typeof details.what === "string" ? `${type}/${details.what}` : type;
    const r = this.reported.get(key);
    if (r) r.count++;
    else this.reported.set(key, { type, count: 1, firstMs: this.now(), details });
  }

  onFrame(bytes: Uint8Array): void {
    this.count("frames");
    const f = parseFrame(bytes);
    if (f.kind === "invalid") {
      this.count(`invalid_${f.reason}`);
      this.report("corrupt", { reason: f.reason });
      return;
    }
    if (this.epoch !== undefined && f.epoch < this.epoch) {
      this.count("replayed");
      this.report("replay", { epoch: f.epoch.toString(), current: this.epoch.toString() });
      return;
    }
    if (f.kind === "symbol") this.onSymbol(f);
    else this.onHeartbeat(f);
  }

  private onSymbol(f: SymbolFrame): void {
    const end = f.firstSeq + f.count;
    if (end <= this.s.head || this.o.pending.covers(f.firstSeq, end)) {
      this.count("symbols_not_needed");
      return;
    }
    if (this.o.output.backlogged) {
      // The disk is behind: memory stays bounded, the carousel brings these again.
      this.count("symbols_dropped_disk_behind");
      return;
    }
    const object = this.pool.add(f, this.now());
    if (object !== undefined) this.onObject(object, f);
  }

  private onAbandon(b: OpenBlock, reason: AbandonReason): void {
    const end = b.firstSeq + b.count;
    this.count(`blocks_abandoned_${reason}`);
    if (end <= this.s.head || this.o.pending.covers(b.firstSeq, end)) return;
    this.event("block_unrecoverable", {
      epoch: b.epoch.toString(),
      block: b.block,
      from: b.firstSeq,
      to: end,
      reason,
      symbolsReceived: Math.round(b.heldBytes / (b.symbolBytes + 4)),
      symbolsNeeded: Math.ceil(b.transferBytes / b.symbolBytes),
      recovery: "carousel",
    });
    this.openGap(Math.max(b.firstSeq, this.s.head), end, "block_unrecoverable");
  }

  private checkCheckpoint(note: string, where: string): VerifiedCheckpoint | undefined {
    const cached = this.cpCache.get(note);
    if (cached !== undefined) {
      if (cached === "bad") this.report("bad_signature", { what: "checkpoint", where });
      return cached === "bad" ? undefined : cached;
    }
    let cp: VerifiedCheckpoint | "bad";
    try {
      cp = verifyCheckpoint(note, this.o.verifier);
      if (this.s.origin !== null && cp.origin !== this.s.origin) {
        this.report("bad_signature", { what: "checkpoint", where, reason: `origin "${cp.origin}" is not this log's ("${this.s.origin}")` });
        cp = "bad";
      }
    } catch (e) {
      this.count("bad_checkpoints");
      this.report("bad_signature", { what: "checkpoint", where, reason: (e as Error).message });
      cp = "bad";
    }
    if (this.cpCache.size >= MAX_CP_CACHE) this.cpCache.delete(this.cpCache.keys().next().value as string);
    this.cpCache.set(note, cp);
    return cp === "bad" ? undefined : cp;
  }

  private onObject(object: Uint8Array, f: SymbolFrame): void {
    let block: DiodeBlock;
    try {
      block = decodeBlock(object);
    } catch (e) {
      this.count("bad_blocks");
      this.report("bad_block", { reason: (e as Error).message, epoch: f.epoch.toString(), block: f.block });
      return;
    }
    if (block.epoch !== f.epoch || block.block !== f.block || block.firstSeq !== f.firstSeq || block.records.length !== f.count) {
      this.count("bad_blocks");
      this.report("bad_block", { reason: "the block does not match the frames that carried it", epoch: f.epoch.toString(), block: f.block });
      return;
    }
    this.processBlock(block, object, true);
  }

  /** Verifies a decoded block and writes or parks it. `fresh`: it just arrived (not from the pending store). */
  private processBlock(block: DiodeBlock, object: Uint8Array, fresh: boolean): void {
    const first = block.firstSeq;
    const end = first + block.records.length;
    const cp = this.checkCheckpoint(block.checkpoint, "block");
    if (cp === undefined) return;
    if (cp.size < end) {
      this.count("bad_blocks");
      this.report("bad_proof", { reason: `block [${first}, ${end}) beyond its checkpoint's size ${cp.size}` });
      return;
    }
    if (end <= this.s.head) {
      this.count("blocks_duplicate");
      return;
    }
    let cr: CompactRange;
    try {
      cr = CompactRange.of(first, block.left);
    } catch (e) {
      this.count("bad_blocks");
      this.report("bad_proof", { reason: (e as Error).message });
      return;
    }
    const head = this.s.head;
    if (first > head) {
      if (!fresh) return;
      // Ahead of a gap: prove it now against its checkpoint alone, park it, join it later.
      const proven = cr.clone();
      for (const r of block.records) proven.appendLeafHash(leafHashOf(r));
      if (!this.rootMatches(proven, cp, block)) return;
      if (this.rebaseIfFresh(first, block)) return this.processBlock(block, object, true);
      if (this.o.pending.put(first, block.records.length, object)) {
        // Remember what was proven, so the join need not hash the block again.
        this.parkedProofs.set(first, { count: block.records.length, crc: crc32(object), end: proven });
        this.count("blocks_parked");
        this.openGap(head, first, "out_of_order");
      } else this.count("blocks_not_parked");
      this.addCheckpoint(cp);
      this.dirty = true;
      return;
    }
    // first ≤ head < end: walk the leaves, check the join at head and any waiting checkpoint on the way.
    const checkAt = new Map<number, VerifiedCheckpoint>();
    for (const [size, p] of this.pendingCps) if (size > head && size <= end) checkAt.set(size, p);
    const confirmed: VerifiedCheckpoint[] = [];
    const contradicted: VerifiedCheckpoint[] = [];
    const inconsistent = (): void => {
      this.event("inconsistent_checkpoint", {
        checkpoint: { size: cp.size, note: cp.note },
        at: head,
        reason: "the block's view of the entries before it differs from the verified entries",
      });
      this.count("inconsistent_checkpoints");
    };
    const parked = this.parkedProofs.get(first);
    this.parkedProofs.delete(first);
    if (!fresh && parked && first === head && checkAt.size === 0 && parked.count === block.records.length && parked.crc === crc32(object)) {
      // Proven against its checkpoint when parked; it joins if its view of [0, head) is ours.
      if (!cr.equals(this.frontier)) return inconsistent();
      cr = parked.end;
    } else {
      for (let i = 0; i < block.records.length; i++) {
        if (first + i === head && !cr.equals(this.frontier)) return inconsistent();
        cr.appendLeafHash(leafHashOf(block.records[i]!));
        const waiting = checkAt.get(first + i + 1);
        if (waiting) (bytesEqual(cr.root(), waiting.rootHash) ? confirmed : contradicted).push(waiting);
      }
      if (!this.rootMatches(cr, cp, block)) return;
    }
    // Verified: every entry below end is proven and consistent with what was accepted before.
    if (this.s.box === null) this.s.box = boxOf(block.records[head - first]!);
    for (let i = head - first; i < block.records.length; i++) this.o.output.appendEntry(first + i, block.records[i]!);
    this.s.head = end;
    this.s.origin ??= cp.origin;
    this.s.headProof = { note: cp.note, size: cp.size, right: block.right.map(b64) };
    this.frontier = cr;
    this.lastProgressMs = this.now();
    this.count("entries_written", end - head);
    for (const p of contradicted) {
      this.pendingCps.delete(p.size);
      this.count("inconsistent_checkpoints");
      this.event("inconsistent_checkpoint", { checkpoint: { size: p.size, note: p.note }, at: p.size, reason: "its root differs from the verified entries" });
    }
    for (const p of confirmed) this.accept(p);
    if (cp.size === end) this.accept(cp);
    else this.addCheckpoint(cp);
    for (const [size] of this.pendingCps) if (size <= end) this.pendingCps.delete(size);
    this.closeGaps();
    this.dirty = true;
    if (fresh) this.drainParked();
  }

  /**
   * Joins parked blocks whose turn has come, in order, one per turn of the
   * event loop: a burst of joins (thousands of entries each) must not stall
   * the socket, whose buffer would overflow and lose the frames behind it.
   */
  private drainParked(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    const step = (): void => {
      if (this.closed) return;
      const bytes = this.o.pending.takeNext(this.s.head);
      if (bytes === undefined) {
        this.draining = false;
        for (const first of this.parkedProofs.keys()) if (first < this.s.head) this.parkedProofs.delete(first);
        return;
      }
      try {
        this.processBlock(decodeBlock(bytes), bytes, false);
      } catch (e) {
        if (!isSealboxError(e, "BAD_FORMAT")) {
          this.draining = false;
          if (this.o.onFatal) return this.o.onFatal(e);
          throw e;
        }
        this.count("bad_parked_blocks");
      }
      setImmediate(step);
    };
    setImmediate(step);
  }

  private rootMatches(cr: CompactRange, cp: VerifiedCheckpoint, block: DiodeBlock): boolean {
    let root: Uint8Array;
    try {
      root = cr.rootWithRight(cp.size, block.right);
    } catch (e) {
      this.count("bad_blocks");
      this.report("bad_proof", { reason: (e as Error).message });
      return false;
    }
    if (!bytesEqual(root, cp.rootHash)) {
      this.count("bad_blocks");
      this.report("bad_proof", { reason: `entries [${block.firstSeq}, ${block.firstSeq + block.records.length}) do not reproduce the root of checkpoint ${cp.size}` });
      return false;
    }
    return true;
  }

  /**
   * A receiver that has written nothing may start at the sender's oldest
   * retained entry, when the sender no longer has entry 0: the block's left
   * hashes, just proven against a signed checkpoint, become the frontier.
   */
  private rebaseIfFresh(first: number, block: DiodeBlock): boolean {
    const oldest = this.s.senderOldest;
    if (this.s.head !== this.s.base || this.s.head !== 0 || oldest === null || oldest <= this.s.head || first !== oldest) return false;
    this.event("unrecoverable", { from: 0, to: first, reason: "the sender no longer retains these entries; output starts at its oldest retained entry" });
    this.s.unrecoverable.push([0, first]);
    this.s.base = first;
    this.s.head = first;
    this.s.baseLeft = block.left.map(b64);
    this.frontier = CompactRange.of(first, block.left);
    this.dirty = true;
    return true;
  }

  private accept(cp: VerifiedCheckpoint): void {
    if (this.s.checkpoint !== null && cp.size <= this.s.checkpoint.size) return;
    this.s.origin ??= cp.origin;
    this.s.checkpoint = { size: cp.size, root: Buffer.from(cp.rootHash).toString("base64") };
    this.acceptedRoots.set(cp.size, cp.rootHash);
    if (this.acceptedRoots.size > MAX_ACCEPTED_ROOTS) this.acceptedRoots.delete(this.acceptedRoots.keys().next().value as number);
    this.o.output.acceptCheckpoint(cp.size, cp.note);
    if (cp.size === this.s.head) this.s.headProof = { note: cp.note, size: cp.size, right: [] };
    this.count("checkpoints_accepted");
    this.dirty = true;
  }

  /** A signature-verified checkpoint from a block or a heartbeat: check what can be checked now, keep the rest. */
  private addCheckpoint(cp: VerifiedCheckpoint): void {
    const head = this.s.head;
    if (cp.size < head) {
      const known = this.acceptedRoots.get(cp.size);
      if (known && !bytesEqual(known, cp.rootHash)) {
        this.count("inconsistent_checkpoints");
        this.event("inconsistent_checkpoint", { checkpoint: { size: cp.size, note: cp.note }, at: cp.size, reason: "its root differs from the checkpoint of that size accepted before" });
        this.cpCache.set(cp.note, "bad");
      }
      return;
    }
    if (cp.size === head) {
      if (bytesEqual(this.frontier.root(), cp.rootHash)) this.accept(cp);
      else {
        this.count("inconsistent_checkpoints");
        this.event("inconsistent_checkpoint", { checkpoint: { size: cp.size, note: cp.note }, at: head, reason: "its root differs from the verified entries" });
        this.cpCache.set(cp.note, "bad");
      }
      return;
    }
    const have = this.pendingCps.get(cp.size);
    if (have) {
      if (!bytesEqual(have.rootHash, cp.rootHash)) {
        this.count("inconsistent_checkpoints");
        this.event("inconsistent_checkpoint", {
          checkpoint: { size: cp.size, note: cp.note },
          other: have.note,
          at: cp.size,
          reason: "two signed checkpoints of the same size with different roots (a split view)",
        });
      }
      return;
    }
    if (this.pendingCps.size >= MAX_PENDING_CHECKPOINTS) this.pendingCps.delete(this.pendingCps.keys().next().value as number);
    this.pendingCps.set(cp.size, cp);
  }

  private onHeartbeat(f: HeartbeatFrame): void {
    if (f.heartbeat === this.lastHeartbeatText) {
      this.count("heartbeats_duplicate");
      return;
    }
    const second = Math.floor(this.now() / 1000);
    if (this.heartbeatChecks.second !== second) this.heartbeatChecks = { second, count: 0 };
    if (++this.heartbeatChecks.count > this.o.heartbeatChecksPerS) {
      this.count("heartbeats_over_budget");
      return;
    }
    let text: string;
    try {
      text = verifyHeartbeatNote(f.heartbeat, this.o.verifier);
    } catch (e) {
      this.count("bad_heartbeats");
      this.report("bad_signature", { what: "heartbeat", reason: (e as Error).message });
      return;
    }
    const hb = parseHeartbeat(text);
    if (hb === undefined || hb.epoch !== f.epoch) {
      this.count("bad_heartbeats");
      this.report("bad_heartbeat", { reason: hb === undefined ? "malformed heartbeat note" : "heartbeat epoch differs from its frame's" });
      return;
    }
    if (this.epoch !== undefined && hb.epoch < this.epoch) return; // filtered before; a signed old heartbeat is still a replay
    if (this.epoch === undefined || hb.epoch > this.epoch) {
      if (this.epoch !== undefined) this.event("sender_restarted", { previousEpoch: this.epoch.toString(), epoch: hb.epoch.toString() });
      this.epoch = hb.epoch;
      this.s.senderEpoch = hb.epoch.toString();
      this.lastHeartbeatSeq = -1;
      this.pool.endEpochsBefore(hb.epoch);
    }
    if (hb.seq <= this.lastHeartbeatSeq) {
      this.count("heartbeats_stale");
      return;
    }
    this.lastHeartbeatSeq = hb.seq;
    this.lastHeartbeatText = f.heartbeat;
    this.lastHeartbeatMs = this.now();
    this.count("heartbeats");
    if (this.heartbeatLost) {
      this.heartbeatLost = false;
      this.event("heartbeat_resumed", { epoch: hb.epoch.toString(), seq: hb.seq });
    }
    const last: LastHeartbeat = { receivedAt: new Date().toISOString(), epoch: hb.epoch.toString(), seq: hb.seq, head: hb.head, oldest: hb.oldest, time: hb.time, catchupBoundS: hb.catchupBoundS };
    this.s.lastHeartbeat = last;
    if (f.checkpoint !== "") {
      const cp = this.checkCheckpoint(f.checkpoint, "heartbeat");
      if (cp === undefined) return;
      if (cp.size !== hb.head) {
        this.report("bad_heartbeat", { reason: `heartbeat head ${hb.head} differs from its checkpoint's size ${cp.size}` });
        return;
      }
      this.addCheckpoint(cp);
    }
    this.s.senderHead = hb.head;
    this.s.senderOldest = hb.oldest;
    this.firstHeartbeatHead ??= hb.head;
    if (hb.oldest > this.s.head && this.s.head > this.s.base && !this.s.unrecoverable.some(([a, b]) => a === this.s.head && b === hb.oldest)) {
      this.s.unrecoverable.push([this.s.head, hb.oldest]);
      this.event("unrecoverable", { from: this.s.head, to: hb.oldest, reason: "the sender no longer retains these entries" });
    }
    this.dirty = true;
  }

  /** True when the sender no longer holds entries this receiver still lacks. */
  get stuck(): boolean {
    const oldest = this.s.senderOldest;
    return oldest !== null && oldest > this.s.head && this.s.head > this.s.base;
  }

  private openGap(from: number, to: number, reason: string): void {
    if (to <= from) return;
    for (const g of this.gaps) {
      if (from < g.to && to > g.from) {
        g.from = Math.min(g.from, from);
        g.to = Math.max(g.to, to);
        return;
      }
    }
    this.gaps.push({ from, to, sinceMs: this.now(), reason });
    this.event("gap", { from, to, reason });
  }

  private closeGaps(): void {
    const head = this.s.head;
    const still: Gap[] = [];
    for (const g of this.gaps) {
      if (head >= g.to) this.event("filled", { from: g.from, to: g.to, afterMs: Math.round(this.now() - g.sinceMs) });
      else still.push(g);
    }
    this.gaps = still;
  }

  /** Timers: decoder expiry, heartbeat loss, periodic problem reports (all of them now with force), stalled-progress gaps. */
  tick(force = false): void {
    const now = this.now();
    // A new-entry block is sent once, interleaved with a few dozen others: silent for
    // decoderIdleSymbols, it is over. A carousel block comes again next pass with new
    // symbols, so a partial one waits for it (about the sender's stated catch-up bound).
    const boundS = this.s.lastHeartbeat?.catchupBoundS ?? -1;
    const carouselIdleMs = Math.max(this.o.decoderIdleMs * 2, boundS > 0 ? 3 * boundS * 1000 : 0);
    this.pool.expire(now, (b) =>
      (b.flags & FLAG_CAROUSEL) !== 0 ? { idleMs: carouselIdleMs, idleSymbols: Infinity } : { idleMs: this.o.decoderIdleMs, idleSymbols: this.o.decoderIdleSymbols },
    );
    if (this.lastHeartbeatMs !== undefined && !this.heartbeatLost && now - this.lastHeartbeatMs > this.o.heartbeatTimeoutMs) {
      this.heartbeatLost = true;
      this.event("heartbeat_lost", { lastHeartbeat: this.s.lastHeartbeat, silentMs: Math.round(now - this.lastHeartbeatMs) });
    }
    const senderHead = this.s.senderHead;
    if (senderHead !== null && senderHead > this.s.head && now - this.lastProgressMs > 3 * this.o.heartbeatTimeoutMs) {
      this.openGap(this.s.head, senderHead, "stalled");
    }
    if ((force || now - this.lastReportMs >= REPORT_EVERY_MS) && this.reported.size > 0) {
      for (const r of this.reported.values()) this.event(r.type, { count: r.count, periodMs: Math.round(now - r.firstMs), ...r.details });
      this.reported.clear();
      this.lastReportMs = now;
    }
  }

  /** Reports what is still counted but not yet written as an event (call before exit). */
  flushReports(): void {
    this.tick(true);
  }

  /** What bundle.json should say about the entries written, or undefined before the first. */
  bundleView(vkey: string): BundleView | undefined {
    const s = this.s;
    if (s.headProof === null || s.origin === null || s.head === s.base) return undefined;
    return { origin: s.origin, box: s.box ?? "", vkey, from: s.base, to: s.head, proof: s.headProof, left: s.baseLeft };
  }

  /** The state to persist (after the output was flushed). */
  snapshot(): ReceiverState {
    const s = this.s;
    s.frontier = this.frontier.frontier.map((h) => Buffer.from(h).toString("base64"));
    s.acceptedRoots = [...this.acceptedRoots].map(([size, root]) => [size, Buffer.from(root).toString("base64")]);
    s.pending = this.o.pending.ranges();
    const missing: [number, number][] = [];
    let at = s.head;
    const target = Math.max(s.senderHead ?? 0, at);
    for (const [a, b] of s.pending) {
      if (a > at) missing.push([at, Math.min(a, target)]);
      at = Math.max(at, b);
    }
    if (at < target) missing.push([at, target]);
    s.missing = missing.filter(([a, b]) => b > a);
    s.counters = {
      ...this.counters,
      blocks_decoded: this.pool.stats.decoded,
      symbol_header_mismatches: this.pool.stats.headerMismatch,
      fec_resets: this.pool.stats.fecResets,
      decoders_open: this.pool.size,
      decoder_bytes: this.pool.heldBytes,
      pending_bytes: this.o.pending.bytes,
    };
    s.updatedAt = new Date().toISOString();
    return s;
  }

  close(): void {
    this.closed = true;
    this.pool.clear();
  }
}

function b64(h: Uint8Array): string {
  return Buffer.from(h).toString("base64");
}

function boxOf(record: Uint8Array): string | null {
  try {
    const r = JSON.parse(Buffer.from(record).toString("utf8")) as { box?: unknown };
    return typeof r.box === "string" ? r.box : null;
  } catch {
    return null;
  }
}
