// DIR/keys/key.json for a TPM key, and the sealed blobs next to it:
//   sealed.pub   TPM2B_PUBLIC  (as tpm2_create -u writes it)
//   sealed.priv  TPM2B_PRIVATE (as tpm2_create -r writes it)
// so tpm2_load can read them too. key.json is parsed strictly (this is a
// file reader facing whatever is on disk): size-limited, every field typed.

import { open, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SealboxError } from "../errors.js";
import { TpmReader, TpmWriter } from "../../hal/tpm/marshal.js";
import type { SealedBlob } from "../../hal/tpm/seal.js";

export const KEY_JSON_MAX_BYTES = 64 * 1024;
export const SEALED_PUBLIC_FILE = "sealed.pub";
export const SEALED_PRIVATE_FILE = "sealed.priv";

export interface TpmKeyMetadata {
  origin: "tpm";
  /** C2SP signed-note key name. */
  name: string;
  /** base64 of the raw 32-byte Ed25519 public key. */
  public_key: string;
  /** hex of the C2SP key id (4 bytes). */
  key_id: string;
  vkey: string;
  /** PCR bank and indices of the sealing policy. */
  pcr_bank: "sha256";
  pcrs: number[];
  /** PCR values at sealing time (hex), to name the PCR that changed when unsealing fails. */
  pcr_values: Record<string, string>;
  /** hex of the PolicyPCR digest the seed is sealed under. */
  policy_digest: string;
  /** hex Name of the storage primary key the blobs were made under; another Name means another TPM or a cleared one. */
  srk_name: string;
  /** NV index of the anti-rollback counter. */
  nv_index: number;
  /** Counter value right after provisioning (decimal), the anti-rollback floor while the ledger has no counter record. */
  nv_baseline: string;
  sealed_public: string;
  sealed_private: string;
  /** The TPM's attestation key Name and P-256 public point (hex), for NV_Certify evidence. */
  attestation_key?: { name: string; x: string; y: string };
  created: string;
}

function bad(message: string): SealboxError {
  return new SealboxError("BAD_FORMAT", `keys/key.json: ${message}`);
}

function str(o: Record<string, unknown>, k: string, re?: RegExp): string {
  const v = o[k];
  if (typeof v !== "string" || v.length > 4096) throw bad(`"${k}" must be a string`);
  if (re && !re.test(v)) throw bad(`"${k}" is not in the expected form`);
  return v;
}

const HEX = /^(?:[0-9a-f]{2})+$/;

/** Validates parsed key.json content with origin "tpm". */
export function validateTpmKeyMetadata(value: unknown): TpmKeyMetadata {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("not a JSON object");
  const o = value as Record<string, unknown>;
  if (o.origin !== "tpm") throw bad(`origin is ${JSON.stringify(o.origin)}, not "tpm"`);
  const pcrs = o.pcrs;
  if (!Array.isArray(pcrs) || pcrs.length === 0 || pcrs.length > 24 || !pcrs.every((p) => Number.isInteger(p) && p >= 0 && p <= 23)) {
    throw bad('"pcrs" must be a list of PCR indices 0–23');
  }
  const values = o.pcr_values;
  if (typeof values !== "object" || values === null || Array.isArray(values)) throw bad('"pcr_values" must be an object');
  const pcrValues: Record<string, string> = {};
  for (const p of pcrs as number[]) {
    const v = (values as Record<string, unknown>)[String(p)];
    if (typeof v !== "string" || !/^[0-9a-f]{64}$/.test(v)) throw bad(`"pcr_values"."${p}" must be 64 hex digits`);
    pcrValues[String(p)] = v;
  }
  if (o.pcr_bank !== "sha256") throw bad('"pcr_bank" must be "sha256"');
  const nv = o.nv_index;
  if (typeof nv !== "number" || !Number.isInteger(nv) || nv < 0x01000000 || nv > 0x01ffffff) throw bad('"nv_index" must be an NV index handle (0x01xxxxxx)');
  const publicKey = str(o, "public_key", /^[A-Za-z0-9+/]{43}=$/);
  if (Buffer.from(publicKey, "base64").length !== 32) throw bad('"public_key" must be 32 bytes of base64');
  const meta: TpmKeyMetadata = {
    origin: "tpm",
    name: str(o, "name"),
    public_key: publicKey,
    key_id: str(o, "key_id", /^[0-9a-f]{8}$/),
    vkey: str(o, "vkey"),
    pcr_bank: "sha256",
    pcrs: [...(pcrs as number[])],
    pcr_values: pcrValues,
    policy_digest: str(o, "policy_digest", /^[0-9a-f]{64}$/),
    srk_name: str(o, "srk_name", HEX),
    nv_index: nv,
    nv_baseline: str(o, "nv_baseline", /^\d{1,20}$/),
    sealed_public: str(o, "sealed_public", /^[\w.-]+$/),
    sealed_private: str(o, "sealed_private", /^[\w.-]+$/),
    created: str(o, "created"),
  };
  if (o.attestation_key !== undefined) {
    const ak = o.attestation_key as Record<string, unknown>;
    if (typeof ak !== "object" || ak === null) throw bad('"attestation_key" must be an object');
    meta.attestation_key = { name: str(ak, "name", HEX), x: str(ak, "x", /^[0-9a-f]{64}$/), y: str(ak, "y", /^[0-9a-f]{64}$/) };
  }
  return meta;
}

export function parseTpmKeyJson(text: string): TpmKeyMetadata {
  if (text.length > KEY_JSON_MAX_BYTES) throw new SealboxError("TOO_LARGE", `keys/key.json is larger than ${KEY_JSON_MAX_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SealboxError("BAD_FORMAT", `keys/key.json is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return validateTpmKeyMetadata(value);
}

export function keysDir(stateDir: string): string {
  return join(stateDir, "keys");
}

async function readLimited(path: string, maxBytes: number, what: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new SealboxError("KEY_UNAVAILABLE", `no ${what} at ${path}: provision a key first (sealbox keys provision)`, { cause: e });
    throw e;
  }
  try {
    const st = await fh.stat();
    if (st.size > maxBytes) throw new SealboxError("TOO_LARGE", `${path} is ${st.size} bytes, more than ${maxBytes}`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

export async function readTpmKey(stateDir: string): Promise<{ meta: TpmKeyMetadata; blob: SealedBlob }> {
  const dir = keysDir(stateDir);
  const meta = parseTpmKeyJson((await readLimited(join(dir, "key.json"), KEY_JSON_MAX_BYTES, "key metadata")).toString("utf8"));
  const unwrap = (bytes: Buffer, what: string): Uint8Array => {
    try {
      const r = new TpmReader(new Uint8Array(bytes), what);
      const v = r.tpm2b(what, 2048);
      r.end();
      return v;
    } catch (e) {
      throw new SealboxError("BAD_FORMAT", `keys/${what} is not a TPM2B blob: ${(e as Error).message}`, { cause: e });
    }
  };
  const pub = unwrap(await readLimited(join(dir, meta.sealed_public), 4096, "sealed public blob"), meta.sealed_public);
  const priv = unwrap(await readLimited(join(dir, meta.sealed_private), 4096, "sealed private blob"), meta.sealed_private);
  return { meta, blob: { public: pub, private: priv } };
}

/** Writes a file atomically: temp file, fsync, rename. */
async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data, { mode: 0o600 });
  const fh = await open(tmp, "r+");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** Blobs first, key.json last: a crash leaves either the old key.json or a complete new key. */
export async function writeTpmKey(stateDir: string, meta: TpmKeyMetadata, blob: SealedBlob): Promise<void> {
  const dir = keysDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(join(dir, meta.sealed_public), new TpmWriter().tpm2b(blob.public).finish());
  await writeAtomic(join(dir, meta.sealed_private), new TpmWriter().tpm2b(blob.private).finish());
  await writeAtomic(join(dir, "key.json"), JSON.stringify(meta, null, 2) + "\n");
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

export async function keyJsonExists(stateDir: string): Promise<{ origin: unknown } | undefined> {
  try {
    const text = await readFile(join(keysDir(stateDir), "key.json"), "utf8");
    try {
      return { origin: (JSON.parse(text) as { origin?: unknown }).origin };
    } catch {
      return { origin: undefined };
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}
