// `sealbox verify OUT`: reads a bundle directory and runs BundleVerifier over
// it. Only node:fs — no LMDB, no daemon. Hostile input is bounded: small files
// are size-capped, only regular files are read (a FIFO or device is refused,
// never waited on), records are streamed in bounded lines.

import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { SealboxError } from "../errors.js";
import { BUNDLE_JSON, CHECKPOINT_FILE, MAX_BUNDLE_JSON_BYTES, MAX_CHECKPOINT_BYTES, RECORDS_FILE, parseManifest } from "./bundle.js";
import { decodeUtf8 } from "./encoding.js";
import { LineSplitter } from "./line-splitter.js";
import { MAX_RECORD_BYTES } from "./record.js";
import { BundleVerifier, fail, type VerifyOptions, type VerifyReport } from "./verify-core.js";

export type { VerifyOptions, VerifyReport } from "./verify-core.js";

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

export async function verifyBundle(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const manifest = parseManifest(await readSmall(join(dir, BUNDLE_JSON), MAX_BUNDLE_JSON_BYTES, BUNDLE_JSON));
  const note = await readSmall(join(dir, CHECKPOINT_FILE), MAX_CHECKPOINT_BYTES, "checkpoint");
  const verifier = new BundleVerifier(manifest, note, options);
  const fh = await openRegular(join(dir, RECORDS_FILE), "records");
  try {
    const splitter = new LineSplitter(MAX_RECORD_BYTES, "record line");
    const buf = Buffer.allocUnsafe(4 << 20);
    const onLine = (line: Uint8Array): void => verifier.pushRecord(line);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      try {
        splitter.push(buf.subarray(0, bytesRead), onLine);
      } catch (e) {
        if (e instanceof SealboxError && e.code === "BAD_FORMAT") {
          throw fail("records", `record ${manifest.manifest.from + splitter.lineNo}: ${e.message}`, { seq: manifest.manifest.from + splitter.lineNo }, "BAD_FORMAT");
        }
        throw e;
      }
    }
    try {
      splitter.end();
    } catch (e) {
      throw fail("records", `record ${manifest.manifest.from + splitter.lineNo}: ${(e as Error).message}`, { seq: manifest.manifest.from + splitter.lineNo }, "BAD_FORMAT");
    }
  } finally {
    await fh.close();
  }
  return verifier.finish();
}
