// The model store: STATE/models/<sha256>.gguf (read-only) beside its signed
// manifest STATE/models/<sha256>.manifest.json. A model is found by its full
// SHA-256, a unique prefix of it, or its manifest's name; its manifest is
// checked again against the authorities trusted now, so removing an
// authority's key withdraws its models. The hash of the file itself is checked
// at load (verifyModelFile), by the engine.

import { readdir, readFile, stat, unlink, open } from "node:fs/promises";
import { join } from "node:path";
import { SealboxError } from "../errors.js";
import type { Actor, AuditLog } from "../ledger/types.js";
import { loadAuthorities } from "./authority.js";
import { MANIFEST_MAX_BYTES, parseSignedManifest, verifySignedManifest, type Authority, type ModelManifest, type SignedManifest } from "./manifest.js";

export { verifyModelFile } from "./model-file.js";

export const MODELS_DIR = "models";
const SHA256 = /^[0-9a-f]{64}$/;
const PREFIX = /^[0-9a-f]{6,63}$/;
/** Temporary files of an import in progress: ".import-<pid>-<random>.{gguf,manifest}". */
export const TEMP_PREFIX = ".import-";

export function modelsDir(stateDir: string): string {
  return join(stateDir, MODELS_DIR);
}

export function modelPath(stateDir: string, sha256: string): string {
  return join(modelsDir(stateDir), `${sha256}.gguf`);
}

export function manifestPath(stateDir: string, sha256: string): string {
  return join(modelsDir(stateDir), `${sha256}.manifest.json`);
}

export interface StoredModel {
  sha256: string;
  path: string;
  manifestPath: string;
  /** null when the stored manifest cannot be read (then `problem` says why). */
  manifest: ModelManifest | null;
  signed: SignedManifest | null;
  /** The authority that signed it, when it is still trusted. */
  authority: { name: string; keyId: string } | null;
  /** Why this model would be refused at resolve (untrusted signer, file missing, bad manifest), if it would. */
  problem: string | null;
}

export interface ResolvedModel {
  path: string;
  sha256: string;
  manifest: ModelManifest;
  authority: { name: string; keyId: string };
}

async function readManifestFile(path: string): Promise<SignedManifest> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(MANIFEST_MAX_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return parseSignedManifest(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

async function inspect(stateDir: string, sha256: string, authorities: readonly Authority[]): Promise<StoredModel> {
  const mPath = manifestPath(stateDir, sha256);
  const path = modelPath(stateDir, sha256);
  let signed: SignedManifest;
  try {
    signed = await readManifestFile(mPath);
  } catch (e) {
    // Listed so that it can be seen and removed, not hidden.
    return { sha256, path, manifestPath: mPath, manifest: null, signed: null, authority: null, problem: `its stored manifest is unusable: ${(e as Error).message}` };
  }
  let problem: string | null = null;
  let authority: StoredModel["authority"] = null;
  if (signed.manifest.sha256 !== sha256) problem = `its stored manifest names another file (${signed.manifest.sha256})`;
  try {
    const a = verifySignedManifest(signed, authorities);
    authority = { name: a.name, keyId: a.keyId };
  } catch (e) {
    problem ??= (e as Error).message;
  }
  const s = await stat(path).catch(() => undefined);
  if (!s?.isFile()) problem ??= "its model file is missing";
  else if (s.size !== signed.manifest.sizeBytes) problem ??= `its file is ${s.size} bytes, the manifest says ${signed.manifest.sizeBytes}`;
  return { sha256, path, manifestPath: mPath, manifest: signed.manifest, signed, authority, problem };
}

/** Every stored model, sorted by name, with the problem that would refuse it, if any. */
export async function listModels(stateDir: string): Promise<StoredModel[]> {
  let names: string[];
  try {
    names = await readdir(modelsDir(stateDir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new SealboxError("MODEL_UNAVAILABLE", `cannot read ${modelsDir(stateDir)}: ${(e as Error).message}`, { cause: e });
  }
  const authorities = await loadAuthorities(stateDir);
  const out: StoredModel[] = [];
  for (const n of names) {
    const m = /^([0-9a-f]{64})\.manifest\.json$/.exec(n);
    if (!m) continue;
    out.push(await inspect(stateDir, m[1]!, authorities));
  }
  return out.sort((a, b) => (a.manifest?.name ?? "").localeCompare(b.manifest?.name ?? "") || a.sha256.localeCompare(b.sha256));
}

/** Picks the one stored model a reference means: a full SHA-256, an exact name, or a unique hex prefix (≥ 6 digits). */
export function pickModel<M extends { sha256: string; manifest: { name: string } | null }>(models: readonly M[], ref: string): M {
  const r = ref.trim();
  if (r === "") throw new SealboxError("BAD_ARGUMENT", "a model reference is needed (SHA-256, prefix or name)");
  let found: M[];
  if (SHA256.test(r)) found = models.filter((m) => m.sha256 === r);
  else {
    found = models.filter((m) => m.manifest?.name === r);
    if (found.length === 0 && PREFIX.test(r)) found = models.filter((m) => m.sha256.startsWith(r));
  }
  if (found.length === 0) throw new SealboxError("NOT_FOUND", `no stored model matches ${JSON.stringify(r.slice(0, 80))} (see \`sealbox model list\`)`);
  if (found.length > 1) {
    throw new SealboxError("BAD_ARGUMENT", `${JSON.stringify(r)} matches ${found.length} models (${found.map((m) => m.sha256.slice(0, 12)).join(", ")}); give more of the SHA-256`, {
      details: { candidates: found.map((m) => m.sha256) },
    });
  }
  return found[0]!;
}

/**
 * The stored model a reference names, if it may run: its manifest verifies
 * against an authority trusted now and its file is there with the right size.
 * Throws NOT_FOUND, BAD_ARGUMENT (ambiguous) or MODEL_REJECTED. The file's hash
 * is checked at load by verifyModelFile(path, sha256).
 */
export async function resolveModel(stateDir: string, ref: string): Promise<ResolvedModel> {
  const model = pickModel(await listModels(stateDir), ref);
  if (model.problem !== null || model.authority === null || model.manifest === null) {
    throw new SealboxError("MODEL_REJECTED", `model ${model.sha256.slice(0, 12)} (${model.manifest?.name ?? "?"}) is refused: ${model.problem ?? "no trusted authority"}`, { details: { sha256: model.sha256 } });
  }
  return { path: model.path, sha256: model.sha256, manifest: model.manifest, authority: model.authority };
}

export interface RemoveOptions {
  audit: AuditLog;
  actor: Actor;
}

/**
 * Removes a stored model and its manifest, audited: a "requested" record before
 * anything is removed (refused if the ledger refuses), its outcome after. The
 * manifest goes first, so a half-done removal leaves no listed model without a file.
 */
export async function removeModel(stateDir: string, ref: string, options: RemoveOptions): Promise<{ sha256: string; name: string; seq: number }> {
  const model = pickModel(await listModels(stateDir), ref);
  const target = model.sha256;
  const name = model.manifest?.name ?? "?";
  await options.audit.append({ actor: options.actor, category: "model", action: "model.remove", target, outcome: "requested", details: { name } });
  try {
    await unlinkIfThere(model.manifestPath);
    await unlinkIfThere(model.path);
    await syncDir(modelsDir(stateDir));
  } catch (e) {
    const auditError = await recordOutcome(options.audit, { actor: options.actor, category: "model", action: "model.remove", target, outcome: "failure", details: { error: (e as Error).message } });
    throw new SealboxError("INTERNAL", `could not remove model ${target}: ${(e as Error).message}`, { cause: e, details: auditError ? { auditError } : {} });
  }
  const receipt = await options.audit.append({ actor: options.actor, category: "model", action: "model.remove", target, outcome: "success", details: { name } });
  return { sha256: target, name, seq: receipt.seq };
}

/**
 * Appends an outcome record on a path that is already failing. Its own failure
 * must not hide the first error, so it is returned (for the error's details), not thrown.
 */
export async function recordOutcome(audit: AuditLog, event: Parameters<AuditLog["append"]>[0]): Promise<string | undefined> {
  try {
    await audit.append(event);
    return undefined;
  } catch (e) {
    return `the ${event.outcome} record could not be written either: ${(e as Error).message}`;
  }
}

export async function unlinkIfThere(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

/** fsync a directory, so renames and unlinks in it are durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The manifest a stored model was imported with, verbatim (for `model show`). */
export async function readStoredManifest(stateDir: string, sha256: string): Promise<string> {
  return readFile(manifestPath(stateDir, sha256), "utf8");
}
