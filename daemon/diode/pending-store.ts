// Blocks that arrived ahead of the receiver's contiguous head (a block before
// them was lost and the carousel will bring it again). They wait on disk, not
// in memory, under OUT/.diode/pending/, within a byte budget; they are
// re-verified against the receiver's own verified prefix when their turn
// comes, and never written to the output before that.

import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";

interface Entry {
  first: number;
  count: number;
  sizeBytes: number;
  file: string;
}

const NAME = /^(\d{1,16})-(\d{1,10})\.blk$/;

export class PendingStore {
  private entries: Entry[] = [];
  private totalBytes = 0;

  private constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  /** Opens (creating) the directory and indexes what a previous run left there. */
  static open(dir: string, maxBytes: number): PendingStore {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const s = new PendingStore(dir, maxBytes);
    for (const name of readdirSync(dir)) {
      const m = NAME.exec(name);
      const path = join(dir, name);
      if (!m) {
        rmSync(path, { force: true }); // a temp file from an interrupted write
        continue;
      }
      const sizeBytes = statSync(path).size;
      s.entries.push({ first: Number(m[1]), count: Number(m[2]), sizeBytes, file: path });
      s.totalBytes += sizeBytes;
    }
    s.entries.sort((a, b) => a.first - b.first);
    return s;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get count(): number {
    return this.entries.length;
  }

  /** True when stored blocks already cover all of [first, end). */
  covers(first: number, end: number): boolean {
    let at = first;
    for (const e of this.entries) {
      if (e.first > at) break;
      if (e.first + e.count > at) at = e.first + e.count;
      if (at >= end) return true;
    }
    return at >= end;
  }

  /** Stores a verified block object. False when it is already covered or the budget is spent. */
  put(first: number, count: number, object: Uint8Array): boolean {
    if (this.covers(first, first + count)) return false;
    if (this.totalBytes + object.length > this.maxBytes) return false;
    const file = join(this.dir, `${first}-${count}.blk`);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, object, { mode: 0o640 });
    renameSync(tmp, file);
    const existing = this.entries.findIndex((e) => e.file === file);
    if (existing >= 0) {
      this.totalBytes -= this.entries[existing]!.sizeBytes;
      this.entries.splice(existing, 1);
    }
    this.entries.push({ first, count, sizeBytes: object.length, file });
    this.entries.sort((a, b) => a.first - b.first);
    this.totalBytes += object.length;
    return true;
  }

  /**
   * Removes and returns the stored blocks that start at or before head, in
   * order (those wholly below head are dropped unread).
   */
  takeReady(head: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (this.entries.length > 0 && this.entries[0]!.first <= head) {
      const e = this.entries.shift()!;
      this.totalBytes -= e.sizeBytes;
      if (e.first + e.count > head) {
        try {
          out.push(readFileSync(e.file));
        } catch {
          // Gone from disk (removed by hand): the carousel will bring it again.
        }
      }
      rmSync(e.file, { force: true });
    }
    return out;
  }

  /** Removes and returns the first stored block that starts at or before head (dropping those wholly below it), if any. */
  takeNext(head: number): Uint8Array | undefined {
    while (this.entries.length > 0 && this.entries[0]!.first <= head) {
      const e = this.entries.shift()!;
      this.totalBytes -= e.sizeBytes;
      let bytes: Uint8Array | undefined;
      if (e.first + e.count > head) {
        try {
          bytes = readFileSync(e.file);
        } catch {
          // Gone from disk (removed by hand): the carousel will bring it again.
        }
      }
      rmSync(e.file, { force: true });
      if (bytes) return bytes;
    }
    return undefined;
  }

  /** The stored ranges, merged: [from, to) pairs. */
  ranges(): [number, number][] {
    const out: [number, number][] = [];
    for (const e of this.entries) {
      const last = out[out.length - 1];
      if (last && e.first <= last[1]) last[1] = Math.max(last[1], e.first + e.count);
      else out.push([e.first, e.first + e.count]);
    }
    return out;
  }
}
