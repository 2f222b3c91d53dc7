// Session and policy commands: TPM2_StartAuthSession (Part 3 §11.1),
// TPM2_PolicyPCR (§23.7), TPM2_PolicyGetDigest (§23.19), TPM2_FlushContext (§28.4).

import { TPM_CC } from "../constants.js";
import { type TpmCommand, plainHandle } from "../command.js";
import { type PcrSelection, writePcrSelectionList } from "../structures/pcr-selection.js";
import { type SymDef, writeSymDef } from "../structures/public.js";

export interface StartAuthSessionParams {
  /** TPM_RH_NULL, or a loaded key that the salt is encrypted to. */
  tpmKey: number;
  /** TPM_RH_NULL, or an entity whose authValue keys the session. */
  bind: number;
  nonceCaller: Uint8Array;
  /** TPM2B_ENCRYPTED_SECRET's content: for an ECC key, a marshalled TPMS_ECC_POINT. */
  encryptedSalt: Uint8Array;
  sessionType: number;
  symmetric: SymDef;
  authHash: number;
}

export interface StartAuthSessionResult {
  sessionHandle: number;
  nonceTPM: Uint8Array;
}

export function StartAuthSession(p: StartAuthSessionParams): TpmCommand<StartAuthSessionResult> {
  return {
    code: TPM_CC.StartAuthSession,
    handles: [plainHandle(p.tpmKey), plainHandle(p.bind)],
    authHandles: 0,
    responseHandles: 1,
    encodeParameters: (w) => {
      w.tpm2b(p.nonceCaller).tpm2b(p.encryptedSalt).u8(p.sessionType);
      writeSymDef(w, p.symmetric);
      w.u16(p.authHash);
    },
    decodeResponse: (handles, r) => ({ sessionHandle: handles[0]!, nonceTPM: r.tpm2b("nonceTPM", 64) }),
  };
}

/** pcrDigest empty: the TPM uses the current PCR values (Part 3 §23.7). */
export function PolicyPCR(policySession: number, pcrDigest: Uint8Array, pcrs: readonly PcrSelection[]): TpmCommand<void> {
  return {
    code: TPM_CC.PolicyPCR,
    handles: [plainHandle(policySession)],
    authHandles: 0,
    responseHandles: 0,
    encodeParameters: (w) => {
      w.tpm2b(pcrDigest);
      writePcrSelectionList(w, pcrs);
    },
    decodeResponse: () => undefined,
  };
}

export function PolicyGetDigest(policySession: number): TpmCommand<Uint8Array> {
  return {
    code: TPM_CC.PolicyGetDigest,
    handles: [plainHandle(policySession)],
    authHandles: 0,
    responseHandles: 0,
    encryptable: { response: true },
    encodeParameters: () => undefined,
    decodeResponse: (_h, r) => r.tpm2b("policyDigest", 64),
  };
}

/** The handle to flush is a parameter, not in the handle area (Part 3 §28.4). */
export function FlushContext(flushHandle: number): TpmCommand<void> {
  return {
    code: TPM_CC.FlushContext,
    handles: [],
    authHandles: 0,
    responseHandles: 0,
    encodeParameters: (w) => void w.u32(flushHandle),
    decodeResponse: () => undefined,
  };
}
