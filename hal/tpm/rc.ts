// TPM_RC response codes (Part 2 §6.6) decoded to their spec names.
//
// Layout (Part 2 §6.6.2, Figure "Format-One Response Codes"):
//   bit 7 set  → format 1: bits 5:0 the error (added to RC_FMT1 = 0x080);
//                bit 6 P says bits 11:8 name a parameter (1-based), else
//                bit 11 says bits 10:8 name a session, else a handle.
//   bit 7 clear → format 0: bit 8 VER1 (a TPM 2.0 code), bit 10 T (vendor),
//                bit 11 S (a warning, TPM_RC_WARN = 0x900), bits 6:0 the code.
//   bits 23:16 carry a TSS layer when a software stack (e.g. a resource
//   manager) made the code instead of the TPM.

import { SealboxError } from "../../daemon/errors.js";
import { commandName } from "./constants.js";

const FMT0: Record<number, string> = {
  0x000: "TPM_RC_SUCCESS",
  0x01e: "TPM_RC_BAD_TAG",
  0x100: "TPM_RC_INITIALIZE",
  0x101: "TPM_RC_FAILURE",
  0x103: "TPM_RC_SEQUENCE",
  0x10b: "TPM_RC_PRIVATE",
  0x119: "TPM_RC_HMAC",
  0x120: "TPM_RC_DISABLED",
  0x121: "TPM_RC_EXCLUSIVE",
  0x124: "TPM_RC_AUTH_TYPE",
  0x125: "TPM_RC_AUTH_MISSING",
  0x126: "TPM_RC_POLICY",
  0x127: "TPM_RC_PCR",
  0x128: "TPM_RC_PCR_CHANGED",
  0x12d: "TPM_RC_UPGRADE",
  0x12e: "TPM_RC_TOO_MANY_CONTEXTS",
  0x12f: "TPM_RC_AUTH_UNAVAILABLE",
  0x130: "TPM_RC_REBOOT",
  0x131: "TPM_RC_UNBALANCED",
  0x142: "TPM_RC_COMMAND_SIZE",
  0x143: "TPM_RC_COMMAND_CODE",
  0x144: "TPM_RC_AUTHSIZE",
  0x145: "TPM_RC_AUTH_CONTEXT",
  0x146: "TPM_RC_NV_RANGE",
  0x147: "TPM_RC_NV_SIZE",
  0x148: "TPM_RC_NV_LOCKED",
  0x149: "TPM_RC_NV_AUTHORIZATION",
  0x14a: "TPM_RC_NV_UNINITIALIZED",
  0x14b: "TPM_RC_NV_SPACE",
  0x14c: "TPM_RC_NV_DEFINED",
  0x150: "TPM_RC_BAD_CONTEXT",
  0x151: "TPM_RC_CPHASH",
  0x152: "TPM_RC_PARENT",
  0x153: "TPM_RC_NEEDS_TEST",
  0x154: "TPM_RC_NO_RESULT",
  0x155: "TPM_RC_SENSITIVE",
};

const FMT1: Record<number, string> = {
  0x081: "TPM_RC_ASYMMETRIC",
  0x082: "TPM_RC_ATTRIBUTES",
  0x083: "TPM_RC_HASH",
  0x084: "TPM_RC_VALUE",
  0x085: "TPM_RC_HIERARCHY",
  0x087: "TPM_RC_KEY_SIZE",
  0x088: "TPM_RC_MGF",
  0x089: "TPM_RC_MODE",
  0x08a: "TPM_RC_TYPE",
  0x08b: "TPM_RC_HANDLE",
  0x08c: "TPM_RC_KDF",
  0x08d: "TPM_RC_RANGE",
  0x08e: "TPM_RC_AUTH_FAIL",
  0x08f: "TPM_RC_NONCE",
  0x090: "TPM_RC_PP",
  0x092: "TPM_RC_SCHEME",
  0x095: "TPM_RC_SIZE",
  0x096: "TPM_RC_SYMMETRIC",
  0x097: "TPM_RC_TAG",
  0x098: "TPM_RC_SELECTOR",
  0x09a: "TPM_RC_INSUFFICIENT",
  0x09b: "TPM_RC_SIGNATURE",
  0x09c: "TPM_RC_KEY",
  0x09d: "TPM_RC_POLICY_FAIL",
  0x09f: "TPM_RC_INTEGRITY",
  0x0a0: "TPM_RC_TICKET",
  0x0a1: "TPM_RC_RESERVED_BITS",
  0x0a2: "TPM_RC_BAD_AUTH",
  0x0a3: "TPM_RC_EXPIRED",
  0x0a4: "TPM_RC_POLICY_CC",
  0x0a5: "TPM_RC_BINDING",
  0x0a6: "TPM_RC_CURVE",
  0x0a7: "TPM_RC_ECC_POINT",
};

const WARN: Record<number, string> = {
  0x901: "TPM_RC_CONTEXT_GAP",
  0x902: "TPM_RC_OBJECT_MEMORY",
  0x903: "TPM_RC_SESSION_MEMORY",
  0x904: "TPM_RC_MEMORY",
  0x905: "TPM_RC_SESSION_HANDLES",
  0x906: "TPM_RC_OBJECT_HANDLES",
  0x907: "TPM_RC_LOCALITY",
  0x908: "TPM_RC_YIELDED",
  0x909: "TPM_RC_CANCELED",
  0x90a: "TPM_RC_TESTING",
  0x920: "TPM_RC_NV_RATE",
  0x921: "TPM_RC_LOCKOUT",
  0x922: "TPM_RC_RETRY",
  0x923: "TPM_RC_NV_UNAVAILABLE",
};
for (let i = 0; i <= 6; i++) {
  WARN[0x910 + i] = `TPM_RC_REFERENCE_H${i}`;
  WARN[0x918 + i] = `TPM_RC_REFERENCE_S${i}`;
}

/**
 * Codes where sending the same command again later can succeed without
 * changing anything (Part 2 §6.6.3 warnings): the TPM was busy, testing,
 * rate-limiting NV writes, or out of a slot that a flush frees.
 */
const RETRYABLE = new Set([
  "TPM_RC_YIELDED",
  "TPM_RC_CANCELED",
  "TPM_RC_TESTING",
  "TPM_RC_RETRY",
  "TPM_RC_NV_RATE",
  "TPM_RC_NV_UNAVAILABLE",
  "TPM_RC_OBJECT_MEMORY",
  "TPM_RC_SESSION_MEMORY",
  "TPM_RC_MEMORY",
  "TPM_RC_CONTEXT_GAP",
]);

/** The warnings a client should simply resend after a short pause (Part 2 §6.6.3). */
export const RESEND_NAMES: ReadonlySet<string> = new Set(["TPM_RC_YIELDED", "TPM_RC_TESTING", "TPM_RC_RETRY"]);

export interface DecodedRc {
  rc: number;
  /** The base code's spec name, e.g. "TPM_RC_POLICY_FAIL"; "TPM_RC_UNKNOWN(0x…)" when not in the table. */
  name: string;
  /** The base code without the parameter/handle/session number. */
  base: number;
  format: 0 | 1;
  warning: boolean;
  retryable: boolean;
  /** TSS layer (bits 23:16); 0 means the TPM itself. */
  layer: number;
  vendor: boolean;
  parameter?: number;
  handle?: number;
  session?: number;
}

export function decodeRc(rc: number): DecodedRc {
  rc = rc >>> 0;
  const layer = (rc >>> 16) & 0xff;
  const code = rc & 0xffff;
  let base: number;
  let format: 0 | 1;
  const out: Partial<DecodedRc> = {};
  let vendor = false;
  if (code & 0x080) {
    format = 1;
    base = 0x080 | (code & 0x3f);
    const n = (code >>> 8) & 0xf;
    if (code & 0x040) out.parameter = n;
    else if (n & 0x8) out.session = n & 0x7;
    else if (n !== 0) out.handle = n & 0x7;
  } else {
    format = 0;
    vendor = (code & 0x400) !== 0;
    base = code & 0x97f;
  }
  const warning = format === 0 && (code & 0x900) === 0x900;
  const table = format === 1 ? FMT1 : warning ? WARN : FMT0;
  let name = table[base] ?? `TPM_RC_UNKNOWN(0x${base.toString(16).padStart(3, "0")})`;
  if (vendor) name = `TPM_RC_VENDOR(0x${code.toString(16)})`;
  if (layer !== 0) name = `${name}@layer${layer}`;
  return { rc, name, base, format, warning, retryable: RETRYABLE.has(name), layer, vendor, ...out };
}

/** "TPM_RC_POLICY_FAIL (session 1)". */
export function describeRc(d: DecodedRc): string {
  const where =
    d.parameter !== undefined ? ` (parameter ${d.parameter})` : d.handle !== undefined ? ` (handle ${d.handle})` : d.session !== undefined ? ` (session ${d.session})` : "";
  return `${d.name}${where} [0x${d.rc.toString(16).padStart(3, "0")}]`;
}

/** A TPM answered a command with a non-zero response code. */
export class TpmRcError extends SealboxError {
  readonly rc: number;
  readonly rcName: string;
  readonly retryable: boolean;
  readonly decoded: DecodedRc;
  readonly commandCode: number;

  constructor(commandCode: number, rc: number) {
    const d = decodeRc(rc);
    super("TPM_ERROR", `${commandName(commandCode)} failed: ${describeRc(d)}`, {
      details: { rc: d.rc, rc_name: d.name, retryable: d.retryable, command: commandName(commandCode) },
    });
    this.rc = d.rc;
    this.rcName = d.name;
    this.retryable = d.retryable;
    this.decoded = d;
    this.commandCode = commandCode;
  }
}

export function isTpmRc(e: unknown, name?: string): e is TpmRcError {
  return e instanceof TpmRcError && (name === undefined || e.rcName === name);
}
