// TPMS_NV_PUBLIC / TPM2B_NV_PUBLIC (Part 2 §13.5, §13.6). The Name of an NV
// index is nameAlg ‖ H(TPMS_NV_PUBLIC), so it changes when TPMA_NV_WRITTEN is set.

import { TpmReader, TpmWriter } from "../marshal.js";
import { objectName } from "./public.js";

export interface NvPublic {
  nvIndex: number;
  nameAlg: number;
  attributes: number;
  authPolicy: Uint8Array;
  dataSize: number;
}

export function writeNvPublic(w: TpmWriter, p: NvPublic): void {
  w.u32(p.nvIndex).u16(p.nameAlg).u32(p.attributes).tpm2b(p.authPolicy).u16(p.dataSize);
}

export function readNvPublic(r: TpmReader): NvPublic {
  return {
    nvIndex: r.u32("TPMS_NV_PUBLIC.nvIndex"),
    nameAlg: r.u16("TPMS_NV_PUBLIC.nameAlg"),
    attributes: r.u32("TPMS_NV_PUBLIC.attributes"),
    authPolicy: r.tpm2b("TPMS_NV_PUBLIC.authPolicy", 64),
    dataSize: r.u16("TPMS_NV_PUBLIC.dataSize"),
  };
}

export function encodeNvPublic(p: NvPublic): Uint8Array {
  const w = new TpmWriter();
  writeNvPublic(w, p);
  return w.finish();
}

export function nvName(p: NvPublic): Uint8Array {
  return objectName(p.nameAlg, encodeNvPublic(p));
}
