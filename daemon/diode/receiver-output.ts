// The receiver's output directory: verified entries (JSON lines, and RFC 5424
// syslog lines), the latest accepted checkpoint, every accepted checkpoint,
// and the event log. Entries are buffered and reach disk at flush(), which
// fsyncs before the state that counts them is saved; on restart, the files
// are cut back to the lengths that state recorded, so an interrupted write
// never leaves an entry the state does not vouch for. Layout: docs/diode.md.

import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SealboxError } from "../errors.js";
import { syslogLine } from "./syslog.js";

export const ENTRIES_FILE = "entries.jsonl";
export const SYSLOG_FILE = "syslog.log";
export const CHECKPOINTS_FILE = "checkpoints.jsonl";
export const CHECKPOINT_FILE = "checkpoint";
export const EVENTS_FILE = "events.jsonl";

/** Bytes of each append-only file that the saved state vouches for. */
export type OutputSizes = { entries: number; syslog: number; checkpoints: number };

export type ReceiverEvent = { type: string; time: string } & Record<string, unknown>;

const FLUSH_AT_BYTES = 4 * 1024 * 1024;

export class ReceiverOutput {
  private entriesBuf: Buffer[] = [];
  private syslogBuf: Buffer[] = [];
  private bufferedBytes = 0;
  private checkpointNote: string | undefined;
  private checkpointLines: string[] = [];
  private sizes: OutputSizes;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly fds: { entries: number; syslog: number; checkpoints: number; events: number },
    sizes: OutputSizes,
  ) {
    this.sizes = sizes;
  }

  /** Opens the directory; with `sizes`, cuts each file back to them (and refuses files shorter than them). */
  static open(dir: string, sizes: OutputSizes | undefined): ReceiverOutput {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const want = sizes ?? { entries: 0, syslog: 0, checkpoints: 0 };
    const open = (name: string, keep: number | undefined): number => {
      const fd = openSync(join(dir, name), "a+", 0o640);
      if (keep !== undefined) {
        const have = fstatSync(fd).size;
        if (have < keep) {
          closeSync(fd);
          throw new SealboxError("DIODE_ERROR", `${join(dir, name)} is ${have} bytes but the receiver's state vouches for ${keep}: the output was changed outside the receiver; move it aside and start again`);
        }
        if (have > keep) ftruncateSync(fd, keep);
      }
      return fd;
    };
    const fds = {
      entries: open(ENTRIES_FILE, want.entries),
      syslog: open(SYSLOG_FILE, want.syslog),
      checkpoints: open(CHECKPOINTS_FILE, want.checkpoints),
      events: open(EVENTS_FILE, undefined),
    };
    return new ReceiverOutput(dir, fds, { ...want });
  }

  /** Queues one verified entry (its record bytes are the Merkle leaf, written as they are). */
  appendEntry(seq: number, record: Uint8Array): void {
    const line = Buffer.allocUnsafe(record.length + 1);
    line.set(record, 0);
    line[record.length] = 0x0a;
    const sys = Buffer.from(syslogLine(record, seq) + "\n", "utf8");
    this.entriesBuf.push(line);
    this.syslogBuf.push(sys);
    this.bufferedBytes += line.length + sys.length;
    if (this.bufferedBytes >= FLUSH_AT_BYTES) this.writeBuffers();
  }

  /** A checkpoint verified against the entries: written (after the entries it covers) at the next flush. */
  acceptCheckpoint(size: number, note: string): void {
    this.checkpointNote = note;
    this.checkpointLines.push(JSON.stringify({ size, note }) + "\n");
  }

  /** Appends one event line now (events are rare and worth keeping even if the process dies next). */
  event(e: ReceiverEvent): void {
    writeSync(this.fds.events, JSON.stringify(e) + "\n");
  }

  private writeBuffers(): void {
    if (this.entriesBuf.length === 0) return;
    const e = Buffer.concat(this.entriesBuf);
    const s = Buffer.concat(this.syslogBuf);
    writeAll(this.fds.entries, e);
    writeAll(this.fds.syslog, s);
    this.sizes.entries += e.length;
    this.sizes.syslog += s.length;
    this.entriesBuf = [];
    this.syslogBuf = [];
    this.bufferedBytes = 0;
  }

  /** Writes and fsyncs everything queued; returns the sizes the state may now vouch for. */
  flush(): OutputSizes {
    if (this.closed) return { ...this.sizes };
    this.writeBuffers();
    fsyncSync(this.fds.entries);
    fsyncSync(this.fds.syslog);
    if (this.checkpointLines.length > 0) {
      const c = Buffer.from(this.checkpointLines.join(""), "utf8");
      writeAll(this.fds.checkpoints, c);
      fsyncSync(this.fds.checkpoints);
      this.sizes.checkpoints += c.length;
      this.checkpointLines = [];
    }
    if (this.checkpointNote !== undefined) {
      const path = join(this.dir, CHECKPOINT_FILE);
      writeFileSync(`${path}.tmp`, this.checkpointNote, { mode: 0o640 });
      renameSync(`${path}.tmp`, path);
      this.checkpointNote = undefined;
    }
    return { ...this.sizes };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of Object.values(this.fds)) closeSync(fd);
  }
}

function writeAll(fd: number, b: Buffer): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}
