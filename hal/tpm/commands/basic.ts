// TPM2_Startup (Part 3 §9.3), TPM2_GetRandom (Part 3 §16.1),
// TPM2_GetCapability (Part 3 §30.2).

import { TPM_CAP, TPM_CC } from "../constants.js";
import { TpmReader, tpmDecodeError } from "../marshal.js";
import type { TpmCommand } from "../command.js";
import { type PcrSelection, readPcrSelectionList } from "../structures/pcr-selection.js";

export function Startup(startupType: number): TpmCommand<void> {
  return {
    code: TPM_CC.Startup,
    handles: [],
    authHandles: 0,
    responseHandles: 0,
    encodeParameters: (w) => void w.u16(startupType),
    decodeResponse: () => undefined,
  };
}

/** Part 2: TPM2B_DIGEST holds at most sizeof(TPMU_HA) = 64 bytes; TPMs return at most that many per call. */
export const MAX_RANDOM_BYTES_PER_CALL = 64;

export function GetRandom(bytesRequested: number): TpmCommand<Uint8Array> {
  return {
    code: TPM_CC.GetRandom,
    handles: [],
    authHandles: 0,
    responseHandles: 0,
    encryptable: { response: true },
    encodeParameters: (w) => void w.u16(bytesRequested),
    decodeResponse: (_h, r) => r.tpm2b("randomBytes", MAX_RANDOM_BYTES_PER_CALL),
  };
}

export type CapabilityData =
  | { capability: typeof TPM_CAP.TPM_PROPERTIES; properties: { property: number; value: number }[] }
  | { capability: typeof TPM_CAP.HANDLES; handles: number[] }
  | { capability: typeof TPM_CAP.PCRS; pcrs: PcrSelection[] }
  | { capability: typeof TPM_CAP.ALGS; algorithms: { alg: number; attributes: number }[] }
  | { capability: typeof TPM_CAP.COMMANDS; commands: number[] };

export interface GetCapabilityResult {
  moreData: boolean;
  data: CapabilityData;
}

/** Part 2: MAX_CAP_DATA bounds every capability list; 256 entries is well above any real TPM's answer. */
const MAX_CAP_ENTRIES = 256;

function count(r: TpmReader, what: string): number {
  const n = r.u32(`${what}.count`);
  if (n > MAX_CAP_ENTRIES) throw tpmDecodeError(r.context, `${what}.count ${n} exceeds ${MAX_CAP_ENTRIES}`);
  return n;
}

export function GetCapability(capability: number, property: number, propertyCount: number): TpmCommand<GetCapabilityResult> {
  return {
    code: TPM_CC.GetCapability,
    handles: [],
    authHandles: 0,
    responseHandles: 0,
    encodeParameters: (w) => void w.u32(capability).u32(property).u32(propertyCount),
    decodeResponse: (_h, r) => {
      const moreData = r.u8("moreData") !== 0;
      const cap = r.u32("TPMS_CAPABILITY_DATA.capability");
      let data: CapabilityData;
      switch (cap) {
        case TPM_CAP.TPM_PROPERTIES: {
          const n = count(r, "TPML_TAGGED_TPM_PROPERTY");
          const properties = [];
          for (let i = 0; i < n; i++) properties.push({ property: r.u32("property"), value: r.u32("value") });
          data = { capability: cap, properties };
          break;
        }
        case TPM_CAP.HANDLES: {
          const n = count(r, "TPML_HANDLE");
          const handles = [];
          for (let i = 0; i < n; i++) handles.push(r.u32("handle"));
          data = { capability: cap, handles };
          break;
        }
        case TPM_CAP.PCRS:
          data = { capability: cap, pcrs: readPcrSelectionList(r) };
          break;
        case TPM_CAP.ALGS: {
          const n = count(r, "TPML_ALG_PROPERTY");
          const algorithms = [];
          for (let i = 0; i < n; i++) algorithms.push({ alg: r.u16("alg"), attributes: r.u32("algProperties") });
          data = { capability: cap, algorithms };
          break;
        }
        case TPM_CAP.COMMANDS: {
          const n = count(r, "TPML_CCA");
          const commands = [];
          for (let i = 0; i < n; i++) commands.push(r.u32("TPMA_CC"));
          data = { capability: cap, commands };
          break;
        }
        default:
          throw tpmDecodeError(r.context, `capability 0x${cap.toString(16)} is not supported`);
      }
      if (cap !== capability) throw tpmDecodeError(r.context, `asked for capability 0x${capability.toString(16)}, got 0x${cap.toString(16)}`);
      return { moreData, data };
    },
  };
}
