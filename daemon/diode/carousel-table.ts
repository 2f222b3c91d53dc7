// The carousel's block table: which ranges it re-sends as which blocks. A
// range, once cut into a block, keeps its block number and the checkpoint it
// was first proven against for the rest of the epoch, so every pass sends
// the very same object — same source symbols, and a fresh window of repair
// symbols — and a receiver that missed part of a block in one pass completes
// it with the next pass's symbols instead of starting over. Pure.

import type { CheckpointSnapshot } from "./block-builder.js";

export interface CarouselEntry {
  first: number;
  count: number;
  checkpoint: CheckpointSnapshot;
  /** Block number (the high bit set: carousel numbers never meet the sequential numbers of new-entry blocks). */
  id: number;
  /** Times sent so far (picks the repair window). */
  passes: number;
  recordBytes: number;
}

export const CAROUSEL_ID_BIT = 0x80000000;

export class CarouselTable {
  private entries: CarouselEntry[] = [];
  private nextId = 0;

  /** @param smallBytes a last block carrying fewer record bytes than this is re-cut when entries follow it. */
  constructor(private readonly smallBytes: number) {}

  get size(): number {
    return this.entries.length;
  }

  private indexOf(first: number): number {
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const f = this.entries[mid]!.first;
      if (f === first) return mid;
      if (f < first) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The block starting at pos, if one was cut there. */
  at(pos: number): CarouselEntry | undefined {
    const i = this.indexOf(pos);
    return i < 0 ? undefined : this.entries[i];
  }

  /** Where a new block starting at pos must end at the latest: the next block's start. */
  limitAfter(pos: number): number {
    for (const e of this.entries) if (e.first > pos) return e.first;
    return Infinity;
  }

  /** True when e is the last block, carries little, and entries beyond it exist: worth re-cutting. */
  isSmallTail(e: CarouselEntry, end: number): boolean {
    return this.entries[this.entries.length - 1] === e && e.recordBytes < this.smallBytes && e.first + e.count < end;
  }

  /** A block number for the next new block. */
  newId(): number {
    const id = (CAROUSEL_ID_BIT | this.nextId) >>> 0;
    this.nextId = (this.nextId + 1) & 0x7fffffff;
    return id;
  }

  add(e: Omit<CarouselEntry, "passes">): CarouselEntry {
    const entry: CarouselEntry = { ...e, passes: 0 };
    const i = this.entries.findIndex((x) => x.first > e.first);
    if (i < 0) this.entries.push(entry);
    else this.entries.splice(i, 0, entry);
    return entry;
  }

  remove(e: CarouselEntry): void {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
  }

  /** Forgets blocks that reach below `oldest` (the retention window moved past them). */
  dropBelow(oldest: number): void {
    if (this.entries.length > 0 && this.entries[0]!.first < oldest) this.entries = this.entries.filter((e) => e.first >= oldest);
  }
}
