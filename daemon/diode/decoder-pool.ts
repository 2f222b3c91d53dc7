// The receiver's open RaptorQ decoders, one per (epoch, block), within a
// count and a byte budget: when either is spent, or a block has had no
// symbol for a while, the least recently fed decoder is abandoned (the
// carousel will bring that block again). Blocks already decoded are
// remembered, so their remaining symbols are dropped without work.

import { isSealboxError } from "../errors.js";
import { BlockDecoder } from "./fec.js";
import type { SymbolFrame } from "./frame.js";

export type AbandonReason = "idle" | "evicted" | "fec-reset" | "epoch-ended";

export interface OpenBlock {
  key: string;
  epoch: bigint;
  block: number;
  firstSeq: number;
  count: number;
  transferBytes: number;
  symbolBytes: number;
  flags: number;
  decoder: BlockDecoder;
  firstMs: number;
  lastMs: number;
  /** The pool's symbol count when this block last got one. */
  lastSymbol: number;
  heldBytes: number;
}

export interface DecoderPoolOptions {
  maxDecoders: number;
  maxHeldBytes: number;
  onAbandon(block: OpenBlock, reason: AbandonReason): void;
}

const DONE_MEMORY = 8192;

export class DecoderPool {
  // Map iteration order is insertion order; re-inserting on use keeps it least-recently-fed first.
  private readonly open = new Map<string, OpenBlock>();
  private readonly done = new Set<string>();
  private held = 0;
  private symbols = 0;
  readonly stats = { decoded: 0, headerMismatch: 0, abandoned: 0, fecResets: 0 };

  constructor(private readonly o: DecoderPoolOptions) {}

  static keyOf(f: { epoch: bigint; block: number }): string {
    return `${f.epoch}:${f.block}`;
  }

  get size(): number {
    return this.open.size;
  }

  get heldBytes(): number {
    return this.held;
  }

  isDone(key: string): boolean {
    return this.done.has(key);
  }

  markDone(key: string): void {
    this.done.add(key);
    if (this.done.size > DONE_MEMORY) this.done.delete(this.done.values().next().value as string);
    const b = this.open.get(key);
    if (b) this.close(b);
  }

  /** Feeds one symbol; returns the decoded object when its block completes. */
  add(f: SymbolFrame, nowMs: number): Uint8Array | undefined {
    const key = DecoderPool.keyOf(f);
    this.symbols++;
    if (this.done.has(key)) return undefined;
    let b = this.open.get(key);
    if (b === undefined) {
      const cost = f.packet.length;
      while (this.open.size > 0 && (this.open.size >= this.o.maxDecoders || this.held + cost > this.o.maxHeldBytes)) this.abandon(this.open.values().next().value!, "evicted");
      b = {
        key,
        epoch: f.epoch,
        block: f.block,
        firstSeq: f.firstSeq,
        count: f.count,
        transferBytes: f.transferBytes,
        symbolBytes: f.symbolBytes,
        flags: f.flags,
        decoder: new BlockDecoder(f.transferBytes, f.symbolBytes),
        firstMs: nowMs,
        lastMs: nowMs,
        lastSymbol: this.symbols,
        heldBytes: 0,
      };
    } else {
      if (b.firstSeq !== f.firstSeq || b.count !== f.count || b.transferBytes !== f.transferBytes || b.symbolBytes !== f.symbolBytes || b.flags !== f.flags) {
        // Same block number, different description: a forger or a bug. The first description stands.
        this.stats.headerMismatch++;
        return undefined;
      }
      this.open.delete(key);
    }
    b.lastMs = nowMs;
    b.lastSymbol = this.symbols;
    this.open.set(key, b);
    let out: Uint8Array | undefined;
    try {
      out = b.decoder.add(f.packet);
    } catch (e) {
      if (!isSealboxError(e, "DIODE_ERROR")) throw e;
      // The WebAssembly instance was replaced: every open decoder is gone with it.
      this.stats.fecResets++;
      for (const x of [...this.open.values()]) this.abandon(x, "fec-reset");
      return undefined;
    }
    b.heldBytes += f.packet.length;
    this.held += f.packet.length;
    while (this.held > this.o.maxHeldBytes && this.open.size > 1) {
      const oldest = this.open.values().next().value!;
      if (oldest === b) break;
      this.abandon(oldest, "evicted");
    }
    if (out !== undefined) {
      this.stats.decoded++;
      this.markDone(key);
    }
    return out;
  }

  /**
   * Abandons decoders that have gone quiet: `limits` says, per block, how
   * long (in time and in symbols of other blocks) it may wait for its next symbol.
   */
  expire(nowMs: number, limits: (b: OpenBlock) => { idleMs: number; idleSymbols: number }): void {
    for (const b of [...this.open.values()]) {
      const l = limits(b);
      if (nowMs - b.lastMs > l.idleMs || this.symbols - b.lastSymbol > l.idleSymbols) this.abandon(b, "idle");
    }
  }

  /** Abandons decoders of epochs before `epoch` (the sender restarted: those blocks will not complete). */
  endEpochsBefore(epoch: bigint): void {
    for (const b of [...this.open.values()]) if (b.epoch < epoch) this.abandon(b, "epoch-ended");
  }

  clear(): void {
    for (const b of [...this.open.values()]) this.close(b);
  }

  private abandon(b: OpenBlock, reason: AbandonReason): void {
    this.close(b);
    this.stats.abandoned++;
    this.o.onAbandon(b, reason);
  }

  private close(b: OpenBlock): void {
    if (!this.open.delete(b.key)) return;
    this.held -= b.heldBytes;
    b.decoder.free();
  }
}
