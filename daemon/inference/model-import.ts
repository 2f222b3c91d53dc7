// `sealbox model import`: a model enters the box only here, and only with a
// manifest signed by a trusted site authority. Everything is checked before
// anything is kept: the manifest (size, form, signature), then the file (size,
// GGUF magic, SHA-256 while it is copied). The copy goes to a temporary name
// in STATE/models and is renamed into place only once it is complete, synced,
// made read-only and checked; on any failure nothing is left behind.
//
// Audited (no audit, no action): a "requested" record before the copy, its
// outcome after; a refused import leaves a "refused" record.

import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, mkdir, open, readdir, rename, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { isSealboxError, SealboxError } from "../errors.js";
import type { Actor, AuditLog, JsonValue } from "../ledger/types.js";
import { loadAuthorities } from "./authority.js";
import { copyAndHash, type CopyProgress } from "./copy-hash.js";
import { MANIFEST_MAX_BYTES, parseSignedManifest, rejected, serializeSignedManifest, verifySignedManifest, type ModelManifest, type SignedManifest } from "./manifest.js";
import { manifestPath, modelPath, modelsDir, recordOutcome, syncDir, TEMP_PREFIX, unlinkIfThere } from "./models.js";
import { verifyModelFile } from "./model-file.js";

export interface ImportOptions {
  stateDir: string;
  /** The model file (GGUF). */
  filePath: string;
  /** Its signed manifest. */
  manifestPath: string;
  audit: AuditLog;
  actor: Actor;
  onProgress?: (p: CopyProgress) => void;
}

export interface ImportResult {
  sha256: string;
  path: string;
  manifest: ModelManifest;
  authority: { name: string; keyId: string };
  /** The same file was already stored (and still hashes right): nothing was copied. */
  alreadyPresent: boolean;
  /** Sequence number of the outcome record. */
  seq: number;
}

/** GGUF files start with "GGUF" and a little-endian u32 version; llama.cpp reads versions 2 and 3. */
export async function checkGguf(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    const version = bytesRead === 8 ? head.readUInt32LE(4) : -1;
    if (bytesRead < 8 || head.toString("latin1", 0, 4) !== "GGUF" || (version !== 2 && version !== 3)) {
      throw rejected("not-gguf", `${path} is not a GGUF model file (version 2 or 3)`, { magic: head.subarray(0, bytesRead).toString("hex") });
    }
  } finally {
    await fh.close();
  }
}

async function readManifestBytes(path: string): Promise<Buffer> {
  let s;
  try {
    s = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SealboxError(code === "ENOENT" ? "NOT_FOUND" : "BAD_ARGUMENT", `cannot read the manifest ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!s.isFile()) throw rejected("not-a-file", `the manifest ${path} is not a regular file`);
  if (s.size > MANIFEST_MAX_BYTES) throw rejected("manifest-too-large", `the manifest is ${s.size} bytes; the limit is ${MANIFEST_MAX_BYTES}`, { sizeBytes: s.size });
  const fh = await open(path, constants.O_RDONLY);
  try {
    // Read at most one byte past the limit: the file may grow after stat.
    const buf = Buffer.alloc(MANIFEST_MAX_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes temporary files left by imports whose process died (a crash, a power cut). */
export async function removeStaleTemps(stateDir: string): Promise<string[]> {
  const dir = modelsDir(stateDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const n of names) {
    const m = new RegExp(`^${TEMP_PREFIX.replace(".", "\\.")}(\\d+)-`).exec(n);
    if (!m || isAlive(Number(m[1]))) continue;
    await unlinkIfThere(join(dir, n));
    removed.push(n);
  }
  return removed;
}

export async function importModel(options: ImportOptions): Promise<ImportResult> {
  const { stateDir, filePath, audit, actor } = options;
  const event = (outcome: "requested" | "success" | "failure" | "refused", target: string, details: { [k: string]: JsonValue }) => ({
    actor,
    category: "model",
    action: "model.import",
    target,
    outcome,
    details,
  });

  // 1. Everything that can be checked without copying. A refusal is recorded, then thrown.
  let signed: SignedManifest;
  let manifest: ModelManifest;
  let authority: { name: string; keyId: string };
  try {
    signed = parseSignedManifest(await readManifestBytes(options.manifestPath));
    const a = verifySignedManifest(signed, await loadAuthorities(stateDir));
    manifest = signed.manifest;
    authority = { name: a.name, keyId: a.keyId };
    let s;
    try {
      s = await stat(filePath);
    } catch (e) {
      throw new SealboxError("NOT_FOUND", `cannot read the model file ${filePath}: ${(e as Error).message}`, { cause: e });
    }
    if (!s.isFile()) throw rejected("not-a-file", `${filePath} is not a regular file`);
    if (s.size !== manifest.sizeBytes) {
      throw rejected("size-mismatch", `${filePath} is ${s.size} bytes but the manifest says ${manifest.sizeBytes}${s.size < manifest.sizeBytes ? " (truncated?)" : ""}`, {
        sizeBytes: s.size,
        expectedSizeBytes: manifest.sizeBytes,
      });
    }
    await checkGguf(filePath);
  } catch (e) {
    if (isSealboxError(e, "MODEL_REJECTED")) {
      const details = { reason: String(e.details?.reason ?? "?"), message: e.message, file: basename(filePath) };
      const auditError = await recordOutcome(audit, event("refused", basename(filePath), details));
      if (auditError) throw new SealboxError("MODEL_REJECTED", e.message, { cause: e, details: { ...e.details, auditError } });
    }
    throw e;
  }
  const { sha256 } = manifest;
  const finalPath = modelPath(stateDir, sha256);
  const summary = { name: manifest.name, sizeBytes: manifest.sizeBytes, licence: manifest.licence, source: manifest.source, authority: authority.name, authorityKeyId: authority.keyId };

  // 2. The same model already stored and intact: record it, copy nothing.
  const existing = await verifyModelFile(finalPath, sha256).then(
    () => true,
    () => false,
  );
  if (existing && (await stat(manifestPath(stateDir, sha256)).catch(() => undefined))?.isFile()) {
    await audit.append(event("requested", sha256, summary));
    const r = await audit.append(event("success", sha256, { ...summary, alreadyPresent: true }));
    return { sha256, path: finalPath, manifest, authority, alreadyPresent: true, seq: r.seq };
  }

  // 3. Write-ahead: if the ledger refuses, nothing is copied.
  await audit.append(event("requested", sha256, summary));

  const dir = modelsDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await removeStaleTemps(stateDir);
  const tag = `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString("hex")}`;
  const tmpModel = join(dir, `${tag}.gguf`);
  const tmpManifest = join(dir, `${tag}.manifest`);
  const placed: string[] = [];
  try {
    const copied = await copyAndHash(filePath, tmpModel, { expectedSizeBytes: manifest.sizeBytes, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    if (copied.sizeBytes !== manifest.sizeBytes) {
      throw rejected("size-mismatch", `${filePath} changed size while it was copied (${copied.sizeBytes} bytes read, ${manifest.sizeBytes} expected)`, { sizeBytes: copied.sizeBytes });
    }
    if (copied.sha256 !== sha256) {
      throw rejected("hash-mismatch", `${filePath} has SHA-256 ${copied.sha256}, but the manifest names ${sha256}: it is not the file the authority signed`, {
        sha256: copied.sha256,
        expectedSha256: sha256,
      });
    }
    await chmod(tmpModel, 0o444);
    const fh = await open(tmpManifest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o444);
    try {
      await fh.writeFile(serializeSignedManifest(signed));
      await fh.sync();
    } finally {
      await fh.close();
    }
    // The model first, the manifest last: a listed model always has its file.
    await rename(tmpModel, finalPath);
    placed.push(finalPath);
    await rename(tmpManifest, manifestPath(stateDir, sha256));
    placed.push(manifestPath(stateDir, sha256));
    await syncDir(dir);
  } catch (e) {
    const leftBehind = await removeAll([tmpModel, tmpManifest, ...placed]);
    const err = isSealboxError(e) ? e : new SealboxError("INTERNAL", `the import failed: ${(e as Error).message}`, { cause: e });
    const auditError = await recordOutcome(audit, event("failure", sha256, { ...summary, reason: String(err.details?.reason ?? err.code), message: err.message }));
    if (auditError || leftBehind.length > 0) {
      throw new SealboxError(err.code, err.message, { cause: err, details: { ...err.details, ...(auditError ? { auditError } : {}), ...(leftBehind.length ? { leftBehind } : {}) } });
    }
    throw err;
  }

  // 4. The outcome. If it cannot be recorded, the import is undone.
  try {
    const r = await audit.append(event("success", sha256, { ...summary, alreadyPresent: false }));
    return { sha256, path: finalPath, manifest, authority, alreadyPresent: false, seq: r.seq };
  } catch (e) {
    const leftBehind = await removeAll(placed.reverse());
    if (leftBehind.length > 0 && isSealboxError(e)) throw new SealboxError(e.code, e.message, { cause: e, details: { ...e.details, leftBehind } });
    throw e;
  }
}

/** Removes files on a failing path; returns what could not be removed (to report, not to hide). */
async function removeAll(paths: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const p of paths) {
    try {
      await unlinkIfThere(p);
    } catch (e) {
      left.push(`${p}: ${(e as Error).message}`);
    }
  }
  return left;
}
