// Primary keys, recreated from the owner hierarchy's seed and a fixed
// template each time they are needed (Part 1 §27.2: the same template gives
// the same key while the seed lasts). Nothing is made persistent in NV, so a
// box leaves no objects behind in the TPM but its counter.

import { TPM_RH } from "./constants.js";
import { CreatePrimary } from "./commands/object.js";
import { plainHandle } from "./command.js";
import { PasswordSession } from "./sessions.js";
import type { TpmtPublic } from "./structures/public.js";
import { attestationKeyTemplate, srkTemplate } from "./templates.js";
import type { HandleScope, Tpm } from "./tpm.js";

export interface LoadedKey {
  handle: number;
  public: TpmtPublic;
  /** TPMT_PUBLIC as the TPM returned it. */
  publicBytes: Uint8Array;
  name: Uint8Array;
}

export interface PrimaryOptions {
  /** The owner hierarchy's authValue. Defaults to empty (a freshly cleared TPM). */
  ownerAuth?: Uint8Array;
}

async function createPrimary(tpm: Tpm, scope: HandleScope, template: TpmtPublic, options: PrimaryOptions): Promise<LoadedKey> {
  const r = await tpm.run(CreatePrimary(plainHandle(TPM_RH.OWNER), { template }), [new PasswordSession(options.ownerAuth)]);
  scope.object(r.objectHandle);
  return { handle: r.objectHandle, public: r.outPublic, publicBytes: r.outPublicBytes, name: r.name };
}

/** The storage root key: ECC P-256, AES-128-CFB, under the owner hierarchy. */
export function createSrk(tpm: Tpm, scope: HandleScope, options: PrimaryOptions = {}): Promise<LoadedKey> {
  return createPrimary(tpm, scope, srkTemplate(), options);
}

/** The attestation key: ECC P-256 restricted signing (ECDSA-SHA256), under the owner hierarchy. */
export function createAttestationKey(tpm: Tpm, scope: HandleScope, options: PrimaryOptions = {}): Promise<LoadedKey> {
  return createPrimary(tpm, scope, attestationKeyTemplate(), options);
}
