// TPM 2.0 constants, named as TCG TPM 2.0 Library Part 2 ("Structures")
// spells them. Only what sealbox uses; values from Part 2 §6 (constants),
// §8 (attributes) and §7 (handles).

/** TPM_ST (Part 2 §6.9): command/response tags and attestation types. */
export const TPM_ST = {
  NO_SESSIONS: 0x8001,
  SESSIONS: 0x8002,
  ATTEST_NV: 0x8014,
  ATTEST_QUOTE: 0x8018,
  ATTEST_CERTIFY: 0x8017,
  HASHCHECK: 0x8024,
} as const;

/** TPM_CC (Part 2 §6.5.2): command codes. */
export const TPM_CC = {
  NV_UndefineSpace: 0x00000122,
  NV_DefineSpace: 0x0000012a,
  CreatePrimary: 0x00000131,
  NV_Increment: 0x00000134,
  NV_Write: 0x00000137,
  Startup: 0x00000144,
  Shutdown: 0x00000145,
  NV_Read: 0x0000014e,
  Create: 0x00000153,
  Load: 0x00000157,
  Quote: 0x00000158,
  Unseal: 0x0000015e,
  FlushContext: 0x00000165,
  NV_Certify: 0x00000184,
  ReadPublic: 0x00000173,
  StartAuthSession: 0x00000176,
  GetCapability: 0x0000017a,
  GetRandom: 0x0000017b,
  PCR_Read: 0x0000017e,
  PolicyPCR: 0x0000017f,
  PolicyGetDigest: 0x00000189,
  PCR_Extend: 0x00000182,
  NV_ReadPublic: 0x00000169,
} as const;
export type TPM_CC = (typeof TPM_CC)[keyof typeof TPM_CC];

/** Spec name of a command code, for error messages. */
export function commandName(code: number): string {
  for (const [name, value] of Object.entries(TPM_CC)) if (value === code) return `TPM2_${name}`;
  return `TPM_CC 0x${code.toString(16).padStart(8, "0")}`;
}

/** TPM_SU (Part 2 §6.10). */
export const TPM_SU = { CLEAR: 0x0000, STATE: 0x0001 } as const;

/** TPM_ALG_ID (Part 2 §6.3). */
export const TPM_ALG = {
  ERROR: 0x0000,
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CFB: 0x0043,
} as const;

/** TPM_ECC_CURVE (Part 2 §6.4). */
export const TPM_ECC_CURVE = { NONE: 0x0000, NIST_P256: 0x0003 } as const;

/** Permanent handles TPM_RH / TPM_RS (Part 2 §7.4). */
export const TPM_RH = {
  OWNER: 0x40000001,
  NULL: 0x40000007,
  ENDORSEMENT: 0x4000000b,
  PLATFORM: 0x4000000c,
} as const;
export const TPM_RS_PW = 0x40000009;

/** TPM_HT (Part 2 §7.2): the top byte of a handle says its kind. */
export const TPM_HT = {
  PCR: 0x00,
  NV_INDEX: 0x01,
  HMAC_SESSION: 0x02,
  POLICY_SESSION: 0x03,
  PERMANENT: 0x40,
  TRANSIENT: 0x80,
  PERSISTENT: 0x81,
} as const;

export function handleType(handle: number): number {
  return handle >>> 24;
}

/** TPM_SE (Part 2 §6.11): session types. */
export const TPM_SE = { HMAC: 0x00, POLICY: 0x01, TRIAL: 0x03 } as const;

/** TPM_CAP (Part 2 §6.12) and the TPM_PT properties we read (§6.13). */
export const TPM_CAP = {
  ALGS: 0x00000000,
  HANDLES: 0x00000001,
  COMMANDS: 0x00000002,
  PCRS: 0x00000005,
  TPM_PROPERTIES: 0x00000006,
} as const;
export const TPM_PT = {
  FAMILY_INDICATOR: 0x00000100,
  REVISION: 0x00000102,
  MANUFACTURER: 0x00000105,
  VENDOR_STRING_1: 0x00000106,
  FIRMWARE_VERSION_1: 0x0000010b,
  INPUT_BUFFER: 0x0000010d,
  HR_TRANSIENT_MIN: 0x0000010e,
  NV_COUNTERS_MAX: 0x00000116,
  MAX_DIGEST: 0x00000120,
  NV_BUFFER_MAX: 0x0000012c,
  HR_TRANSIENT_AVAIL: 0x00000207,
  LOADED_SESSIONS_AVAIL: 0x00000209 /* TPM_PT_HR_LOADED_AVAIL */,
} as const;

/** TPMA_OBJECT bits (Part 2 §8.3). */
export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

/** TPMA_SESSION bits (Part 2 §8.4). */
export const TPMA_SESSION = {
  continueSession: 1 << 0,
  auditExclusive: 1 << 1,
  auditReset: 1 << 2,
  decrypt: 1 << 5,
  encrypt: 1 << 6,
  audit: 1 << 7,
} as const;

/** TPMA_NV bits (Part 2 §13.4); TPM_NT sits in bits 7:4. */
export const TPMA_NV = {
  PPWRITE: 1 << 0,
  OWNERWRITE: 1 << 1,
  AUTHWRITE: 1 << 2,
  POLICYWRITE: 1 << 3,
  POLICY_DELETE: 1 << 10,
  WRITELOCKED: 1 << 11,
  WRITEALL: 1 << 12,
  WRITEDEFINE: 1 << 13,
  WRITE_STCLEAR: 1 << 14,
  GLOBALLOCK: 1 << 15,
  PPREAD: 1 << 16,
  OWNERREAD: 1 << 17,
  AUTHREAD: 1 << 18,
  POLICYREAD: 1 << 19,
  NO_DA: 1 << 25,
  ORDERLY: 1 << 26,
  CLEAR_STCLEAR: 1 << 27,
  READLOCKED: 1 << 28,
  WRITTEN: 1 << 29,
  PLATFORMCREATE: 1 << 30,
  READ_STCLEAR: 2 ** 31,
} as const;

/** TPM_NT (Part 2 §13.2): the kind of an NV index, stored in TPMA_NV bits 7:4. */
export const TPM_NT = { ORDINARY: 0x0, COUNTER: 0x1, BITS: 0x2, EXTEND: 0x4, PIN_FAIL: 0x8, PIN_PASS: 0x9 } as const;

export function nvType(attributes: number): number {
  return (attributes >>> 4) & 0xf;
}

/** TPM_GENERATED_VALUE (Part 2 §6.2): the magic at the start of every TPMS_ATTEST. */
export const TPM_GENERATED_VALUE = 0xff544347;

/** Digest sizes of the hash algorithms we support. */
export function digestSize(alg: number): number {
  switch (alg) {
    case TPM_ALG.SHA1:
      return 20;
    case TPM_ALG.SHA256:
      return 32;
    case TPM_ALG.SHA384:
      return 48;
    case TPM_ALG.SHA512:
      return 64;
    default:
      return 0;
  }
}

/** node:crypto's name for a TPM hash algorithm. */
export function nodeHashName(alg: number): string {
  switch (alg) {
    case TPM_ALG.SHA1:
      return "sha1";
    case TPM_ALG.SHA256:
      return "sha256";
    case TPM_ALG.SHA384:
      return "sha384";
    case TPM_ALG.SHA512:
      return "sha512";
    default:
      throw new RangeError(`unsupported hash algorithm 0x${alg.toString(16)}`);
  }
}

export function hashAlgFromName(name: string): number {
  switch (name.toLowerCase()) {
    case "sha1":
      return TPM_ALG.SHA1;
    case "sha256":
      return TPM_ALG.SHA256;
    case "sha384":
      return TPM_ALG.SHA384;
    case "sha512":
      return TPM_ALG.SHA512;
    default:
      throw new RangeError(`unknown PCR bank '${name}' (use sha1, sha256, sha384 or sha512)`);
  }
}

/** Largest command or response we send or accept (TPM_PT_MAX_COMMAND_SIZE is 4096 on most TPMs). */
export const MAX_TPM_MESSAGE_BYTES = 8192;
/** Size of the header every command and response starts with: tag u16, size u32, code u32 (Part 1 §18). */
export const TPM_HEADER_BYTES = 10;
