// DIR/keys/key.json and the signer it describes. key.json is public metadata:
//   {"origin": "software"|"tpm", "name", "public_key" (base64, 32 bytes),
//    "key_id" (hex, C2SP), "vkey", "created", …origin-specific fields}
// A software key keeps its private key next to it in software-ed25519.key
// (PKCS#8 PEM, mode 0600, directory 0700). A TPM key keeps sealed blobs
// (daemon/keys/tpm-key-file.ts). openSigner switches on origin.

import { chmod, mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import { createPrivateKey } from "node:crypto";
import { SealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { ensureBox, writeFileAtomic } from "../box.js";
import { formatVkey, keyId } from "../ledger/note.js";
import { toHex } from "../ledger/encoding.js";
import { ed25519PrivateKeyFromSeed, generateSeed, keyObjectSigner, rawPublicKey } from "./software-key.js";
import type { KeyOrigin, Signer } from "./signer.js";

export const KEY_JSON = "key.json";
export const SOFTWARE_KEY_FILE = "software-ed25519.key";
const MAX_KEY_JSON_BYTES = 64 * 1024;
const MAX_PRIVATE_KEY_BYTES = 4096;

/** The public part of key.json every origin has. */
export interface KeyInfo {
  origin: KeyOrigin;
  name: string;
  /** base64 of the raw 32-byte Ed25519 public key. */
  public_key: string;
  /** hex of the C2SP key id. */
  key_id: string;
  vkey: string;
  created: string;
}

export interface SoftwareKeyJson extends KeyInfo {
  origin: "software";
  private_key_file: string;
}

export function keysDir(stateDir: string): string {
  return join(stateDir, "keys");
}

/** The key name (and so the log origin) of a software key: it says "software" where every auditor sees it. */
export function softwareKeyName(boxId: string): string {
  return `sealbox.local/${boxId}/software`;
}

function badKeyJson(message: string): SealboxError {
  return new SealboxError("KEY_UNAVAILABLE", `keys/${KEY_JSON}: ${message}`);
}

async function readLimited(path: string, maxBytes: number): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new SealboxError("KEY_UNAVAILABLE", `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SealboxError("KEY_UNAVAILABLE", `${path} is not a regular file`);
    if (st.size > maxBytes) throw new SealboxError("KEY_UNAVAILABLE", `${path} is larger than ${maxBytes} bytes`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** Checks the fields every key.json has, and that key_id and vkey match the public key. */
export function validateKeyInfo(value: unknown): KeyInfo & Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw badKeyJson("not a JSON object");
  const o = value as Record<string, unknown>;
  if (o.origin !== "software" && o.origin !== "tpm") throw badKeyJson(`origin must be "software" or "tpm", got ${JSON.stringify(o.origin)}`);
  for (const k of ["name", "public_key", "key_id", "vkey", "created"]) {
    if (typeof o[k] !== "string" || (o[k] as string).length === 0 || (o[k] as string).length > 4096) throw badKeyJson(`"${k}" must be a non-empty string`);
  }
  const pub = Buffer.from(o.public_key as string, "base64");
  if (pub.length !== 32 || pub.toString("base64") !== o.public_key) throw badKeyJson('"public_key" must be 32 bytes of base64');
  const name = o.name as string;
  let id: string;
  let vkey: string;
  try {
    id = toHex(keyId(name, pub));
    vkey = formatVkey(name, pub);
  } catch (e) {
    throw badKeyJson(`"name" is not a valid key name: ${(e as Error).message}`);
  }
  if (o.key_id !== id) throw badKeyJson(`"key_id" ${String(o.key_id)} does not match the public key (${id})`);
  if (o.vkey !== vkey) throw badKeyJson('"vkey" does not match the name and public key');
  return o as KeyInfo & Record<string, unknown>;
}

/** Reads and checks DIR/keys/key.json. Throws KEY_UNAVAILABLE when there is none. */
export async function readKeyInfo(stateDir: string): Promise<KeyInfo & Record<string, unknown>> {
  const path = join(keysDir(stateDir), KEY_JSON);
  const bytes = await readLimited(path, MAX_KEY_JSON_BYTES);
  if (!bytes) {
    throw new SealboxError("KEY_UNAVAILABLE", `no key in ${keysDir(stateDir)}: provision one (sealbox keys provision --state ${stateDir} --software, or --tpm)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw badKeyJson(`not valid JSON: ${(e as Error).message}`);
  }
  return validateKeyInfo(parsed);
}

export interface OpenSignerOptions {
  log?: Logger;
}

async function openSoftwareSigner(stateDir: string, info: KeyInfo & Record<string, unknown>, log?: Logger): Promise<Signer> {
  const file = info.private_key_file;
  if (typeof file !== "string" || !/^[\w.-]+$/.test(file)) throw badKeyJson('"private_key_file" must be a file name in keys/');
  const path = join(keysDir(stateDir), file);
  const pem = await readLimited(path, MAX_PRIVATE_KEY_BYTES);
  if (!pem) throw new SealboxError("KEY_UNAVAILABLE", `the software private key ${path} is missing`);
  let signer: Signer;
  try {
    signer = keyObjectSigner(info.name, createPrivateKey({ key: pem, format: "pem" }), "software");
  } catch (e) {
    throw new SealboxError("KEY_UNAVAILABLE", `${path} is not an Ed25519 private key: ${(e as Error).message}`, { cause: e });
  } finally {
    pem.fill(0);
  }
  if (Buffer.from(signer.publicKey).toString("base64") !== info.public_key) {
    signer.close();
    throw new SealboxError("KEY_UNAVAILABLE", `${path} does not match the public key in keys/${KEY_JSON}`);
  }
  log?.warn("signing with a SOFTWARE key (development only: the private key is a file on disk)", { name: info.name, keyId: info.key_id });
  return signer;
}

/** Opens the box's signer as key.json describes it. */
export async function openSigner(stateDir: string, options: OpenSignerOptions = {}): Promise<Signer> {
  const info = await readKeyInfo(stateDir);
  switch (info.origin) {
    case "software":
      return openSoftwareSigner(stateDir, info, options.log);
    case "tpm":
      // The TPM-sealed key needs a TPM transport: daemon/keys/tpm-open.ts opens both.
      throw new SealboxError("KEY_UNAVAILABLE", `the key in ${keysDir(stateDir)} is sealed in the TPM; open it with the TPM (daemon/keys/tpm-open.ts)`);
  }
}

export interface ProvisionSoftwareKeyOptions {
  /** Replace an existing key (of any origin). Without it an existing key.json is KEY_EXISTS. */
  force?: boolean;
  /** Key name; defaults to softwareKeyName(box id). */
  name?: string;
  /** A fixed seed (tests and reproducible fixtures); defaults to a fresh random one. */
  seed?: Uint8Array;
}

export interface ProvisionResult {
  info: SoftwareKeyJson;
  replaced: KeyInfo | undefined;
}

/** Creates DIR/box.json if needed and a software Ed25519 key in DIR/keys (0600 private key). */
export async function provisionSoftwareKey(stateDir: string, options: ProvisionSoftwareKeyOptions = {}): Promise<ProvisionResult> {
  const box = await ensureBox(stateDir);
  let replaced: KeyInfo | undefined;
  const existing = await readLimited(join(keysDir(stateDir), KEY_JSON), MAX_KEY_JSON_BYTES);
  if (existing) {
    if (!options.force) {
      let origin = "unknown";
      try {
        origin = String((JSON.parse(existing.toString("utf8")) as { origin?: unknown }).origin);
      } catch {
        // an unreadable key.json is still a key.json: refuse to overwrite it without --force
      }
      throw new SealboxError("KEY_EXISTS", `a ${origin} key is already provisioned in ${keysDir(stateDir)} (use --force to replace it)`);
    }
    try {
      replaced = validateKeyInfo(JSON.parse(existing.toString("utf8")));
    } catch {
      replaced = undefined;
    }
  }
  const dir = keysDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const seed = options.seed ?? generateSeed();
  const key = ed25519PrivateKeyFromSeed(seed);
  const publicKey = rawPublicKey(key);
  const name = options.name ?? softwareKeyName(box.box_id);
  const info: SoftwareKeyJson = {
    origin: "software",
    name,
    public_key: Buffer.from(publicKey).toString("base64"),
    key_id: toHex(keyId(name, publicKey)),
    vkey: formatVkey(name, publicKey),
    created: new Date().toISOString(),
    private_key_file: SOFTWARE_KEY_FILE,
  };
  const pem = key.export({ format: "pem", type: "pkcs8" });
  await writeFileAtomic(join(dir, SOFTWARE_KEY_FILE), pem, 0o600);
  await writeFileAtomic(join(dir, KEY_JSON), JSON.stringify(info, null, 2) + "\n", 0o644);
  return { info, replaced };
}

/** The key's public description, for `sealbox keys show` (no private material is read). */
export async function showKey(stateDir: string): Promise<KeyInfo> {
  const info = await readKeyInfo(stateDir);
  return { origin: info.origin, name: info.name, public_key: info.public_key, key_id: info.key_id, vkey: info.vkey, created: info.created };
}

