// Site authority keys: an Ed25519 key pair made on the authority's own
// offline machine (`sealbox authority keygen`), whose public half is installed
// on each box as STATE/authorities/NAME.pub. Files are PEM: PKCS#8 for the
// private key (RFC 5208/8410, mode 0600), SubjectPublicKeyInfo for the public
// key (RFC 5280/8410), so openssl and other tools read them too.

import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { constants } from "node:fs";
import { open, readdir, readFile, stat, unlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { SealboxError } from "../errors.js";
import { keyIdOf, rawPublicKey, type Authority } from "./manifest.js";

export const AUTHORITIES_DIR = "authorities";
const KEY_FILE_MAX_BYTES = 16 * 1024;
/** An authority's name is its file's name: short, safe in a path and on a terminal. */
export const AUTHORITY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function authoritiesDir(stateDir: string): string {
  return join(stateDir, AUTHORITIES_DIR);
}

async function readSmall(path: string, what: string): Promise<Buffer> {
  let s;
  try {
    s = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SealboxError(code === "ENOENT" ? "NOT_FOUND" : "BAD_ARGUMENT", `cannot read ${what} ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!s.isFile()) throw new SealboxError("BAD_ARGUMENT", `${what} ${path} is not a regular file`);
  if (s.size > KEY_FILE_MAX_BYTES) throw new SealboxError("BAD_FORMAT", `${what} ${path} is ${s.size} bytes; a key file is at most ${KEY_FILE_MAX_BYTES}`);
  return readFile(path);
}

/** Writes a file that must not exist yet (O_EXCL), with its mode set at creation. */
async function writeNew(path: string, data: string, mode: number): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask may have taken bits away
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface NewAuthorityKey {
  privateKeyPath: string;
  publicKeyPath: string;
  keyId: string;
  publicKeyPem: string;
}

/** Makes an authority key pair: KEY (0600) and KEY.pub (0644). Refuses (KEY_EXISTS) to replace either. */
export async function writeAuthorityKey(privateKeyPath: string): Promise<NewAuthorityKey> {
  const publicKeyPath = `${privateKeyPath}.pub`;
  for (const p of [privateKeyPath, publicKeyPath]) {
    const exists = await stat(p).then(
      () => true,
      () => false,
    );
    if (exists) throw new SealboxError("KEY_EXISTS", `${p} already exists; an authority key is never overwritten (choose another --out)`);
  }
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const privatePem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  const publicKeyPem = publicKey.export({ format: "pem", type: "spki" }) as string;
  const created: string[] = [];
  try {
    await writeNew(privateKeyPath, privatePem, 0o600);
    created.push(privateKeyPath);
    await writeNew(publicKeyPath, publicKeyPem, 0o644);
    created.push(publicKeyPath);
  } catch (e) {
    // Nothing half-made stays behind: remove what this call created, and only that.
    for (const p of created) await unlink(p).catch(() => undefined);
    if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new SealboxError("KEY_EXISTS", `${(e as Error).message}: an authority key is never overwritten`, { cause: e });
    throw new SealboxError("BAD_ARGUMENT", `cannot write the authority key: ${(e as Error).message}`, { cause: e });
  }
  return { privateKeyPath, publicKeyPath, keyId: keyIdOf(rawPublicKey(publicKey)), publicKeyPem };
}

/** Reads an authority private key; refuses one that others can read (like ssh does). */
export async function readAuthorityPrivateKey(path: string): Promise<KeyObject> {
  const bytes = await readSmall(path, "authority key");
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SealboxError("BAD_CONFIG", `authority key ${path} is readable by others (mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 ${path}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(bytes);
  } catch (e) {
    throw new SealboxError("BAD_FORMAT", `${path} is not a PEM private key: ${(e as Error).message}`, { cause: e });
  }
  if (key.asymmetricKeyType !== "ed25519") throw new SealboxError("BAD_FORMAT", `${path} is a ${key.asymmetricKeyType} key; an authority key is Ed25519`);
  return key;
}

/** Parses a public key file's bytes (SPKI PEM, Ed25519). */
export function parseAuthorityPublicKey(bytes: Uint8Array, name: string, where: string): Authority {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(bytes), format: "pem" });
  } catch (e) {
    throw new SealboxError("BAD_FORMAT", `${where} is not a PEM public key: ${(e as Error).message}`, { cause: e });
  }
  if (key.asymmetricKeyType !== "ed25519") throw new SealboxError("BAD_FORMAT", `${where} is a ${key.asymmetricKeyType} key; an authority key is Ed25519`);
  return { name, keyId: keyIdOf(rawPublicKey(key)), publicKey: key };
}

export async function readAuthorityPublicKey(path: string, name = basename(path).replace(/\.pub$/, "")): Promise<Authority> {
  return parseAuthorityPublicKey(await readSmall(path, "authority public key"), name, path);
}

/**
 * The authorities this box trusts: every STATE/authorities/NAME.pub. A file
 * that cannot be read is an error (BAD_CONFIG), not skipped: a broken trust
 * anchor must be seen, not silently ignored.
 */
export async function loadAuthorities(stateDir: string): Promise<Authority[]> {
  const dir = authoritiesDir(stateDir);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".pub")).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new SealboxError("BAD_CONFIG", `cannot read ${dir}: ${(e as Error).message}`, { cause: e });
  }
  const out: Authority[] = [];
  for (const n of names) {
    try {
      out.push(await readAuthorityPublicKey(join(dir, n)));
    } catch (e) {
      throw new SealboxError("BAD_CONFIG", `trusted authority ${join(dir, n)} is unusable: ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}
