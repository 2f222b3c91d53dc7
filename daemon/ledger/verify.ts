// `sealbox verify OUT`: reads a bundle directory and runs BundleVerifier over
// it. Only node:fs — no LMDB, no daemon. Hostile input is bounded: small files
// are size-capped, only regular files are read (a FIFO or device is refused,
// never waited on), records are streamed in bounded lines.

import { constants } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { SealboxError, type ErrorCode } from "../errors.js";
import { BUNDLE_JSON, CHECKPOINT_FILE, MAX_BUNDLE_JSON_BYTES, MAX_CHECKPOINT_BYTES, RECORDS_FILE, parseManifest } from "./bundle.js";
import { decodeUtf8 } from "./encoding.js";
import { LineSplitter } from "./line-splitter.js";
import { MAX_RECORD_BYTES } from "./record.js";
import { BundleVerifier, fail, type VerifyOptions, type VerifyReport } from "./verify-core.js";
import type { VerifyJob, VerifyResult } from "./verify-worker.js";

export type { VerifyOptions, VerifyReport } from "./verify-core.js";

export interface VerifyBundleOptions extends VerifyOptions {
  /**
   * Worker threads that check records (decode, canonical form, hash) while
   * this thread keeps the order and the tree. 0: none. Defaults to one per
   * CPU (at most 4) for records files over 16 MiB, else 0.
   */
  threads?: number;
}

const CHUNK_BYTES = 4 << 20;

/** Opens a regular file for reading without blocking on FIFOs; refuses anything else. */
export async function openRegular(path: string, what: string): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fail(what, code === "ENOENT" ? `${path} is missing` : `cannot open ${path}: ${(e as Error).message}`, { path });
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw fail(what, `${path} is not a regular file`, { path });
  }
  return fh;
}

/** Reads a whole small file, refusing it past maxBytes. */
export async function readSmall(path: string, maxBytes: number, what: string): Promise<string> {
  const fh = await openRegular(path, what);
  try {
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > maxBytes) throw fail(what, `${path} is larger than ${maxBytes} bytes`, { path });
    }
    try {
      return decodeUtf8(buf.subarray(0, n), path);
    } catch (e) {
      throw fail(what, (e as Error).message, { path }, "BAD_FORMAT");
    }
  } finally {
    await fh.close();
  }
}

export async function verifyBundle(dir: string, options: VerifyBundleOptions = {}): Promise<VerifyReport> {
  const manifest = parseManifest(await readSmall(join(dir, BUNDLE_JSON), MAX_BUNDLE_JSON_BYTES, BUNDLE_JSON));
  const note = await readSmall(join(dir, CHECKPOINT_FILE), MAX_CHECKPOINT_BYTES, "checkpoint");
  const verifier = new BundleVerifier(manifest, note, options);
  const fh = await openRegular(join(dir, RECORDS_FILE), "records");
  try {
    const sizeBytes = (await fh.stat()).size;
    const threads = options.threads ?? (sizeBytes > 16 << 20 ? Math.min(4, availableParallelism()) : 0);
    if (threads > 0) await streamParallel(fh, verifier, threads);
    else await streamSerial(fh, verifier);
  } finally {
    await fh.close();
  }
  return verifier.finish();
}

async function streamSerial(fh: FileHandle, verifier: BundleVerifier): Promise<void> {
  const splitter = new LineSplitter(MAX_RECORD_BYTES, "line");
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  const onLine = (line: Uint8Array): void => verifier.pushRecord(line);
  const splitError = (e: unknown): SealboxError => {
    const seq = verifier.nextSeq;
    return fail("records", `record ${seq}: ${(e as Error).message}`, { seq }, "BAD_FORMAT");
  };
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    try {
      splitter.push(buf.subarray(0, bytesRead), onLine);
    } catch (e) {
      if (e instanceof SealboxError && e.code === "BAD_FORMAT" && (e.details?.check === undefined)) throw splitError(e);
      throw e;
    }
  }
  try {
    splitter.end();
  } catch (e) {
    throw splitError(e);
  }
}

/**
 * The same checks, with the per-record work (decode, canonical form, seq,
 * box, leaf hash) in worker threads: this thread reads chunks, cuts them at
 * the last newline, hands out the whole lines and appends the returned leaf
 * hashes in order, so the first failure reported is still the first in the file.
 */
async function streamParallel(fh: FileHandle, verifier: BundleVerifier, threads: number): Promise<void> {
  const workers = Array.from({ length: threads }, () => new Worker(new URL("./verify-worker.js", import.meta.url)));
  const waiting = new Map<number, (r: VerifyResult) => void>();
  let workerError: unknown;
  for (const w of workers) {
    w.on("message", (r: VerifyResult) => waiting.get(r.id)?.(r));
    w.on("error", (e) => {
      workerError ??= e;
      for (const resolve of waiting.values()) resolve({ id: -1, hashes: new ArrayBuffer(0), count: 0, error: { code: "INTERNAL", message: String(e), details: {} } });
    });
  }
  const inFlight: Promise<VerifyResult>[] = [];
  let nextId = 0;
  let assigned = verifier.nextSeq;
  const box = verifier.box;
  const take = (r: VerifyResult): void => {
    const hashes = new Uint8Array(r.hashes);
    for (let i = 0; i < r.count; i++) verifier.pushLeafHash(hashes.subarray(i * 32, i * 32 + 32));
    if (r.error) {
      if (workerError) throw new SealboxError("INTERNAL", `verify worker failed: ${String(workerError)}`, { cause: workerError });
      throw new SealboxError(r.error.code as ErrorCode, r.error.message, { details: r.error.details });
    }
  };
  const send = (bytes: Uint8Array): void => {
    let lines = 0;
    for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) lines++;
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    const job: VerifyJob = { id: nextId++, firstSeq: assigned, box, bytes: copy.buffer };
    assigned += lines;
    inFlight.push(new Promise<VerifyResult>((resolve) => waiting.set(job.id, resolve)).finally(() => waiting.delete(job.id)));
    workers[job.id % workers.length]!.postMessage(job, [copy.buffer]);
  };
  try {
    let carry: Uint8Array = new Uint8Array(0);
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      const last = data.lastIndexOf(0x0a);
      const rest = last < 0 ? data : data.subarray(last + 1);
      if (last >= 0) send(data.subarray(0, last + 1));
      if (rest.length > MAX_RECORD_BYTES) {
        // Everything before this line first, so an earlier failure is reported first.
        while (inFlight.length) take(await inFlight.shift()!);
        throw fail("records", `record ${assigned}: line ${assigned + 1} is longer than ${MAX_RECORD_BYTES} bytes (or is missing its newline)`, { seq: assigned }, "BAD_FORMAT");
      }
      carry = Uint8Array.from(rest);
      while (inFlight.length > threads * 2) take(await inFlight.shift()!);
    }
    while (inFlight.length) take(await inFlight.shift()!);
    if (carry.length > 0) throw fail("records", `record ${assigned}: line ${assigned + 1} is cut off: the file ends without its newline`, { seq: assigned }, "BAD_FORMAT");
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
