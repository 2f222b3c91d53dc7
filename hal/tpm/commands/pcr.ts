// TPM2_PCR_Read (Part 3 §22.4) and TPM2_PCR_Extend (Part 3 §22.2).

import { TPM_CC } from "../constants.js";
import { type TpmCommand, plainHandle } from "../command.js";
import { type PcrSelection, readDigestList, readPcrSelectionList, writeDigestValues, writePcrSelectionList } from "../structures/pcr-selection.js";

export interface PcrReadResult {
  pcrUpdateCounter: number;
  pcrSelectionOut: PcrSelection[];
  /** Digests in selection order (bank by bank, PCR index ascending). At most 8 per call. */
  pcrValues: Uint8Array[];
}

export function PCR_Read(selection: readonly PcrSelection[]): TpmCommand<PcrReadResult> {
  return {
    code: TPM_CC.PCR_Read,
    handles: [],
    authHandles: 0,
    responseHandles: 0,
    encodeParameters: (w) => writePcrSelectionList(w, selection),
    decodeResponse: (_h, r) => ({
      pcrUpdateCounter: r.u32("pcrUpdateCounter"),
      pcrSelectionOut: readPcrSelectionList(r),
      pcrValues: readDigestList(r),
    }),
  };
}

/** PCR handles are the PCR index (TPM_HT_PCR = 0); their Name is the handle. */
export function PCR_Extend(pcr: number, digests: readonly { hash: number; digest: Uint8Array }[]): TpmCommand<void> {
  return {
    code: TPM_CC.PCR_Extend,
    handles: [plainHandle(pcr)],
    authHandles: 1,
    responseHandles: 0,
    encodeParameters: (w) => writeDigestValues(w, digests),
    decodeResponse: () => undefined,
  };
}
