// The signed model manifest: what a site authority vouches for about a model
// file (its SHA-256 and size, name, licence, source). Pure: bytes in, values
// out; signing and verifying use node:crypto Ed25519 (RFC 8032) on keys passed in.
//
// The file is the RFC 8785 (JCS) canonical JSON of
//   { "manifest": { …fields… }, "signature": { "alg": "Ed25519", "keyId": …, "sig": … } }
// and nothing else (one trailing newline allowed), so the bytes a person reads
// are the bytes that were checked: no duplicate keys, no whitespace games.
// The signature covers SIGNING_CONTEXT ‖ JCS(manifest), JCS being the ledger's
// canonicalJson (daemon/ledger/record.ts). docs/models.md has the format.

import { createHash, sign as edSign, verify as edVerify, type KeyObject } from "node:crypto";
import { SealboxError } from "../errors.js";
import { canonicalJson } from "../ledger/record.js";
import type { JsonValue } from "../ledger/types.js";

export const MANIFEST_FORMAT = "sealbox.model-manifest/1";
/** Domain separation: an authority's signature on a manifest cannot be replayed as anything else. */
export const SIGNING_CONTEXT = "sealbox model manifest v1\n";
export const MANIFEST_MAX_BYTES = 64 * 1024;

export interface ModelManifest {
  format: typeof MANIFEST_FORMAT;
  /** A person's name for the model, e.g. "llama-3.1-8b-instruct-q4_k_m". */
  name: string;
  /** SHA-256 of the model file, 64 lowercase hex digits. */
  sha256: string;
  sizeBytes: number;
  /** SPDX identifier or the licence's name, e.g. "Apache-2.0". */
  licence: string;
  /** Where the authority got the file (a URL, a vendor, a ticket). */
  source: string;
  /** The file's name when it was signed (information only). */
  fileName: string;
  /** When it was signed, UTC, RFC 3339. */
  signedAt: string;
}

export interface ManifestSignature {
  alg: "Ed25519";
  /** SHA-256 of the authority's raw 32-byte public key, hex: which configured authority to check against. */
  keyId: string;
  /** The 64-byte Ed25519 signature, base64 (RFC 4648 §4, padded). */
  sig: string;
}

export interface SignedManifest {
  manifest: ModelManifest;
  signature: ManifestSignature;
}

/** A site authority the box trusts: its Ed25519 public key and a name (its file's name). */
export interface Authority {
  name: string;
  keyId: string;
  publicKey: KeyObject;
}

/** Why a manifest or model was refused (details.reason of MODEL_REJECTED). */
export type RejectReason =
  | "manifest-too-large"
  | "manifest-malformed"
  | "manifest-not-canonical"
  | "unknown-authority"
  | "bad-signature"
  | "size-mismatch"
  | "hash-mismatch"
  | "not-gguf"
  | "not-a-file";

export function rejected(reason: RejectReason, message: string, details: Record<string, unknown> = {}, cause?: unknown): SealboxError {
  return new SealboxError("MODEL_REJECTED", message, { details: { reason, ...details }, ...(cause !== undefined ? { cause } : {}) });
}

const HEX64 = /^[0-9a-f]{64}$/;
const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;
const BASE64_SIG = /^[A-Za-z0-9+/]{86}==$/;
// Printable text: no C0/C1 controls, no lone surrogates (RFC 8785 §3.2.2.2 refuses them).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u;

export function keyIdOf(rawPublicKey: Uint8Array): string {
  return createHash("sha256").update(rawPublicKey).digest("hex");
}

/** The raw 32-byte Ed25519 public key of a KeyObject (private or public). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" });
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new SealboxError("BAD_ARGUMENT", "not an Ed25519 key");
  return Buffer.from(jwk.x, "base64url");
}

export function manifestSigningBytes(manifest: ModelManifest): Buffer {
  return Buffer.from(SIGNING_CONTEXT + canonicalJson(manifest as unknown as JsonValue), "utf8");
}

function text(o: Record<string, unknown>, key: string, maxChars: number, problems: string[]): string {
  const v = o[key];
  if (typeof v !== "string" || v.length === 0 || v.length > maxChars || CONTROL.test(v) || v.trim() !== v) {
    problems.push(`manifest.${key}: expected 1–${maxChars} printable characters without surrounding spaces`);
    return "";
  }
  return v;
}

function onlyKeys(o: Record<string, unknown>, where: string, allowed: readonly string[], problems: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) problems.push(`${where}: unknown field ${JSON.stringify(k.slice(0, 40))}`);
  for (const k of allowed) if (!(k in o)) problems.push(`${where}.${k}: missing`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Checks manifest fields, returning them typed; throws MODEL_REJECTED manifest-malformed listing every problem. */
export function validateManifest(v: unknown): ModelManifest {
  const problems: string[] = [];
  if (!isObject(v)) throw rejected("manifest-malformed", "manifest: expected an object");
  onlyKeys(v, "manifest", ["format", "name", "sha256", "sizeBytes", "licence", "source", "fileName", "signedAt"], problems);
  if (v.format !== MANIFEST_FORMAT) problems.push(`manifest.format: expected "${MANIFEST_FORMAT}"`);
  const name = text(v, "name", 128, problems);
  if (typeof v.sha256 !== "string" || !HEX64.test(v.sha256)) problems.push("manifest.sha256: expected 64 lowercase hex digits");
  if (typeof v.sizeBytes !== "number" || !Number.isSafeInteger(v.sizeBytes) || v.sizeBytes < 1) problems.push("manifest.sizeBytes: expected a whole number ≥ 1");
  const licence = text(v, "licence", 256, problems);
  const source = text(v, "source", 1024, problems);
  const fileName = text(v, "fileName", 255, problems);
  if (fileName.includes("/")) problems.push("manifest.fileName: a name, not a path");
  if (typeof v.signedAt !== "string" || !RFC3339_UTC.test(v.signedAt) || Number.isNaN(Date.parse(v.signedAt))) problems.push("manifest.signedAt: expected a UTC RFC 3339 time");
  if (problems.length > 0) throw rejected("manifest-malformed", `the manifest is malformed: ${problems.join("; ")}`, { problems });
  return { format: MANIFEST_FORMAT, name, sha256: v.sha256 as string, sizeBytes: v.sizeBytes as number, licence, source, fileName, signedAt: v.signedAt as string };
}

/** Parses a manifest file's bytes. Throws MODEL_REJECTED (manifest-too-large, -malformed, -not-canonical). */
export function parseSignedManifest(bytes: Uint8Array): SignedManifest {
  if (bytes.length > MANIFEST_MAX_BYTES) throw rejected("manifest-too-large", `the manifest is ${bytes.length} bytes; the limit is ${MANIFEST_MAX_BYTES}`, { sizeBytes: bytes.length });
  let body: string;
  try {
    body = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw rejected("manifest-malformed", "the manifest is not UTF-8 text", {}, e);
  }
  const json = body.endsWith("\n") ? body.slice(0, -1) : body;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw rejected("manifest-malformed", `the manifest is not JSON: ${(e as Error).message}`, {}, e);
  }
  if (!isObject(v)) throw rejected("manifest-malformed", "the manifest is not a JSON object");
  const problems: string[] = [];
  onlyKeys(v, "(top)", ["manifest", "signature"], problems);
  const sig = v.signature;
  if (!isObject(sig)) problems.push("signature: expected an object");
  else {
    onlyKeys(sig, "signature", ["alg", "keyId", "sig"], problems);
    if (sig.alg !== "Ed25519") problems.push('signature.alg: expected "Ed25519"');
    if (typeof sig.keyId !== "string" || !HEX64.test(sig.keyId)) problems.push("signature.keyId: expected 64 lowercase hex digits");
    if (typeof sig.sig !== "string" || !BASE64_SIG.test(sig.sig)) problems.push("signature.sig: expected a base64 Ed25519 signature (64 bytes)");
  }
  if (problems.length > 0) throw rejected("manifest-malformed", `the manifest is malformed: ${problems.join("; ")}`, { problems });
  const manifest = validateManifest(v.manifest);
  const signed: SignedManifest = { manifest, signature: { alg: "Ed25519", keyId: (sig as Record<string, string>).keyId!, sig: (sig as Record<string, string>).sig! } };
  if (canonicalJson(signed as unknown as JsonValue) !== json) {
    throw rejected("manifest-not-canonical", "the manifest file is not in RFC 8785 canonical form (was it edited by hand? sign it again with `sealbox model sign`)");
  }
  return signed;
}

/** The file's bytes for a signed manifest: its canonical JSON and a newline. */
export function serializeSignedManifest(signed: SignedManifest): Buffer {
  return Buffer.from(canonicalJson(signed as unknown as JsonValue) + "\n", "utf8");
}

export function signManifest(manifest: ModelManifest, privateKey: KeyObject): SignedManifest {
  const checked = validateManifest(manifest);
  const sig = edSign(null, manifestSigningBytes(checked), privateKey);
  return { manifest: checked, signature: { alg: "Ed25519", keyId: keyIdOf(rawPublicKey(privateKey)), sig: sig.toString("base64") } };
}

/**
 * Finds the authority that signed, and checks its signature. Throws MODEL_REJECTED
 * unknown-authority (no configured key has that keyId) or bad-signature.
 */
export function verifySignedManifest(signed: SignedManifest, authorities: readonly Authority[]): Authority {
  const authority = authorities.find((a) => a.keyId === signed.signature.keyId);
  if (!authority) {
    throw rejected("unknown-authority", `the manifest is signed by an authority this box does not trust (key ${signed.signature.keyId.slice(0, 16)}…); trusted: ${authorities.map((a) => `${a.name} (${a.keyId.slice(0, 16)}…)`).join(", ") || "none configured"}`, {
      keyId: signed.signature.keyId,
    });
  }
  const ok = edVerify(null, manifestSigningBytes(signed.manifest), authority.publicKey, Buffer.from(signed.signature.sig, "base64"));
  if (!ok) throw rejected("bad-signature", `the manifest's signature does not verify with authority ${authority.name} (${authority.keyId.slice(0, 16)}…): it was altered or signed by another key`, { keyId: authority.keyId });
  return authority;
}
