// Policy digests computed offline (Part 3 §23.7 TPM2_PolicyPCR):
//   pcrDigest    = H_policy(PCR values of the selection, concatenated in selection order)
//   policyDigest = H_policy(policyDigest_old ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION ‖ pcrDigest)
// starting from a zero digest. Lets provisioning and auditors predict the
// authPolicy of the sealed seed for given PCR values without a TPM.

import { createHash } from "node:crypto";
import { TPM_CC, digestSize, nodeHashName } from "./constants.js";
import { TpmWriter, u32be } from "./marshal.js";
import { type PcrSelection, writePcrSelectionList } from "./structures/pcr-selection.js";

export function pcrCompositeDigest(policyHash: number, values: readonly Uint8Array[]): Uint8Array {
  const h = createHash(nodeHashName(policyHash));
  for (const v of values) h.update(v);
  return new Uint8Array(h.digest());
}

export function policyPcrDigest(policyHash: number, selection: readonly PcrSelection[], pcrDigest: Uint8Array, previous?: Uint8Array): Uint8Array {
  const old = previous ?? new Uint8Array(digestSize(policyHash));
  const w = new TpmWriter();
  writePcrSelectionList(w, selection);
  return new Uint8Array(createHash(nodeHashName(policyHash)).update(old).update(u32be(TPM_CC.PolicyPCR)).update(w.finish()).update(pcrDigest).digest());
}

/** The PCR value after extending `digest` into `old` (Part 1 §17.2): H(old ‖ digest). */
export function extendedPcrValue(bankHash: number, old: Uint8Array, digest: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(nodeHashName(bankHash)).update(old).update(digest).digest());
}
