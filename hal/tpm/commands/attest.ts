// Attestation: TPM2_NV_Certify (Part 3 §31.16) and TPM2_Quote (Part 3 §18.4).
// Both return a TPM2B_ATTEST and a TPMT_SIGNATURE by a TPM-held signing key.

import { TPM_ALG, TPM_CC } from "../constants.js";
import type { CommandHandle, TpmCommand } from "../command.js";
import { type EcdsaSignature, readSignature } from "../structures/attest.js";
import { type PcrSelection, writePcrSelectionList } from "../structures/pcr-selection.js";
import type { TpmWriter } from "../marshal.js";

export interface AttestResult {
  /** TPMS_ATTEST exactly as signed. */
  attest: Uint8Array;
  signature: EcdsaSignature;
}

/** TPMT_SIG_SCHEME: NULL lets the key's own scheme apply. */
function writeSigScheme(w: TpmWriter, scheme: { scheme: number; hashAlg?: number }): void {
  w.u16(scheme.scheme);
  if (scheme.scheme !== TPM_ALG.NULL) w.u16(scheme.hashAlg ?? TPM_ALG.SHA256);
}

const SCHEME_NULL = { scheme: TPM_ALG.NULL };

export function NV_Certify(signHandle: CommandHandle, authHandle: CommandHandle, nvIndex: CommandHandle, qualifyingData: Uint8Array, size: number, offset: number): TpmCommand<AttestResult> {
  return {
    code: TPM_CC.NV_Certify,
    handles: [signHandle, authHandle, nvIndex],
    authHandles: 2,
    responseHandles: 0,
    encryptable: { command: true, response: true },
    encodeParameters: (w) => {
      w.tpm2b(qualifyingData);
      writeSigScheme(w, SCHEME_NULL);
      w.u16(size).u16(offset);
    },
    decodeResponse: (_h, r) => ({ attest: r.tpm2b("certifyInfo", 2048), signature: readSignature(r) }),
  };
}

export function Quote(signHandle: CommandHandle, qualifyingData: Uint8Array, pcrSelect: readonly PcrSelection[]): TpmCommand<AttestResult> {
  return {
    code: TPM_CC.Quote,
    handles: [signHandle],
    authHandles: 1,
    responseHandles: 0,
    encryptable: { command: true, response: true },
    encodeParameters: (w) => {
      w.tpm2b(qualifyingData);
      writeSigScheme(w, SCHEME_NULL);
      writePcrSelectionList(w, pcrSelect);
    },
    decodeResponse: (_h, r) => ({ attest: r.tpm2b("quoted", 2048), signature: readSignature(r) }),
  };
}
