// NV commands: TPM2_NV_DefineSpace (Part 3 §31.3), TPM2_NV_UndefineSpace (§31.4),
// TPM2_NV_ReadPublic (§31.6), TPM2_NV_Increment (§31.8), TPM2_NV_Read (§31.13).

import { TPM_CC } from "../constants.js";
import type { CommandHandle, TpmCommand } from "../command.js";
import { type NvPublic, readNvPublic, writeNvPublic } from "../structures/nv-public.js";

export function NV_DefineSpace(authHandle: CommandHandle, auth: Uint8Array, publicInfo: NvPublic): TpmCommand<void> {
  return {
    code: TPM_CC.NV_DefineSpace,
    handles: [authHandle],
    authHandles: 1,
    responseHandles: 0,
    encryptable: { command: true },
    encodeParameters: (w) => {
      w.tpm2b(auth);
      w.sized((inner) => writeNvPublic(inner, publicInfo));
    },
    decodeResponse: () => undefined,
  };
}

export function NV_UndefineSpace(authHandle: CommandHandle, nvIndex: CommandHandle): TpmCommand<void> {
  return {
    code: TPM_CC.NV_UndefineSpace,
    handles: [authHandle, nvIndex],
    authHandles: 1,
    responseHandles: 0,
    encodeParameters: () => undefined,
    decodeResponse: () => undefined,
  };
}

export interface NvReadPublicResult {
  nvPublic: NvPublic;
  nvName: Uint8Array;
}

export function NV_ReadPublic(nvIndex: CommandHandle): TpmCommand<NvReadPublicResult> {
  return {
    code: TPM_CC.NV_ReadPublic,
    handles: [nvIndex],
    authHandles: 0,
    responseHandles: 0,
    encryptable: { response: true },
    encodeParameters: () => undefined,
    decodeResponse: (_h, r) => ({ nvPublic: r.sized("nvPublic", readNvPublic), nvName: r.tpm2b("nvName", 2 + 64) }),
  };
}

/** authHandle is the owner (TPMA_NV_OWNERWRITE) or the index itself (TPMA_NV_AUTHWRITE). */
export function NV_Increment(authHandle: CommandHandle, nvIndex: CommandHandle): TpmCommand<void> {
  return {
    code: TPM_CC.NV_Increment,
    handles: [authHandle, nvIndex],
    authHandles: 1,
    responseHandles: 0,
    encodeParameters: () => undefined,
    decodeResponse: () => undefined,
  };
}

/** Part 2: MAX_NV_BUFFER_SIZE is 1024 on PC Client TPMs. */
export const MAX_NV_BUFFER_BYTES = 1024;

export function NV_Read(authHandle: CommandHandle, nvIndex: CommandHandle, size: number, offset: number): TpmCommand<Uint8Array> {
  return {
    code: TPM_CC.NV_Read,
    handles: [authHandle, nvIndex],
    authHandles: 1,
    responseHandles: 0,
    encryptable: { response: true },
    encodeParameters: (w) => void w.u16(size).u16(offset),
    decodeResponse: (_h, r) => r.tpm2b("data", MAX_NV_BUFFER_BYTES),
  };
}
