// Reading PCRs in full: TPM2_PCR_Read returns at most 8 digests per call
// (Part 3 §22.4), so larger selections take several calls.

import { SealboxError } from "../../daemon/errors.js";
import { PCR_Extend, PCR_Read } from "./commands/pcr.js";
import { PasswordSession } from "./sessions.js";
import type { Tpm } from "./tpm.js";

/** Values of the given PCRs of one bank, keyed by index. */
export async function readPcrs(tpm: Tpm, bank: number, pcrs: readonly number[]): Promise<Map<number, Uint8Array>> {
  const wanted = [...new Set(pcrs)].sort((a, b) => a - b);
  const out = new Map<number, Uint8Array>();
  let pending = wanted;
  while (pending.length > 0) {
    const r = await tpm.run(PCR_Read([{ hash: bank, pcrs: pending }]));
    const returned = r.pcrSelectionOut.find((s) => s.hash === bank)?.pcrs ?? [];
    if (returned.length === 0 || returned.length !== r.pcrValues.length) {
      throw new SealboxError("TPM_ERROR", `the TPM returned no values for PCRs ${pending.join(",")} of bank 0x${bank.toString(16)} (is the bank allocated?)`);
    }
    returned.forEach((p, i) => out.set(p, r.pcrValues[i]!));
    pending = pending.filter((p) => !out.has(p));
  }
  return out;
}

/** TPM2_PCR_Extend with platform auth empty (PCRs 0–15 on a PC Client TPM need no auth; 16 and 23 are resettable). */
export async function extendPcr(tpm: Tpm, pcr: number, digests: readonly { hash: number; digest: Uint8Array }[]): Promise<void> {
  await tpm.run(PCR_Extend(pcr, digests), [new PasswordSession()]);
}
