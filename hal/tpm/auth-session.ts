// Starting sessions: TPM2_StartAuthSession with an optional ECC salt, so the
// session key is known only to us and the TPM holding the salt key (Part 1
// §19.6.8, Annex C.6). A salted session is what makes parameter encryption
// worth having: without it the key derives from nonces seen on the bus.

import { randomBytes } from "node:crypto";
import { TPMA_SESSION, TPM_ALG, TPM_RH, digestSize } from "./constants.js";
import { StartAuthSession } from "./commands/session.js";
import { TpmWriter } from "./marshal.js";
import { eccSalt, sessionKey } from "./session-crypto.js";
import { AuthSession } from "./sessions.js";
import { AES_128_CFB, type SymDef, type TpmtPublic } from "./structures/public.js";
import type { HandleScope, Tpm } from "./tpm.js";

export interface StartSessionOptions {
  /** TPM_SE_HMAC, TPM_SE_POLICY or TPM_SE_TRIAL. */
  sessionType: number;
  /** A loaded ECC P-256 decrypt key and its public area; the salt is encrypted to it. */
  saltKey?: { handle: number; public: TpmtPublic };
  /** Defaults to AES-128-CFB (parameter encryption available); pass SYM_NULL for none. */
  symmetric?: SymDef;
  /** Defaults to SHA-256. */
  authHash?: number;
  /** Initial attributes. Defaults to continueSession. */
  attributes?: number;
}

export async function startAuthSession(tpm: Tpm, scope: HandleScope, options: StartSessionOptions): Promise<AuthSession> {
  const authHash = options.authHash ?? TPM_ALG.SHA256;
  const symmetric = options.symmetric ?? AES_128_CFB;
  const nonceCaller = new Uint8Array(randomBytes(digestSize(authHash)));
  let salt: Uint8Array = new Uint8Array(0);
  let encryptedSalt: Uint8Array = new Uint8Array(0);
  let tpmKey: number = TPM_RH.NULL;
  if (options.saltKey) {
    const pub = options.saltKey.public;
    if (pub.type !== TPM_ALG.ECC) throw new RangeError("the salt key must be an ECC key");
    const s = eccSalt(pub.nameAlg, pub.unique.x, pub.unique.y);
    salt = s.salt;
    // TPM2B_ENCRYPTED_SECRET holds a marshalled TPMS_ECC_POINT (Part 1 Annex C.6.1).
    encryptedSalt = new TpmWriter().tpm2b(s.ephemeralX).tpm2b(s.ephemeralY).finish();
    tpmKey = options.saltKey.handle;
  }
  const r = await tpm.run(StartAuthSession({ tpmKey, bind: TPM_RH.NULL, nonceCaller, encryptedSalt, sessionType: options.sessionType, symmetric, authHash }));
  const key = sessionKey(authHash, salt, r.nonceTPM, nonceCaller);
  salt.fill(0);
  const session = new AuthSession(
    { handle: r.sessionHandle, sessionType: options.sessionType, authHash, symmetric, sessionKey: key, nonceCaller, nonceTPM: r.nonceTPM },
    options.attributes ?? TPMA_SESSION.continueSession,
  );
  return scope.session(session);
}
