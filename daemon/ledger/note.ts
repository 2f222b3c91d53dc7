// C2SP signed-note v1.0.0 (https://c2sp.org/signed-note) with Ed25519
// signatures (type 0x01). A note is UTF-8 text ending in a newline, a blank
// line, then one or more lines "— <key name> base64(keyID || signature)".
//   key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]
//   vkey   = <name>+<hex key ID>+base64(0x01 || public key)   (golang.org/x/mod/sumdb/note)
// Verifiers ignore signatures from unknown keys, reject the note when a known
// key's signature fails, and require at least one known key to verify.

import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { SealboxError } from "../errors.js";
import type { Signer } from "../keys/signer.js";
import { decodeBase64, toBase64, toHex } from "./encoding.js";

/** Signature type byte for Ed25519 (signed-note §Signature types). */
export const ED25519_TYPE = 0x01;

/** Notes larger than this are refused before parsing (16 post-quantum signatures fit). */
export const MAX_NOTE_BYTES = 1 << 20;
/** More signature lines than this are refused; the spec asks verifiers to accept at least 16. */
export const MAX_SIGNATURES = 100;

const EM_DASH = "\u2014";

export interface NoteVerifier {
  readonly name: string;
  /** The 4-byte key ID, big-endian. */
  readonly keyId: Uint8Array;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

function badFormat(message: string, details?: Record<string, unknown>): SealboxError {
  return new SealboxError("BAD_FORMAT", message, details ? { details } : {});
}

/** Key names are non-empty, with no Unicode spaces, no plus and no control characters. */
export function checkKeyName(name: string): void {
  if (typeof name !== "string" || name.length === 0) throw badFormat("key name is empty");
  if (/[\s+\p{Cc}]/u.test(name)) throw badFormat(`key name ${JSON.stringify(name)} holds a space, a plus or a control character`);
  if (/\p{Cs}/u.test(name)) throw badFormat("key name is not valid Unicode");
}

export function keyId(name: string, publicKey: Uint8Array): Uint8Array {
  checkKeyName(name);
  if (publicKey.length !== 32) throw badFormat(`an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  const h = createHash("sha256").update(name, "utf8").update(new Uint8Array([0x0a, ED25519_TYPE])).update(publicKey).digest();
  return new Uint8Array(h.subarray(0, 4));
}

export function formatVkey(name: string, publicKey: Uint8Array): string {
  const id = keyId(name, publicKey);
  const typed = new Uint8Array(33);
  typed[0] = ED25519_TYPE;
  typed.set(publicKey, 1);
  return `${name}+${toHex(id)}+${toBase64(typed)}`;
}

// RFC 8410 SubjectPublicKeyInfo prefix for an Ed25519 key.
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32) throw badFormat(`an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
}

/** A verifier for an Ed25519 key of the given name. */
export function ed25519Verifier(name: string, publicKey: Uint8Array): NoteVerifier {
  const id = keyId(name, publicKey);
  const key = ed25519PublicKeyObject(publicKey);
  return {
    name,
    keyId: id,
    publicKey: new Uint8Array(publicKey),
    verify: (message, signature) => signature.length === 64 && cryptoVerify(null, message, key, signature),
  };
}

/** Parses a vkey ("name+hexid+base64(0x01||key)"); the base64 part may itself hold '+'. */
export function parseVkey(vkey: string): NoteVerifier {
  if (typeof vkey !== "string" || vkey.length > 4096) throw badFormat("verifier key is not a short string");
  const i1 = vkey.indexOf("+");
  const i2 = i1 < 0 ? -1 : vkey.indexOf("+", i1 + 1);
  if (i1 < 0 || i2 < 0) throw badFormat("verifier key must be name+keyid+key");
  const name = vkey.slice(0, i1);
  const idHex = vkey.slice(i1 + 1, i2);
  checkKeyName(name);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw badFormat("verifier key id must be 8 lowercase hex digits");
  const typed = decodeBase64(vkey.slice(i2 + 1), "verifier key");
  if (typed.length === 0 || typed[0] !== ED25519_TYPE) {
    throw badFormat(`verifier key type ${typed.length ? "0x" + typed[0]!.toString(16).padStart(2, "0") : "(none)"} is not supported (only Ed25519, 0x01)`);
  }
  if (typed.length !== 33) throw badFormat(`an Ed25519 verifier key holds 32 bytes, got ${typed.length - 1}`);
  const publicKey = typed.subarray(1);
  const verifier = ed25519Verifier(name, publicKey);
  if (toHex(verifier.keyId) !== idHex) throw badFormat(`verifier key id ${idHex} does not match its key (${toHex(verifier.keyId)})`);
  return verifier;
}

/** Checks note text: non-empty UTF-16 with no lone surrogates, no control characters but newline, ends in newline. */
function checkText(text: string, what: string): void {
  if (text.length === 0 || !text.endsWith("\n")) throw badFormat(`${what} must end with a newline`);
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw badFormat(`${what} holds a control character other than newline`);
  if (/\p{Cs}/u.test(text)) throw badFormat(`${what} is not valid Unicode (lone surrogate)`);
}

function signatureLine(text: string, signer: Signer): string {
  checkKeyName(signer.name);
  const id = keyId(signer.name, signer.publicKey);
  const sig = signer.sign(Buffer.from(text, "utf8"));
  const blob = new Uint8Array(4 + sig.length);
  blob.set(id, 0);
  blob.set(sig, 4);
  return `${EM_DASH} ${signer.name} ${toBase64(blob)}\n`;
}

/** Signs text (which must end in a newline) with one or more signers, in order. */
export function signNoteWith(text: string, signers: Signer[]): string {
  checkText(text, "note text");
  if (signers.length === 0) throw badFormat("a note needs at least one signature");
  return text + "\n" + signers.map((s) => signatureLine(text, s)).join("");
}

export function signNote(text: string, signer: Signer): string {
  return signNoteWith(text, [signer]);
}

export interface ParsedSignature {
  name: string;
  keyId: Uint8Array;
  signature: Uint8Array;
}

/** Splits a note into text and signature lines without checking any signature. */
export function parseNote(note: string): { text: string; signatures: ParsedSignature[] } {
  if (typeof note !== "string") throw badFormat("note is not text");
  if (note.length > MAX_NOTE_BYTES) throw badFormat(`note is longer than ${MAX_NOTE_BYTES} bytes`);
  checkText(note, "note");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw badFormat("note has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split("\n");
  lines.pop(); // the note ends in "\n"
  if (lines.length === 0) throw badFormat("note has no signatures");
  if (lines.length > MAX_SIGNATURES) throw badFormat(`note has ${lines.length} signatures, the limit is ${MAX_SIGNATURES}`);
  const signatures = lines.map((line, i) => {
    if (!line.startsWith(EM_DASH + " ")) throw badFormat(`signature line ${i + 1} does not start with an em dash and a space`);
    const parts = line.slice(2).split(" ");
    if (parts.length !== 2) throw badFormat(`signature line ${i + 1} must be "— <name> <base64>"`);
    const [name, b64] = parts as [string, string];
    checkKeyName(name);
    const blob = decodeBase64(b64, `signature ${i + 1}`);
    if (blob.length < 5) throw badFormat(`signature ${i + 1} is too short`);
    return { name, keyId: blob.subarray(0, 4), signature: blob.subarray(4) };
  });
  return { text, signatures };
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === 4 && b.length === 4 && a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3];
}

/**
 * Opens a signed note: returns its text and the known verifiers whose
 * signatures hold. Throws BAD_FORMAT for a malformed note and BAD_SIGNATURE
 * when a known key's signature fails or no known key signed it.
 */
export function verifyNote(note: string, verifiers: NoteVerifier[]): { text: string; verified: NoteVerifier[] } {
  const { text, signatures } = parseNote(note);
  const message = Buffer.from(text, "utf8");
  const verified: NoteVerifier[] = [];
  for (const sig of signatures) {
    const v = verifiers.find((k) => k.name === sig.name && sameId(k.keyId, sig.keyId));
    if (!v) continue; // unknown keys are ignored (signed-note §Signatures)
    if (verified.includes(v)) throw badFormat(`note holds two signatures by ${v.name}+${toHex(v.keyId)}`);
    if (!v.verify(message, sig.signature)) {
      throw new SealboxError("BAD_SIGNATURE", `the signature by ${v.name}+${toHex(v.keyId)} does not verify`, {
        details: { name: v.name, keyId: toHex(v.keyId) },
      });
    }
    verified.push(v);
  }
  if (verified.length === 0) {
    const seen = signatures.map((s) => `${s.name}+${toHex(s.keyId)}`).join(", ");
    throw new SealboxError("BAD_SIGNATURE", `no signature by a known key (signed by: ${seen})`, { details: { signedBy: seen } });
  }
  return { text, verified };
}
