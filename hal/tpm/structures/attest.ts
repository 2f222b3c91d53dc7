// TPMS_ATTEST (Part 2 §10.12.12) and TPMT_SIGNATURE (Part 2 §11.3.4): what
// NV_Certify and Quote return. Decoding is strict and bounded: these bytes
// reach auditors' verifiers, which must not trust them.

import { TPM_ALG, TPM_GENERATED_VALUE, TPM_ST } from "../constants.js";
import { TpmReader, TpmWriter, tpmDecodeError } from "../marshal.js";
import { type PcrSelection, readPcrSelectionList } from "./pcr-selection.js";

export interface ClockInfo {
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
}

export type Attested =
  | { type: typeof TPM_ST.ATTEST_NV; indexName: Uint8Array; offset: number; nvContents: Uint8Array }
  | { type: typeof TPM_ST.ATTEST_QUOTE; pcrSelect: PcrSelection[]; pcrDigest: Uint8Array };

export interface Attest {
  magic: number;
  qualifiedSigner: Uint8Array;
  extraData: Uint8Array;
  clockInfo: ClockInfo;
  firmwareVersion: bigint;
  attested: Attested;
}

export function decodeAttest(bytes: Uint8Array): Attest {
  const r = new TpmReader(bytes, "TPMS_ATTEST");
  const magic = r.u32("magic");
  if (magic !== TPM_GENERATED_VALUE) throw tpmDecodeError("TPMS_ATTEST", `magic is 0x${magic.toString(16)}, not TPM_GENERATED_VALUE`);
  const type = r.u16("type");
  const qualifiedSigner = r.tpm2b("qualifiedSigner", 2 + 64);
  const extraData = r.tpm2b("extraData", 64);
  const clockInfo: ClockInfo = {
    clock: r.u64("clockInfo.clock"),
    resetCount: r.u32("clockInfo.resetCount"),
    restartCount: r.u32("clockInfo.restartCount"),
    safe: r.u8("clockInfo.safe") !== 0,
  };
  const firmwareVersion = r.u64("firmwareVersion");
  let attested: Attested;
  if (type === TPM_ST.ATTEST_NV) {
    const indexName = r.tpm2b("TPMS_NV_CERTIFY_INFO.indexName", 2 + 64);
    const offset = r.u16("TPMS_NV_CERTIFY_INFO.offset");
    const nvContents = r.tpm2b("TPMS_NV_CERTIFY_INFO.nvContents", 2048);
    attested = { type, indexName, offset, nvContents };
  } else if (type === TPM_ST.ATTEST_QUOTE) {
    const pcrSelect = readPcrSelectionList(r);
    const pcrDigest = r.tpm2b("TPMS_QUOTE_INFO.pcrDigest", 64);
    attested = { type, pcrSelect, pcrDigest };
  } else {
    throw tpmDecodeError("TPMS_ATTEST", `attestation type 0x${type.toString(16)} is not supported`);
  }
  r.end();
  return { magic, qualifiedSigner, extraData, clockInfo, firmwareVersion, attested };
}

export interface EcdsaSignature {
  sigAlg: typeof TPM_ALG.ECDSA;
  hash: number;
  r: Uint8Array;
  s: Uint8Array;
}

export function readSignature(r: TpmReader): EcdsaSignature {
  const sigAlg = r.u16("TPMT_SIGNATURE.sigAlg");
  if (sigAlg !== TPM_ALG.ECDSA) throw tpmDecodeError(r.context, `signature algorithm 0x${sigAlg.toString(16)} is not ECDSA`);
  const hash = r.u16("TPMS_SIGNATURE_ECC.hash");
  const sr = r.tpm2b("TPMS_SIGNATURE_ECC.signatureR", 66);
  const ss = r.tpm2b("TPMS_SIGNATURE_ECC.signatureS", 66);
  return { sigAlg, hash, r: sr, s: ss };
}

export function encodeSignature(sig: EcdsaSignature): Uint8Array {
  return new TpmWriter().u16(sig.sigAlg).u16(sig.hash).tpm2b(sig.r).tpm2b(sig.s).finish();
}

export function decodeSignature(bytes: Uint8Array): EcdsaSignature {
  const r = new TpmReader(bytes, "TPMT_SIGNATURE");
  const sig = readSignature(r);
  r.end();
  return sig;
}
