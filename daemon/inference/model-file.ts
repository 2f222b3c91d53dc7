// The hash check on load: a model runs only if its file's SHA-256 is the one
// the caller expects (the one its signed manifest named at import). The file's
// identity (device, inode, size, mtime) is taken before hashing and compared
// again after llama.cpp has opened it, so a file swapped between the check and
// the load is caught too.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { SealboxError } from "../errors.js";

export const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface FileIdentity {
  dev: number;
  ino: number;
  sizeBytes: number;
  mtimeMs: number;
}

export async function fileIdentity(path: string): Promise<FileIdentity> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new SealboxError("MODEL_REJECTED", `model ${path} is not a regular file`);
    return { dev: s.dev, ino: s.ino, sizeBytes: s.size, mtimeMs: s.mtimeMs };
  } catch (e) {
    if (e instanceof SealboxError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new SealboxError(code === "ENOENT" ? "NOT_FOUND" : "MODEL_UNAVAILABLE", `cannot read model ${path}: ${(e as Error).message}`, { cause: e });
  }
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.sizeBytes === b.sizeBytes && a.mtimeMs === b.mtimeMs;
}

/** SHA-256 of a file, streamed (models are gigabytes), lowercase hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (e) {
    throw new SealboxError("MODEL_UNAVAILABLE", `cannot read model ${path}: ${(e as Error).message}`, { cause: e });
  }
  return hash.digest("hex");
}

/** Hashes the file and refuses it (MODEL_REJECTED) unless it is the expected one. Returns its identity. */
export async function verifyModelFile(path: string, expectedSha256: string): Promise<FileIdentity> {
  const expected = expectedSha256.toLowerCase();
  if (!SHA256_HEX.test(expected)) throw new SealboxError("BAD_ARGUMENT", `expected model SHA-256 must be 64 hex digits, got ${JSON.stringify(expectedSha256)}`);
  const before = await fileIdentity(path);
  const actual = await sha256File(path);
  const after = await fileIdentity(path);
  if (!sameIdentity(before, after)) throw new SealboxError("MODEL_REJECTED", `model ${path} changed while it was being checked`);
  if (actual !== expected) {
    throw new SealboxError("MODEL_REJECTED", `model ${path} has SHA-256 ${actual}, expected ${expected}: the file was changed or replaced`, {
      details: { path, expectedSha256: expected, actualSha256: actual },
    });
  }
  return after;
}
