// Sealing a secret to PCR values, and unsealing it, so that the secret never
// crosses the bus in the clear:
//  - seal: TPM2_Create under the storage key with an ECC-salted HMAC session
//    whose `decrypt` attribute encrypts inSensitive (Part 1 §21) on its way in;
//  - unseal: TPM2_Load, then a salted policy session (PolicyPCR) with the
//    `encrypt` attribute, so TPM2_Unseal's outData comes back AES-CFB encrypted.
// Every transient handle lives in a HandleScope: flushed on every path.

import { TPMA_SESSION, TPM_ALG, TPM_SE } from "./constants.js";
import { Create, Load, Unseal } from "./commands/object.js";
import { PolicyGetDigest, PolicyPCR } from "./commands/session.js";
import { startAuthSession } from "./auth-session.js";
import type { LoadedKey } from "./primary.js";
import { PasswordSession } from "./sessions.js";
import type { PcrSelection } from "./structures/pcr-selection.js";
import { type TpmtPublic, readPublic } from "./structures/public.js";
import { TpmReader } from "./marshal.js";
import { sealedObjectTemplate } from "./templates.js";
import type { HandleScope, Tpm } from "./tpm.js";

export interface SealedBlob {
  /** TPMT_PUBLIC (the content of TPM2B_PUBLIC). */
  public: Uint8Array;
  /** The content of TPM2B_PRIVATE. */
  private: Uint8Array;
}

export async function sealSecret(tpm: Tpm, scope: HandleScope, parent: LoadedKey, secret: Uint8Array, authPolicy: Uint8Array): Promise<SealedBlob> {
  const session = await startAuthSession(tpm, scope, { sessionType: TPM_SE.HMAC, saltKey: { handle: parent.handle, public: parent.public } });
  session.attributes = TPMA_SESSION.continueSession | TPMA_SESSION.decrypt;
  const r = await tpm.run(Create({ handle: parent.handle, name: parent.name }, { sensitive: { userAuth: new Uint8Array(0), data: secret }, template: sealedObjectTemplate(authPolicy) }), [session]);
  await scope.release(session.handle);
  return { public: r.outPublicBytes, private: r.outPrivate };
}

/** Loads a sealed object under the parent; the handle belongs to the scope. */
export async function loadSealed(tpm: Tpm, scope: HandleScope, parent: LoadedKey, blob: SealedBlob): Promise<{ handle: number; name: Uint8Array; public: TpmtPublic }> {
  const r = await tpm.run(Load({ handle: parent.handle, name: parent.name }, blob.private, blob.public), [new PasswordSession()]);
  scope.object(r.objectHandle);
  const reader = new TpmReader(blob.public, "sealed object TPMT_PUBLIC");
  const pub = readPublic(reader);
  reader.end();
  return { handle: r.objectHandle, name: r.name, public: pub };
}

/**
 * Unseals with PolicyPCR over the current PCR values. A PCR change makes
 * TPM2_Unseal fail with TPM_RC_POLICY_FAIL (session 1); the caller maps that.
 */
export async function unsealWithPcrPolicy(tpm: Tpm, scope: HandleScope, parent: LoadedKey, blob: SealedBlob, pcrs: readonly PcrSelection[]): Promise<Uint8Array> {
  const item = await loadSealed(tpm, scope, parent, blob);
  const session = await startAuthSession(tpm, scope, { sessionType: TPM_SE.POLICY, saltKey: { handle: parent.handle, public: parent.public } });
  await tpm.run(PolicyPCR(session.handle, new Uint8Array(0), pcrs));
  // continueSession clear: on success the TPM closes the session itself; on failure the scope flushes it.
  session.attributes = TPMA_SESSION.encrypt;
  const secret = await tpm.run(Unseal({ handle: item.handle, name: item.name }), [session]);
  await scope.release(item.handle);
  return secret;
}

/** Asks the TPM for the PolicyPCR digest of the current PCR values (a trial session). */
export async function trialPcrPolicy(tpm: Tpm, scope: HandleScope, pcrs: readonly PcrSelection[], pcrDigest: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
  const session = await startAuthSession(tpm, scope, { sessionType: TPM_SE.TRIAL, authHash: TPM_ALG.SHA256 });
  await tpm.run(PolicyPCR(session.handle, pcrDigest, pcrs));
  const digest = await tpm.run(PolicyGetDigest(session.handle));
  await scope.release(session.handle);
  return digest;
}
