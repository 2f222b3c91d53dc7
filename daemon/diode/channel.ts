// One diode output channel (UDP or serial): decides what to send next (new
// entries first, the carousel in the reserved and idle share), paces frames
// with a token bucket, interleaves blocks, and sends a signed heartbeat once
// a second. Never reads from its link.

import type { Logger } from "../log.js";
import { encodePrepared, outgoing, prepareBlock, type CheckpointSnapshot, type DiodeLedgerReader, type PreparedBlock } from "./block-builder.js";
import { CarouselTable, type CarouselEntry } from "./carousel-table.js";
import { catchupBound } from "./catchup-bound.js";
import type { BlockEncoder } from "./encoder-pool.js";
import { encodeHeartbeatFrame, FLAG_CAROUSEL, SYMBOL_OVERHEAD_BYTES } from "./frame.js";
import { formatHeartbeat } from "./heartbeat.js";
import { Interleaver } from "./interleaver.js";
import type { DiodeLink } from "./links.js";
import { TokenBucket } from "./pacing.js";

export interface ChannelPosition {
  /** Next entry to send as new (everything below went out at least once). */
  liveNext: number;
  /** Where the carousel's current pass stands. */
  carouselNext: number;
  /** Next block number. */
  block: number;
}

/**
 * The token bucket's depth in seconds of the paced rate. On a busy machine the
 * sender's thread is descheduled for tens of milliseconds at a time (the
 * encoder worker and the rest of the box share the cores); a bucket of a few
 * milliseconds forfeits the rate it could not use meanwhile, and the link ran
 * at half its configured rate. 25 ms lets it catch up, and the burst it allows
 * (400 KB at 128 Mb/s) is a tenth of a receiver's default socket buffer.
 */
const BURST_S = 0.025;

/** Blocks being encoded at once: enough to keep the rotation full, few enough to bound memory. */
const MAX_ENCODING = 2;

export interface ChannelOptions {
  link: DiodeLink;
  /** RaptorQ encoding (a worker thread in the daemon). */
  encoder: BlockEncoder;
  reader: DiodeLedgerReader;
  epoch: bigint;
  symbolBytes: number;
  repairRatio: number;
  interleaveDepth: number;
  blockSymbols: number;
  rateBytesPerS: number;
  carouselRateBytesPerS: number;
  /** Interleaver slots kept for the carousel while new entries queue. */
  carouselReservedSlots: number;
  /** A carousel pass over a small range waits until this long after the last one started. */
  carouselMinPassMs: number;
  heartbeatIntervalMs: number;
  position: ChannelPosition;
  /** The latest signed checkpoint the sender knows. */
  checkpoint(): CheckpointSnapshot | undefined;
  /** [oldest, authorizedEnd): what may be sent (authorizedEnd: covered by a write-ahead audit record). */
  bounds(): { oldest: number; authorizedEnd: number };
  signHeartbeat(body: string): string;
  onError(e: unknown): void;
  log: Logger;
}

// A type alias (not an interface) so it is assignable to JSON object types.
export type ChannelStatus = {
  kind: "udp" | "serial";
  target: string;
  symbolBytes: number;
  rateBytesPerS: number;
  carouselRateBytesPerS: number;
  interleaveDepth: number;
  blockSymbols: number;
  liveNext: number;
  liveBacklog: number;
  carousel: { next: number; passes: number; lastPassMs: number | null; lastPassWireBytes: number | null };
  framesSent: number;
  bytesSent: number;
  sendErrors: number;
  lastError: string | null;
  blocksSent: { live: number; carousel: number };
  /** Blocks encoded and not yet fully sent, and their frames: the sender's memory, bounded by the interleave depth. */
  openBlocks: number;
  queuedFrames: number;
  heartbeatsSent: number;
  /** Bytes a full carousel pass puts on the wire (measured, or estimated before the first pass ends). */
  retainedWireBytes: number;
  /** Bytes of the blocks that may be open when a receiver joins (at most the interleave depth of blocks). */
  inFlightWireBytes: number;
  /** (retainedWireBytes + inFlightWireBytes) ÷ the carousel's rate, plus a heartbeat (catchup-bound.ts): how long a fresh receiver needs at most when no new entries compete. */
  catchupBoundS: number;
  /** The same while new entries saturate the link and the carousel has only its reserved slots. */
  catchupBoundBusyS: number;
};

export class Channel {
  private readonly interleaver = new Interleaver();
  /** Blocks handed to the encoder and not back yet. */
  private readonly building: { carousel: boolean }[] = [];
  private readonly table: CarouselTable;
  private readonly bucket: TokenBucket;
  private readonly carouselBucket: TokenBucket | undefined;
  private readonly pos: ChannelPosition;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private stopped = false;
  private waitingForDrain = false;
  private pendingFrame: Uint8Array | undefined;
  private nextHeartbeatMs = 0;
  private heartbeatSeq = 0;
  private carouselPassStartMs = 0;
  private carouselResumeMs = 0;
  private passWireBytes = 0;
  private readonly stats = {
    blocksLive: 0,
    blocksCarousel: 0,
    heartbeats: 0,
    passes: 0,
    lastPassMs: undefined as number | undefined,
    lastPassWireBytes: undefined as number | undefined,
    recordBytesBuilt: 0,
    recordsBuilt: 0,
  };

  constructor(private readonly o: ChannelOptions) {
    const now = performance.now();
    const frameBytes = o.symbolBytes + SYMBOL_OVERHEAD_BYTES;
    this.bucket = new TokenBucket(o.rateBytesPerS, Math.max(4 * frameBytes, o.rateBytesPerS * BURST_S), now);
    this.carouselBucket =
      o.carouselRateBytesPerS < o.rateBytesPerS ? new TokenBucket(o.carouselRateBytesPerS, Math.max(frameBytes * o.blockSymbols, o.carouselRateBytesPerS * 0.1), now) : undefined;
    this.pos = { ...o.position };
    this.table = new CarouselTable((o.blockSymbols * o.symbolBytes) / 4);
    this.carouselPassStartMs = now;
    o.link.onDrain(() => {
      if (this.waitingForDrain) {
        this.waitingForDrain = false;
        this.schedule(0);
      }
    });
  }

  start(): void {
    this.schedule(0);
  }

  /** Something new may be sendable (a checkpoint, an audit record): look now. */
  wake(): void {
    if (!this.stopped && !this.waitingForDrain && this.pendingFrame === undefined) this.schedule(0);
  }

  position(): ChannelPosition {
    return { ...this.pos };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.interleaver.clear();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    if (ms <= 0) this.immediate = setImmediate(this.pump);
    else this.timer = setTimeout(this.pump, Math.max(1, Math.ceil(ms)));
  }

  private readonly pump = (): void => {
    this.timer = undefined;
    this.immediate = undefined;
    if (this.stopped) return;
    try {
      this.pumpOnce();
    } catch (e) {
      this.o.onError(e);
      // Keep the channel alive; try again shortly (a transient ledger read error, say).
      this.schedule(1000);
    }
  };

  private pumpOnce(): void {
    const turnStart = performance.now();
    for (;;) {
      const now = performance.now();
      if (now >= this.nextHeartbeatMs) this.sendHeartbeat(now);
      if (this.waitingForDrain) return;
      const frame = this.pendingFrame ?? this.take(now);
      if (frame === undefined) {
        this.scheduleIdle(now);
        return;
      }
      const wire = this.o.link.wireBytes(frame.length);
      if (!this.bucket.tryTake(wire, now)) {
        this.pendingFrame = frame;
        this.schedule(Math.min(this.bucket.waitMs(wire, now), this.nextHeartbeatMs - now));
        return;
      }
      this.pendingFrame = undefined;
      if (!this.o.link.send(frame)) {
        this.waitingForDrain = true;
        return;
      }
      // Yield to the event loop now and then: the box has other work.
      if (now - turnStart > 8) {
        this.schedule(0);
        return;
      }
    }
  }

  private scheduleIdle(now: number): void {
    let until = this.nextHeartbeatMs;
    if (this.carouselResumeMs > now) until = Math.min(until, this.carouselResumeMs);
    if (this.carouselBucket && this.carouselBucket.available(now) < 0) until = Math.min(until, now + this.carouselBucket.waitMs(0, now) + 1);
    this.schedule(Math.max(1, until - now));
  }

  private take(now: number): Uint8Array | undefined {
    const f = this.interleaver.next();
    // Blocks are prepared here and encoded off the event loop; they join the rotation when ready.
    if (this.interleaver.size + this.building.length < this.o.interleaveDepth || f === undefined) this.fill(now);
    return f ?? this.interleaver.next();
  }

  /** Open blocks plus those being encoded, matching pred. */
  private slots(pred: (carousel: boolean) => boolean): number {
    return this.interleaver.count((b) => pred(b.carousel)) + this.building.filter((b) => pred(b.carousel)).length;
  }

  /** Prepares at most one block (new entries first) and hands it to the encoder. */
  private fill(now: number): void {
    if (this.building.length >= MAX_ENCODING) return;
    const cp = this.o.checkpoint();
    if (cp === undefined) return;
    const { oldest, authorizedEnd } = this.o.bounds();
    const end = Math.min(authorizedEnd, cp.size);
    if (this.pos.liveNext > end && this.o.reader.size() < this.pos.liveNext) {
      this.o.log.warn("ledger is smaller than the diode's position; starting over", { liveNext: this.pos.liveNext, size: this.o.reader.size() });
      this.pos.liveNext = 0;
    }
    const depth = this.o.interleaveDepth;
    const open = this.interleaver.size + this.building.length;
    const liveOpen = this.slots((c) => !c);
    const liveWaiting = this.pos.liveNext < end;
    if (liveWaiting) {
      const liveCap = Math.max(1, depth - this.o.carouselReservedSlots);
      // New entries get up to liveCap slots, and one slot even when the carousel holds them all.
      const room = liveOpen === 0 ? open <= depth : liveOpen < liveCap && open < depth;
      if (room) {
        const p = this.prepare(cp, this.pos.liveNext, end, false);
        this.pos.liveNext += p.fields.count;
        this.stats.blocksLive++;
        this.encode(p, now);
        return;
      }
    }
    if (open >= depth || end <= oldest) return;
    // While new entries are queued or in flight the carousel keeps to its reserved slots;
    // when the link is otherwise idle it takes them all.
    if ((liveWaiting || liveOpen > 0) && open - liveOpen >= this.o.carouselReservedSlots) return;
    if (this.carouselBucket && this.carouselBucket.available(now) < 0) return;
    if (this.pos.carouselNext < oldest || this.pos.carouselNext > end) this.pos.carouselNext = oldest;
    if (this.pos.carouselNext === end) {
      // Every block of this pass is built; the next pass starts once they have all gone
      // out, so the carousel never has two copies of the same range in flight.
      if (this.slots((c) => c) > 0) return;
      this.finishPass(now, oldest);
    }
    if (now < this.carouselResumeMs) return;
    this.table.dropBelow(oldest);
    const p = this.carouselBlock(cp, this.pos.carouselNext, end);
    this.pos.carouselNext = p.fields.firstSeq + p.fields.count;
    this.stats.blocksCarousel++;
    const wire = (p.k + p.repair) * this.o.link.wireBytes(this.o.symbolBytes + SYMBOL_OVERHEAD_BYTES);
    this.passWireBytes += wire;
    // Charged when built: the carousel may run one block into debt, then waits.
    this.carouselBucket?.charge(wire, now);
    this.encode(p, now);
  }

  private encode(p: PreparedBlock, now: number): void {
    const job = { carousel: p.carousel };
    this.building.push(job);
    const done = (packets: Uint8Array[]): void => {
      this.building.splice(this.building.indexOf(job), 1);
      if (this.stopped) return;
      this.interleaver.add(outgoing(p, packets));
      this.wake();
    };
    this.o.encoder.encode(p).then(done, (e: unknown) => {
      if (this.stopped) return;
      this.o.log.warn("encoding on the worker failed; encoding here", { error: (e as Error).message, block: p.fields.block });
      done(encodePrepared(p));
    });
    void now;
  }

  /** The carousel's block at pos: the same object as in earlier passes (with new repair symbols), or a newly cut one. */
  private carouselBlock(cp: CheckpointSnapshot, pos: number, end: number): PreparedBlock {
    let entry: CarouselEntry | undefined = this.table.at(pos);
    if (entry && (entry.first + entry.count > end || this.table.isSmallTail(entry, end))) {
      this.table.remove(entry);
      entry = undefined;
    }
    if (entry) {
      const p = this.prepare(entry.checkpoint, entry.first, entry.first + entry.count, true, entry.id, entry.passes % 8);
      entry.passes++;
      if (p.fields.count === entry.count) return p;
      this.table.remove(entry); // the records changed under us: cut it afresh
    }
    const id = this.table.newId();
    const p = this.prepare(cp, pos, Math.min(end, this.table.limitAfter(pos)), true, id);
    this.table.add({ first: pos, count: p.fields.count, checkpoint: cp, recordBytes: p.recordBytes, id }).passes = 1;
    return p;
  }

  private finishPass(now: number, oldest: number): void {
    this.stats.passes++;
    this.stats.lastPassMs = now - this.carouselPassStartMs;
    this.stats.lastPassWireBytes = this.passWireBytes;
    this.passWireBytes = 0;
    this.pos.carouselNext = oldest;
    this.carouselResumeMs = this.carouselPassStartMs + this.o.carouselMinPassMs;
    this.carouselPassStartMs = Math.max(now, this.carouselResumeMs);
  }

  private prepare(cp: CheckpointSnapshot, first: number, end: number, carousel: boolean, id?: number, repairWindow = 0): PreparedBlock {
    let block = id;
    if (block === undefined) {
      block = this.pos.block & 0x7fffffff;
      this.pos.block = (this.pos.block + 1) & 0x7fffffff;
    }
    const p = prepareBlock(this.o.reader, {
      epoch: this.o.epoch,
      block,
      flags: carousel ? FLAG_CAROUSEL : 0,
      firstSeq: first,
      endSeq: end,
      checkpoint: cp,
      symbolBytes: this.o.symbolBytes,
      blockSymbols: this.o.blockSymbols,
      repairRatio: this.o.repairRatio,
      repairWindow,
    });
    this.stats.recordBytesBuilt += p.recordBytes;
    this.stats.recordsBuilt += p.fields.count;
    return p;
  }

  private sendHeartbeat(now: number): void {
    this.nextHeartbeatMs = now + this.o.heartbeatIntervalMs;
    const cp = this.o.checkpoint();
    const { oldest } = this.o.bounds();
    const body = formatHeartbeat({
      epoch: this.o.epoch,
      seq: this.heartbeatSeq++,
      head: cp?.size ?? 0,
      oldest: Math.min(oldest, cp?.size ?? 0),
      time: new Date().toISOString(),
      catchupBoundS: this.estimate().catchupBoundS,
    });
    const frame = encodeHeartbeatFrame(this.o.epoch, cp?.note ?? "", this.o.signHeartbeat(body));
    // The heartbeat goes now, whatever the bucket holds; the debt is paid by the frames after it.
    const wire = this.o.link.wireBytes(frame.length);
    this.bucket.charge(wire, now);
    this.o.link.send(frame);
    this.stats.heartbeats++;
  }

  private estimate(): { retainedWireBytes: number; inFlightWireBytes: number; catchupBoundS: number; catchupBoundBusyS: number } {
    const cp = this.o.checkpoint();
    const { oldest, authorizedEnd } = this.o.bounds();
    const retained = Math.max(0, Math.min(authorizedEnd, cp?.size ?? 0) - oldest);
    const frameWire = this.o.link.wireBytes(this.o.symbolBytes + SYMBOL_OVERHEAD_BYTES);
    let wire = this.stats.lastPassWireBytes;
    if (wire === undefined) {
      const avgRecord = this.stats.recordsBuilt > 0 ? this.stats.recordBytesBuilt / this.stats.recordsBuilt : 300;
      wire = Math.ceil(((retained * (avgRecord + 4)) / this.o.symbolBytes) * (1 + this.o.repairRatio)) * frameWire;
    }
    const b = catchupBound({
      retainedWireBytes: wire,
      blockWireBytes: Math.ceil(this.o.blockSymbols * (1 + this.o.repairRatio)) * frameWire,
      interleaveDepth: this.o.interleaveDepth,
      rateBytesPerS: Math.min(this.o.rateBytesPerS, this.o.carouselRateBytesPerS),
      heartbeatIntervalMs: this.o.heartbeatIntervalMs,
      carouselMinPassMs: this.o.carouselMinPassMs,
    });
    const busyShare = Math.min(1, this.o.carouselReservedSlots / this.o.interleaveDepth);
    return { retainedWireBytes: wire, inFlightWireBytes: b.inFlightWireBytes, catchupBoundS: b.boundS, catchupBoundBusyS: b.boundS / busyShare };
  }

  status(): ChannelStatus {
    const cp = this.o.checkpoint();
    const { authorizedEnd } = this.o.bounds();
    const e = this.estimate();
    return {
      kind: this.o.link.kind,
      target: this.o.link.target,
      symbolBytes: this.o.symbolBytes,
      rateBytesPerS: this.o.rateBytesPerS,
      carouselRateBytesPerS: this.o.carouselRateBytesPerS,
      interleaveDepth: this.o.interleaveDepth,
      blockSymbols: this.o.blockSymbols,
      liveNext: this.pos.liveNext,
      liveBacklog: Math.max(0, Math.min(authorizedEnd, cp?.size ?? 0) - this.pos.liveNext),
      carousel: { next: this.pos.carouselNext, passes: this.stats.passes, lastPassMs: this.stats.lastPassMs ?? null, lastPassWireBytes: this.stats.lastPassWireBytes ?? null },
      framesSent: this.o.link.stats.framesSent,
      bytesSent: this.o.link.stats.bytesSent,
      sendErrors: this.o.link.stats.sendErrors,
      lastError: this.o.link.stats.lastError ?? null,
      blocksSent: { live: this.stats.blocksLive, carousel: this.stats.blocksCarousel },
      openBlocks: this.interleaver.size + this.building.length,
      queuedFrames: this.interleaver.pendingPackets,
      heartbeatsSent: this.stats.heartbeats,
      retainedWireBytes: e.retainedWireBytes,
      inFlightWireBytes: e.inFlightWireBytes,
      catchupBoundS: e.catchupBoundS,
      catchupBoundBusyS: e.catchupBoundBusyS,
    };
  }
}
