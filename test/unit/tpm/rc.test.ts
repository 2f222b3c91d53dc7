import assert from "node:assert/strict";
import { test } from "node:test";
import { ERRORS } from "../../../daemon/errors.js";
import { TPM_CC } from "../../../hal/tpm/constants.js";
import { TpmRcError, decodeRc, describeRc } from "../../../hal/tpm/rc.js";

// Each row: a response code as a TPM sends it, and what Part 2 §6.6 says it means.
const cases: { rc: number; name: string; retryable: boolean; where?: Partial<Record<"parameter" | "handle" | "session", number>> }[] = [
  { rc: 0x000, name: "TPM_RC_SUCCESS", retryable: false },
  { rc: 0x01e, name: "TPM_RC_BAD_TAG", retryable: false },
  { rc: 0x100, name: "TPM_RC_INITIALIZE", retryable: false },
  { rc: 0x101, name: "TPM_RC_FAILURE", retryable: false },
  { rc: 0x14a, name: "TPM_RC_NV_UNINITIALIZED", retryable: false },
  { rc: 0x14c, name: "TPM_RC_NV_DEFINED", retryable: false },
  { rc: 0x99d, name: "TPM_RC_POLICY_FAIL", retryable: false, where: { session: 1 } },
  { rc: 0x98e, name: "TPM_RC_AUTH_FAIL", retryable: false, where: { session: 1 } },
  { rc: 0x1c4, name: "TPM_RC_VALUE", retryable: false, where: { parameter: 1 } },
  { rc: 0x2c4, name: "TPM_RC_VALUE", retryable: false, where: { parameter: 2 } },
  { rc: 0x18b, name: "TPM_RC_HANDLE", retryable: false, where: { handle: 1 } },
  { rc: 0x28b, name: "TPM_RC_HANDLE", retryable: false, where: { handle: 2 } },
  { rc: 0x902, name: "TPM_RC_OBJECT_MEMORY", retryable: true },
  { rc: 0x903, name: "TPM_RC_SESSION_MEMORY", retryable: true },
  { rc: 0x908, name: "TPM_RC_YIELDED", retryable: true },
  { rc: 0x90a, name: "TPM_RC_TESTING", retryable: true },
  { rc: 0x920, name: "TPM_RC_NV_RATE", retryable: true },
  { rc: 0x921, name: "TPM_RC_LOCKOUT", retryable: false },
  { rc: 0x922, name: "TPM_RC_RETRY", retryable: true },
  { rc: 0x910, name: "TPM_RC_REFERENCE_H0", retryable: false },
];

for (const c of cases) {
  test(`0x${c.rc.toString(16).padStart(3, "0")} decodes to ${c.name}${c.where ? " " + JSON.stringify(c.where) : ""}`, () => {
    const d = decodeRc(c.rc);
    assert.equal(d.name, c.name);
    assert.equal(d.retryable, c.retryable);
    assert.equal(d.parameter, c.where?.parameter);
    assert.equal(d.handle, c.where?.handle);
    assert.equal(d.session, c.where?.session);
  });
}

test("an unknown code is named as unknown with its value, a vendor code as vendor, a TSS layer is kept", () => {
  assert.match(decodeRc(0x17f).name, /^TPM_RC_UNKNOWN\(0x17f\)$/);
  assert.match(decodeRc(0x500).name, /^TPM_RC_VENDOR/);
  const layered = decodeRc(0x000b0902);
  assert.equal(layered.layer, 0x0b);
  assert.match(layered.name, /^TPM_RC_OBJECT_MEMORY@layer11$/);
});

test("TpmRcError is a SealboxError TPM_ERROR whose message names the command and the spec name", () => {
  const e = new TpmRcError(TPM_CC.Unseal, 0x99d);
  assert.equal(e.code, "TPM_ERROR");
  assert.equal(e.rcName, "TPM_RC_POLICY_FAIL");
  assert.equal(e.message, "TPM2_Unseal failed: TPM_RC_POLICY_FAIL (session 1) [0x99d]");
  assert.equal(e.details?.rc_name, "TPM_RC_POLICY_FAIL");
  assert.ok(ERRORS[e.code]);
  assert.equal(describeRc(decodeRc(0x1c4)), "TPM_RC_VALUE (parameter 1) [0x1c4]");
});
