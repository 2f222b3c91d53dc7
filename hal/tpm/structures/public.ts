// TPMT_PUBLIC / TPM2B_PUBLIC (Part 2 §12.2.4, §12.2.5) for the object types
// sealbox creates: ECC keys (storage primary, attestation key) and
// KEYEDHASH sealed data objects. Names: nameAlg ‖ H(TPMT_PUBLIC) (Part 1 §16).

import { createHash } from "node:crypto";
import { TPM_ALG, digestSize, nodeHashName } from "../constants.js";
import { TpmReader, TpmWriter, concatBytes, tpmDecodeError } from "../marshal.js";

/** TPMT_SYM_DEF_OBJECT / TPMT_SYM_DEF (Part 2 §11.1.6/§11.1.7). algorithm NULL has no further fields. */
export interface SymDef {
  algorithm: number;
  keyBits?: number;
  mode?: number;
}

export const SYM_NULL: SymDef = { algorithm: TPM_ALG.NULL };
export const AES_128_CFB: SymDef = { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB };

/** A scheme with an optional hash (TPMT_ECC_SCHEME, TPMT_KDF_SCHEME, TPMT_KEYEDHASH_SCHEME for HMAC). */
export interface Scheme {
  scheme: number;
  hashAlg?: number;
}

export const SCHEME_NULL: Scheme = { scheme: TPM_ALG.NULL };

export interface EccParms {
  symmetric: SymDef;
  scheme: Scheme;
  curveID: number;
  kdf: Scheme;
}

export interface EccPoint {
  x: Uint8Array;
  y: Uint8Array;
}

export type TpmtPublic =
  | { type: typeof TPM_ALG.ECC; nameAlg: number; objectAttributes: number; authPolicy: Uint8Array; parameters: EccParms; unique: EccPoint }
  | { type: typeof TPM_ALG.KEYEDHASH; nameAlg: number; objectAttributes: number; authPolicy: Uint8Array; parameters: { scheme: Scheme }; unique: Uint8Array };

export function writeSymDef(w: TpmWriter, s: SymDef): void {
  w.u16(s.algorithm);
  if (s.algorithm === TPM_ALG.NULL) return;
  if (s.keyBits === undefined || s.mode === undefined) throw new RangeError("a symmetric definition other than NULL needs keyBits and mode");
  w.u16(s.keyBits).u16(s.mode);
}

export function readSymDef(r: TpmReader, what: string): SymDef {
  const algorithm = r.u16(`${what}.algorithm`);
  if (algorithm === TPM_ALG.NULL) return { algorithm };
  return { algorithm, keyBits: r.u16(`${what}.keyBits`), mode: r.u16(`${what}.mode`) };
}

function writeScheme(w: TpmWriter, s: Scheme): void {
  w.u16(s.scheme);
  if (s.scheme !== TPM_ALG.NULL) w.u16(s.hashAlg ?? TPM_ALG.SHA256);
}

/** Schemes sealbox meets all carry exactly one hash (ECDSA, ECDH, HMAC, KDF1_*); ECDAA (a count too) is refused. */
function readScheme(r: TpmReader, what: string): Scheme {
  const scheme = r.u16(`${what}.scheme`);
  if (scheme === TPM_ALG.NULL) return { scheme };
  if (scheme === 0x001a /* TPM_ALG_ECDAA */ || scheme === 0x000a /* TPM_ALG_XOR */) {
    throw tpmDecodeError(r.context, `${what}: scheme 0x${scheme.toString(16)} is not supported`);
  }
  return { scheme, hashAlg: r.u16(`${what}.hashAlg`) };
}

export function writePublic(w: TpmWriter, p: TpmtPublic): void {
  w.u16(p.type).u16(p.nameAlg).u32(p.objectAttributes).tpm2b(p.authPolicy);
  if (p.type === TPM_ALG.ECC) {
    writeSymDef(w, p.parameters.symmetric);
    writeScheme(w, p.parameters.scheme);
    w.u16(p.parameters.curveID);
    writeScheme(w, p.parameters.kdf);
    w.tpm2b(p.unique.x).tpm2b(p.unique.y);
  } else {
    writeScheme(w, p.parameters.scheme);
    w.tpm2b(p.unique);
  }
}

export function readPublic(r: TpmReader): TpmtPublic {
  const type = r.u16("TPMT_PUBLIC.type");
  const nameAlg = r.u16("TPMT_PUBLIC.nameAlg");
  const objectAttributes = r.u32("TPMT_PUBLIC.objectAttributes");
  const authPolicy = r.tpm2b("TPMT_PUBLIC.authPolicy", 64);
  if (type === TPM_ALG.ECC) {
    const symmetric = readSymDef(r, "TPMS_ECC_PARMS.symmetric");
    const scheme = readScheme(r, "TPMS_ECC_PARMS.scheme");
    const curveID = r.u16("TPMS_ECC_PARMS.curveID");
    const kdf = readScheme(r, "TPMS_ECC_PARMS.kdf");
    const x = r.tpm2b("TPMS_ECC_POINT.x", 128);
    const y = r.tpm2b("TPMS_ECC_POINT.y", 128);
    return { type, nameAlg, objectAttributes, authPolicy, parameters: { symmetric, scheme, curveID, kdf }, unique: { x, y } };
  }
  if (type === TPM_ALG.KEYEDHASH) {
    const scheme = readScheme(r, "TPMT_KEYEDHASH_SCHEME");
    const unique = r.tpm2b("TPM2B_DIGEST unique", 64);
    return { type, nameAlg, objectAttributes, authPolicy, parameters: { scheme }, unique };
  }
  throw tpmDecodeError(r.context, `TPMT_PUBLIC.type 0x${type.toString(16)} is not supported (sealbox reads ECC and KEYEDHASH objects)`);
}

export function encodePublic(p: TpmtPublic): Uint8Array {
  const w = new TpmWriter();
  writePublic(w, p);
  return w.finish();
}

/** Parses a TPM2B_PUBLIC as a whole (e.g. a file written by tpm2_create -u). */
export function decodePublic2b(bytes: Uint8Array): { public: TpmtPublic; encoded: Uint8Array } {
  const r = new TpmReader(bytes, "TPM2B_PUBLIC");
  const encoded = r.tpm2b("TPM2B_PUBLIC");
  r.end();
  const inner = new TpmReader(encoded, "TPMT_PUBLIC");
  const pub = readPublic(inner);
  inner.end();
  return { public: pub, encoded };
}

export function encodePublic2b(p: TpmtPublic): Uint8Array {
  return new TpmWriter().tpm2b(encodePublic(p)).finish();
}

/** Name of an object: nameAlg ‖ H_nameAlg(marshalled TPMT_PUBLIC) (Part 1 §16). */
export function objectName(nameAlg: number, encodedPublic: Uint8Array): Uint8Array {
  if (digestSize(nameAlg) === 0) throw new RangeError(`nameAlg 0x${nameAlg.toString(16)} unsupported`);
  const alg = new Uint8Array(2);
  new DataView(alg.buffer).setUint16(0, nameAlg);
  return concatBytes(alg, new Uint8Array(createHash(nodeHashName(nameAlg)).update(encodedPublic).digest()));
}
