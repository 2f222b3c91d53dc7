// The anti-rollback counter: an NV index of type TPM_NT_COUNTER (Part 1 §37.2.3,
// Part 3 §31.8). It only goes up; deleting and re-defining it does not reset
// it, because a counter's first value is the highest any counter in this TPM
// has had (Part 3 §31.8 "…initialized to the largest count value…").

import { TPMA_NV, TPM_ALG, TPM_NT, TPM_RH } from "./constants.js";
import { plainHandle, type CommandHandle } from "./command.js";
import { NV_DefineSpace, NV_Increment, NV_Read, NV_ReadPublic, NV_UndefineSpace } from "./commands/nv.js";
import { PasswordSession } from "./sessions.js";
import type { NvPublic } from "./structures/nv-public.js";
import type { Tpm } from "./tpm.js";
import { SealboxError } from "../../daemon/errors.js";

/** Counter attributes: read and increment with the index's own (empty) authValue, no dictionary-attack lockout. */
export const COUNTER_ATTRIBUTES = (TPM_NT.COUNTER << 4) | TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA;

/** The NV index sealbox uses unless told otherwise: in the owner range 0x01000000–0x013FFFFF (TCG handle registry). */
export const DEFAULT_NV_INDEX = 0x01005ea1;

export function checkOwnerNvIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0x01000000 || index > 0x013fffff) {
    throw new SealboxError("BAD_ARGUMENT", `NV index 0x${index.toString(16)} is outside the owner range 0x01000000–0x013fffff`);
  }
}

export async function defineCounter(tpm: Tpm, index: number, options: { ownerAuth?: Uint8Array } = {}): Promise<void> {
  checkOwnerNvIndex(index);
  const pub: NvPublic = { nvIndex: index, nameAlg: TPM_ALG.SHA256, attributes: COUNTER_ATTRIBUTES, authPolicy: new Uint8Array(0), dataSize: 8 };
  await tpm.run(NV_DefineSpace(plainHandle(TPM_RH.OWNER), new Uint8Array(0), pub), [new PasswordSession(options.ownerAuth)]);
}

export async function undefineSpace(tpm: Tpm, index: number, options: { ownerAuth?: Uint8Array } = {}): Promise<void> {
  const { nvName } = await readNvPublic(tpm, index);
  await tpm.run(NV_UndefineSpace(plainHandle(TPM_RH.OWNER), { handle: index, name: nvName }), [new PasswordSession(options.ownerAuth)]);
}

export async function readNvPublic(tpm: Tpm, index: number): Promise<{ nvPublic: NvPublic; nvName: Uint8Array }> {
  return tpm.run(NV_ReadPublic(plainHandle(index)));
}

async function indexHandle(tpm: Tpm, index: number): Promise<CommandHandle> {
  const { nvName } = await readNvPublic(tpm, index);
  return { handle: index, name: nvName };
}

export async function incrementCounter(tpm: Tpm, index: number): Promise<void> {
  const h = await indexHandle(tpm, index);
  await tpm.run(NV_Increment(h, h), [new PasswordSession()]);
}

/** The counter's value; TPM_RC_NV_UNINITIALIZED until its first increment. */
export async function readCounter(tpm: Tpm, index: number): Promise<bigint> {
  const h = await indexHandle(tpm, index);
  const data = await tpm.run(NV_Read(h, h, 8, 0), [new PasswordSession()]);
  if (data.length !== 8) throw new SealboxError("TPM_PROTOCOL", `NV counter 0x${index.toString(16)} returned ${data.length} bytes, not 8`);
  return new DataView(data.buffer, data.byteOffset).getBigUint64(0);
}

/** Whether the index is defined as a counter with our attributes (TPMA_NV_WRITTEN may differ). */
export function isSealboxCounter(p: NvPublic): boolean {
  return (p.attributes & ~TPMA_NV.WRITTEN) >>> 0 === COUNTER_ATTRIBUTES >>> 0 && p.dataSize === 8 && p.nameAlg === TPM_ALG.SHA256;
}
