// The receiver's output directory. It is an audit bundle in the format
// `sealbox audit export` writes and `sealbox verify` reads (docs/formats.md):
//
//   records.jsonl      verified entries [base, head), each its exact leaf bytes + "\n"
//   checkpoint         a signed checkpoint of size S ≥ head that proves them
//   bundle.json        from = base, to = head, tree_size = S, and the hashes
//                      joining the records to that checkpoint
//
// plus what the diode adds: syslog.log (one RFC 5424 line per entry),
// checkpoints.jsonl (every checkpoint accepted, in order), events.jsonl, and
// state.json (receiver-state.ts). Entries are buffered and reach disk at
// flush(), which fsyncs them before the checkpoint, bundle.json and the state
// that count them are replaced; on restart the append-only files are cut
// back to the lengths the state recorded, so an interrupted write never
// leaves an entry the state does not vouch for. Layout: docs/diode.md.

import { closeSync, fstatSync, fsync, ftruncateSync, mkdirSync, openSync, write, writeSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { isUtf8 } from "node:buffer";
import { join } from "node:path";
import { SealboxError } from "../errors.js";
import { syslogLine, syslogPrefix } from "./syslog.js";

const NEWLINE = new Uint8Array([0x0a]);

export const RECORDS_FILE = "records.jsonl";
export const SYSLOG_FILE = "syslog.log";
export const CHECKPOINTS_FILE = "checkpoints.jsonl";
export const CHECKPOINT_FILE = "checkpoint";
export const BUNDLE_FILE = "bundle.json";
export const EVENTS_FILE = "events.jsonl";

/** Bytes of each append-only file that the saved state vouches for. */
export type OutputSizes = { records: number; syslog: number; checkpoints: number };

export type ReceiverEvent = { type: string; time: string } & Record<string, unknown>;

/** What bundle.json and the checkpoint file say about the records written so far. */
export interface BundleView {
  origin: string;
  box: string;
  vkey: string;
  from: number;
  to: number;
  /** The checkpoint proving [from, to): its note and size, and the hashes covering [to, size). */
  proof: { note: string; size: number; right: string[] };
  /** Compact range of [0, from) (empty when from is 0). */
  left: string[];
}

const FLUSH_AT_BYTES = 4 * 1024 * 1024;
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export class ReceiverOutput {
  private recordsBuf: Uint8Array[] = [];
  private syslogBuf: Uint8Array[] = [];
  private bufferedBytes = 0;
  private checkpointLines: string[] = [];
  private sizes: OutputSizes;
  private writtenBundle = "";
  private closed = false;
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly fds: { records: number; syslog: number; checkpoints: number; events: number },
    sizes: OutputSizes,
  ) {
    this.sizes = sizes;
  }

  /** Opens the directory; with `sizes`, cuts each file back to them (and refuses files shorter than them). */
  static open(dir: string, sizes: OutputSizes | undefined): ReceiverOutput {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const want = sizes ?? { records: 0, syslog: 0, checkpoints: 0 };
    const opened: number[] = [];
    const open = (name: string, keep: number | undefined): number => {
      const fd = openSync(join(dir, name), "a+", 0o640);
      opened.push(fd);
      if (keep !== undefined) {
        const have = fstatSync(fd).size;
        if (have < keep) {
          for (const f of opened) closeSync(f);
          throw new SealboxError("DIODE_ERROR", `${join(dir, name)} is ${have} bytes but the receiver's state vouches for ${keep}: the output was changed outside the receiver; move it aside and start again`);
        }
        if (have > keep) ftruncateSync(fd, keep);
      }
      return fd;
    };
    const fds = {
      records: open(RECORDS_FILE, want.records),
      syslog: open(SYSLOG_FILE, want.syslog),
      checkpoints: open(CHECKPOINTS_FILE, want.checkpoints),
      events: open(EVENTS_FILE, undefined),
    };
    return new ReceiverOutput(dir, fds, { ...want });
  }

  /** Queues one verified entry (its record bytes are the Merkle leaf, written as they are). */
  appendEntry(seq: number, record: Uint8Array): void {
    // The record's bytes are queued as they are (a view of the decoded block, copied once, at
    // flush) and reused as the syslog line's MSG; only a record that is not valid UTF-8 goes
    // through the string path, so that its syslog line stays what syslogLine() makes.
    this.recordsBuf.push(record, NEWLINE);
    const bytes = Buffer.from(record.buffer, record.byteOffset, record.length);
    if (isUtf8(bytes)) {
      const prefix = Buffer.from(syslogPrefix(bytes.toString("utf8"), seq), "utf8");
      this.syslogBuf.push(prefix, record, NEWLINE);
      this.bufferedBytes += 2 * (record.length + 1) + prefix.length;
    } else {
      const sys = Buffer.from(syslogLine(record, seq) + "\n", "utf8");
      this.syslogBuf.push(sys);
      this.bufferedBytes += record.length + 1 + sys.length;
    }
  }

  /** True when entries wait in memory faster than the disk takes them: the receiver then drops symbols (the carousel re-sends). */
  get backlogged(): boolean {
    return this.bufferedBytes >= MAX_BUFFERED_BYTES;
  }

  /** True when enough is buffered that a flush should not wait for the timer. */
  get wantsFlush(): boolean {
    return this.bufferedBytes >= FLUSH_AT_BYTES;
  }

  /** A checkpoint verified against the entries: appended to checkpoints.jsonl at the next flush. */
  acceptCheckpoint(size: number, note: string): void {
    this.checkpointLines.push(JSON.stringify({ size, note }) + "\n");
  }

  /** Appends one event line now (events are rare and worth keeping even if the process dies next). */
  event(e: ReceiverEvent): void {
    writeSync(this.fds.events, JSON.stringify(e) + "\n");
  }

  /**
   * Writes and fsyncs everything queued so far, then replaces the checkpoint
   * and bundle.json to describe exactly the records on disk, all off the
   * event loop (a stalled loop would let the socket buffer overflow).
   * Resolves with the sizes the state may now vouch for. Flushes run one
   * after another; entries queued meanwhile go to the next one.
   */
  flush(bundle: BundleView | undefined): Promise<OutputSizes> {
    const records = Buffer.concat(this.recordsBuf);
    const syslog = Buffer.concat(this.syslogBuf);
    const checkpoints = Buffer.from(this.checkpointLines.join(""), "utf8");
    this.recordsBuf = [];
    this.syslogBuf = [];
    this.checkpointLines = [];
    this.bufferedBytes = 0;
    const next: Promise<OutputSizes> = this.chain.then(async (): Promise<OutputSizes> => {
      if (this.closed) throw new SealboxError("DIODE_ERROR", "the receiver's output is closed");
      if (records.length > 0) await writeAll(this.fds.records, records);
      if (syslog.length > 0) await writeAll(this.fds.syslog, syslog);
      if (checkpoints.length > 0) await writeAll(this.fds.checkpoints, checkpoints);
      await Promise.all([fsyncP(this.fds.records), fsyncP(this.fds.syslog), checkpoints.length > 0 ? fsyncP(this.fds.checkpoints) : undefined]);
      this.sizes = { records: this.sizes.records + records.length, syslog: this.sizes.syslog + syslog.length, checkpoints: this.sizes.checkpoints + checkpoints.length };
      if (bundle !== undefined) await this.writeBundle(bundle);
      return { ...this.sizes };
    });
    // A failed flush fails the receiver (the caller sees it); the chain itself stays usable for close().
    this.chain = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async writeBundle(bundle: BundleView): Promise<void> {
    const manifest = JSON.stringify(
      {
        format: "sealbox-audit-bundle",
        version: 1,
        origin: bundle.origin,
        box: bundle.box,
        vkey: bundle.vkey,
        tree_size: bundle.proof.size,
        from: bundle.from,
        to: bundle.to,
        left: bundle.left,
        right: bundle.proof.right,
        exported_at: "",
      },
      null,
      2,
    );
    // Rewritten only when it changes (exported_at aside): an idle receiver does not churn the disk.
    if (manifest === this.writtenBundle) return;
    await replaceFile(join(this.dir, CHECKPOINT_FILE), bundle.proof.note);
    await replaceFile(join(this.dir, BUNDLE_FILE), manifest.replace('"exported_at": ""', `"exported_at": ${JSON.stringify(new Date().toISOString())}`) + "\n");
    this.writtenBundle = manifest;
  }

  /** Waits for the flushes in progress, then closes the files. Idempotent. */
  async close(): Promise<void> {
    await this.chain;
    if (this.closed) return;
    this.closed = true;
    for (const fd of Object.values(this.fds)) closeSync(fd);
  }
}

const writeP = promisify(write);
const fsyncP = promisify(fsync);

async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text, { mode: 0o640 });
  await rename(`${path}.tmp`, path);
}

async function writeAll(fd: number, b: Buffer): Promise<void> {
  let off = 0;
  while (off < b.length) off += (await writeP(fd, b, off, b.length - off)).bytesWritten;
}
