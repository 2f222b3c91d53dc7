// The object templates sealbox uses (Part 2 §12.2.4 TPMT_PUBLIC), chosen to
// match what tpm2-tools creates from the same options, so an auditor can
// recreate them independently:
//   storage primary (SRK): tpm2_createprimary -C o -g sha256 -G ecc256:aes128cfb
//       -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt"
//   attestation key:       tpm2_createprimary -C o -g sha256 -G ecc256:ecdsa-sha256:null
//       -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|sign"
//   sealed seed:           tpm2_create -g sha256 -a "fixedtpm|fixedparent|noda" -L POLICY -i SEED

import { TPMA_OBJECT, TPM_ALG, TPM_ECC_CURVE } from "./constants.js";
import { AES_128_CFB, SCHEME_NULL, SYM_NULL, type TpmtPublic } from "./structures/public.js";

const EMPTY = new Uint8Array(0);

export const SRK_ATTRIBUTES =
  TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth | TPMA_OBJECT.noDA | TPMA_OBJECT.restricted | TPMA_OBJECT.decrypt;

export function srkTemplate(): TpmtPublic {
  return {
    type: TPM_ALG.ECC,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: SRK_ATTRIBUTES,
    authPolicy: EMPTY,
    parameters: { symmetric: AES_128_CFB, scheme: SCHEME_NULL, curveID: TPM_ECC_CURVE.NIST_P256, kdf: SCHEME_NULL },
    unique: { x: EMPTY, y: EMPTY },
  };
}

export const AK_ATTRIBUTES =
  TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth | TPMA_OBJECT.noDA | TPMA_OBJECT.restricted | TPMA_OBJECT.sign;

export function attestationKeyTemplate(): TpmtPublic {
  return {
    type: TPM_ALG.ECC,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: AK_ATTRIBUTES,
    authPolicy: EMPTY,
    parameters: { symmetric: SYM_NULL, scheme: { scheme: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256 }, curveID: TPM_ECC_CURVE.NIST_P256, kdf: SCHEME_NULL },
    unique: { x: EMPTY, y: EMPTY },
  };
}

/** A sealed data object: no userWithAuth (only the policy unseals it), no sensitiveDataOrigin (we supply the data). */
export const SEALED_ATTRIBUTES = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.noDA;

export function sealedObjectTemplate(authPolicy: Uint8Array): TpmtPublic {
  return {
    type: TPM_ALG.KEYEDHASH,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: SEALED_ATTRIBUTES,
    authPolicy,
    parameters: { scheme: SCHEME_NULL },
    unique: EMPTY,
  };
}
