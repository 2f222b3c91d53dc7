// Golden bytes recorded from tpm2-tools' own traffic to swtpm
// (test/fixtures/tpm/tpm2-tools-traffic.json, made by
// test/helpers/record-tpm-fixtures.ts). Our encoders must produce the same
// command parameters and frames; our session HMAC / cpHash / rpHash code must
// reproduce tpm2-tss's HMACs; our decoders must read the TPM's answers.

import assert from "node:assert/strict";
import { createPublicKey, verify as cryptoVerify } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { GetCapability, GetRandom, Startup } from "../../../hal/tpm/commands/basic.js";
import { Create, CreatePrimary, Load, Unseal } from "../../../hal/tpm/commands/object.js";
import { FlushContext, PolicyGetDigest, PolicyPCR, StartAuthSession } from "../../../hal/tpm/commands/session.js";
import { NV_DefineSpace, NV_Increment, NV_Read, NV_ReadPublic, NV_UndefineSpace } from "../../../hal/tpm/commands/nv.js";
import { NV_Certify, Quote } from "../../../hal/tpm/commands/attest.js";
import { PCR_Extend, PCR_Read } from "../../../hal/tpm/commands/pcr.js";
import { type TpmCommand, decodeParameters, encodeParameters, frameCommand, handleName, parseCommand, parseResponse, plainHandle } from "../../../hal/tpm/command.js";
import { TPMA_NV, TPM_ALG, TPM_CAP, TPM_CC, TPM_RH, TPM_SE, TPM_ST, TPM_SU } from "../../../hal/tpm/constants.js";
import { fromHex, hex } from "../../../hal/tpm/marshal.js";
import { COUNTER_ATTRIBUTES } from "../../../hal/tpm/nv-counter.js";
import { pcrCompositeDigest, policyPcrDigest } from "../../../hal/tpm/policy.js";
import { cpHash, rpHash, sessionHmac } from "../../../hal/tpm/session-crypto.js";
import { decodeAttest } from "../../../hal/tpm/structures/attest.js";
import { nvName } from "../../../hal/tpm/structures/nv-public.js";
import { SYM_NULL, encodePublic, objectName } from "../../../hal/tpm/structures/public.js";
import { attestationKeyTemplate, sealedObjectTemplate, srkTemplate } from "../../../hal/tpm/templates.js";
import { isTpmRc } from "../../../hal/tpm/rc.js";

interface Exchange {
  command: string;
  response: string;
}
interface Step {
  name: string;
  invocation: string;
  exchanges: Exchange[];
}
const fixture = JSON.parse(readFileSync(new URL("../../../../test/fixtures/tpm/tpm2-tools-traffic.json", import.meta.url), "utf8")) as { steps: Step[] };

function step(name: string): Step {
  const s = fixture.steps.find((x) => x.name === name);
  assert.ok(s, `fixture step ${name}`);
  return s;
}

function exchangesOf(s: Step, code: number): { command: Uint8Array; response: Uint8Array }[] {
  return s.exchanges.filter((e) => parseInt(e.command.slice(12, 20), 16) === code).map((e) => ({ command: fromHex(e.command), response: fromHex(e.response) }));
}

function only(s: Step, code: number): { command: Uint8Array; response: Uint8Array } {
  const list = exchangesOf(s, code);
  assert.ok(list.length >= 1, `${s.name} has a 0x${code.toString(16)} exchange`);
  return list[list.length - 1]!;
}

/** The recorded command, re-framed from our parameter encoding and the recorded handles and sessions, must be byte-identical. */
function assertSameCommand(cmd: TpmCommand<unknown>, recorded: Uint8Array): ReturnType<typeof parseCommand> {
  const parsed = parseCommand(recorded, cmd.handles.length);
  assert.equal(parsed.code, cmd.code);
  assert.equal(hex(encodeParameters(cmd)), hex(parsed.parameters), "parameters");
  assert.deepEqual(
    parsed.handles,
    cmd.handles.map((h) => h.handle),
    "handles",
  );
  assert.equal(hex(frameCommand(cmd.code, parsed.handles, parsed.auths, encodeParameters(cmd))), hex(recorded), "whole frame");
  return parsed;
}

function decodeRecorded<R>(cmd: TpmCommand<R>, response: Uint8Array, sessions: number): R {
  const r = parseResponse(response, cmd.code, cmd.responseHandles, sessions);
  return decodeParameters(cmd, r.handles, r.parameters);
}

/** nonceTPM of the unsalted HMAC session tpm2-tools starts for a step (StartAuthSession's response). */
function sessionStart(s: Step): { handle: number; nonceTPM: Uint8Array } {
  const start = only(s, TPM_CC.StartAuthSession);
  const parsed = parseCommand(start.command, 2);
  assert.deepEqual(parsed.handles, [TPM_RH.NULL, TPM_RH.NULL], "tpm2-tools sessions are unsalted and unbound");
  const cmd = StartAuthSession({
    tpmKey: TPM_RH.NULL,
    bind: TPM_RH.NULL,
    nonceCaller: parsed.parameters.subarray(2, 34),
    encryptedSalt: new Uint8Array(0),
    sessionType: TPM_SE.HMAC,
    symmetric: SYM_NULL,
    authHash: TPM_ALG.SHA256,
  });
  assertSameCommand(cmd, start.command);
  const r = decodeRecorded(cmd, start.response, 0);
  return { handle: r.sessionHandle, nonceTPM: r.nonceTPM };
}

/** Recomputes tpm2-tss's command and response HMACs (empty key: unsalted, unbound, empty authValue). */
function assertHmacs(code: number, names: Uint8Array[], recorded: { command: Uint8Array; response: Uint8Array }, handleCount: number, responseHandles: number, nonceTPM: Uint8Array): void {
  const c = parseCommand(recorded.command, handleCount);
  const a = c.auths[0]!;
  const key = new Uint8Array(0);
  const cp = cpHash(TPM_ALG.SHA256, code, names, c.parameters);
  assert.equal(hex(sessionHmac(TPM_ALG.SHA256, key, cp, a.nonce, nonceTPM, new Uint8Array(0), a.attributes)), hex(a.hmac), "command HMAC");
  const r = parseResponse(recorded.response, code, responseHandles, 1);
  const ra = r.auths[0]!;
  const rp = rpHash(TPM_ALG.SHA256, 0, code, r.parameters);
  assert.equal(hex(sessionHmac(TPM_ALG.SHA256, key, rp, ra.nonce, a.nonce, new Uint8Array(0), ra.attributes)), hex(ra.hmac), "response HMAC");
}

test("Startup(CLEAR) encodes like tpm2_startup -c; TPM_RC_INITIALIZE decodes by name", () => {
  const e = only(step("Startup"), TPM_CC.Startup);
  assertSameCommand(Startup(TPM_SU.CLEAR), e.command);
  assert.throws(() => decodeRecorded(Startup(TPM_SU.CLEAR), e.response, 0), (err) => isTpmRc(err, "TPM_RC_INITIALIZE"));
});

test("GetRandom(16) encodes like tpm2_getrandom and decodes 16 bytes", () => {
  const e = only(step("GetRandom"), TPM_CC.GetRandom);
  assertSameCommand(GetRandom(16), e.command);
  assert.equal(decodeRecorded(GetRandom(16), e.response, 0).length, 16);
});

test("GetCapability(TPM_PROPERTIES) encodes like tpm2_getcap and decodes the fixed properties", () => {
  const e = only(step("GetCapability"), TPM_CC.GetCapability);
  const cmd = GetCapability(TPM_CAP.TPM_PROPERTIES, 0x100, 127);
  assertSameCommand(cmd, e.command);
  const r = decodeRecorded(cmd, e.response, 0);
  assert.equal(r.data.capability, TPM_CAP.TPM_PROPERTIES);
  const family = r.data.capability === TPM_CAP.TPM_PROPERTIES ? r.data.properties.find((p) => p.property === 0x100) : undefined;
  assert.equal(family?.value, 0x322e3000, 'TPM_PT_FAMILY_INDICATOR is "2.0"');
});

test("PCR_Read(sha256:0,7,16) encodes like tpm2_pcrread and decodes three zero PCRs", () => {
  const e = only(step("PCR_Read"), TPM_CC.PCR_Read);
  const cmd = PCR_Read([{ hash: TPM_ALG.SHA256, pcrs: [0, 7, 16] }]);
  assertSameCommand(cmd, e.command);
  const r = decodeRecorded(cmd, e.response, 0);
  assert.deepEqual(r.pcrSelectionOut, [{ hash: TPM_ALG.SHA256, pcrs: [0, 7, 16] }]);
  assert.equal(r.pcrValues.length, 3);
  for (const v of r.pcrValues) assert.equal(hex(v), "00".repeat(32));
});

test("PCR_Extend encodes like tpm2_pcrextend (password session)", () => {
  const e = only(step("PCR_Extend"), TPM_CC.PCR_Extend);
  const parsed = assertSameCommand(PCR_Extend(16, [{ hash: TPM_ALG.SHA256, digest: new Uint8Array(32).fill(1) }]), e.command);
  assert.deepEqual(parsed.auths, [{ sessionHandle: 0x40000009, nonce: new Uint8Array(0), attributes: 0, hmac: new Uint8Array(0) }]);
  decodeRecorded(PCR_Extend(16, []), e.response, 1);
});

test("CreatePrimary with our SRK template is what tpm2_createprimary -G ecc256:aes128cfb sends; HMACs and Name agree", () => {
  const s = step("CreatePrimary.srk");
  const session = sessionStart(s);
  const e = only(s, TPM_CC.CreatePrimary);
  const cmd = CreatePrimary(plainHandle(TPM_RH.OWNER), { template: srkTemplate() });
  assertSameCommand(cmd, e.command);
  assertHmacs(TPM_CC.CreatePrimary, [handleName(TPM_RH.OWNER)], e, 1, 1, session.nonceTPM);
  const r = decodeRecorded(cmd, e.response, 1);
  assert.equal(r.outPublic.type, TPM_ALG.ECC);
  assert.equal(hex(objectName(TPM_ALG.SHA256, r.outPublicBytes)), hex(r.name), "Name = nameAlg ‖ SHA-256(TPMT_PUBLIC)");
  const template = srkTemplate();
  if (r.outPublic.type === TPM_ALG.ECC && template.type === TPM_ALG.ECC) {
    assert.equal(hex(encodePublic({ ...template, unique: r.outPublic.unique })), hex(r.outPublicBytes), "the TPM's public area is our template plus the point");
    assert.equal(r.outPublic.unique.x.length, 32);
  }
});

test("a trial PolicyPCR and PolicyGetDigest encode like tpm2_policypcr, and our offline policy digest matches the TPM's", () => {
  const s = step("PolicyPCR.trial");
  const read = only(s, TPM_CC.PCR_Read);
  const values = decodeRecorded(PCR_Read([{ hash: TPM_ALG.SHA256, pcrs: [7] }]), read.response, 0).pcrValues;
  const composite = pcrCompositeDigest(TPM_ALG.SHA256, values);
  const e = only(s, TPM_CC.PolicyPCR);
  const sessionHandle = parseCommand(e.command, 1).handles[0]!;
  assert.equal(sessionHandle >>> 24, 0x03, "a policy/trial session handle");
  assertSameCommand(PolicyPCR(sessionHandle, composite, [{ hash: TPM_ALG.SHA256, pcrs: [7] }]), e.command);
  const g = only(s, TPM_CC.PolicyGetDigest);
  assertSameCommand(PolicyGetDigest(sessionHandle), g.command);
  const tpmDigest = decodeRecorded(PolicyGetDigest(sessionHandle), g.response, 0);
  assert.equal(hex(policyPcrDigest(TPM_ALG.SHA256, [{ hash: TPM_ALG.SHA256, pcrs: [7] }], composite)), hex(tpmDigest));
});

test("FlushContext encodes like tpm2_flushcontext", () => {
  const e = only(step("FlushContext.trial"), TPM_CC.FlushContext);
  const handle = new DataView(e.command.buffer, e.command.byteOffset).getUint32(10);
  assertSameCommand(FlushContext(handle), e.command);
});

test("Create of a sealed object with our template is what tpm2_create sends (and its secret crosses the bus in the clear)", () => {
  const s = step("Create.sealed");
  const session = sessionStart(s);
  const e = only(s, TPM_CC.Create);
  const policy = decodeRecorded(PolicyGetDigest(0x03000000), only(step("PolicyPCR.trial"), TPM_CC.PolicyGetDigest).response, 0);
  const parsed = parseCommand(e.command, 1);
  const cmd = Create({ handle: parsed.handles[0]!, name: new Uint8Array(0) }, { sensitive: { userAuth: new Uint8Array(0), data: new Uint8Array(32).fill(0x5a) }, template: sealedObjectTemplate(policy) });
  assertSameCommand(cmd, e.command);
  // The seed is visible in tpm2-tools' default traffic: why sealbox salts its sessions and encrypts this parameter.
  assert.ok(hex(e.command).includes("5a".repeat(32)));
  const r = decodeRecorded(cmd, e.response, 1);
  assert.equal(r.outPublic.type, TPM_ALG.KEYEDHASH);
  // The TPM fills unique with H(seedValue ‖ data) (Part 1 §27.7.3); the rest is our template.
  const template = sealedObjectTemplate(policy);
  assert.equal(r.outPublic.type, TPM_ALG.KEYEDHASH);
  if (r.outPublic.type === TPM_ALG.KEYEDHASH && template.type === TPM_ALG.KEYEDHASH) {
    assert.equal(r.outPublic.unique.length, 32);
    assert.equal(hex(r.outPublicBytes), hex(encodePublic({ ...template, unique: r.outPublic.unique })));
  }
  void session;
});

test("Load and Unseal encode like tpm2_load / tpm2_unseal and decode the sealed secret", () => {
  const load = only(step("Load.sealed"), TPM_CC.Load);
  const created = decodeRecorded(Create(plainHandle(0x80000000), { template: sealedObjectTemplate(new Uint8Array(32)) }), only(step("Create.sealed"), TPM_CC.Create).response, 1);
  const lp = parseCommand(load.command, 1);
  const cmd = Load({ handle: lp.handles[0]!, name: new Uint8Array(0) }, created.outPrivate, created.outPublicBytes);
  assertSameCommand(cmd, load.command);
  const loaded = decodeRecorded(cmd, load.response, 1);
  assert.equal(hex(loaded.name), hex(objectName(TPM_ALG.SHA256, created.outPublicBytes)));
  const u = only(step("Unseal"), TPM_CC.Unseal);
  const up = parseCommand(u.command, 1);
  assertSameCommand(Unseal({ handle: up.handles[0]!, name: loaded.name }), u.command);
  assert.equal(hex(decodeRecorded(Unseal(plainHandle(up.handles[0]!)), u.response, 1)), "5a".repeat(32));
});

test("NV_DefineSpace with our counter attributes is what tpm2_nvdefine -a nt=counter|authwrite|authread|no_da sends", () => {
  const s = step("NV_DefineSpace");
  const session = sessionStart(s);
  const e = only(s, TPM_CC.NV_DefineSpace);
  const cmd = NV_DefineSpace(plainHandle(TPM_RH.OWNER), new Uint8Array(0), { nvIndex: 0x01005ea1, nameAlg: TPM_ALG.SHA256, attributes: COUNTER_ATTRIBUTES, authPolicy: new Uint8Array(0), dataSize: 8 });
  assertSameCommand(cmd, e.command);
  assertHmacs(TPM_CC.NV_DefineSpace, [handleName(TPM_RH.OWNER)], e, 1, 0, session.nonceTPM);
});

test("NV_ReadPublic, NV_Increment and NV_Read encode like tpm2-tools; the NV Name agrees; the counter reads 1", () => {
  const s = step("NV_Increment");
  const session = sessionStart(s);
  const rp = only(s, TPM_CC.NV_ReadPublic);
  assertSameCommand(NV_ReadPublic(plainHandle(0x01005ea1)), rp.command);
  const pub = decodeRecorded(NV_ReadPublic(plainHandle(0x01005ea1)), rp.response, 0);
  assert.equal(pub.nvPublic.attributes, COUNTER_ATTRIBUTES, "not yet written");
  assert.equal(hex(nvName(pub.nvPublic)), hex(pub.nvName));
  const inc = only(s, TPM_CC.NV_Increment);
  const h = { handle: 0x01005ea1, name: pub.nvName };
  assertSameCommand(NV_Increment(h, h), inc.command);
  assertHmacs(TPM_CC.NV_Increment, [pub.nvName, pub.nvName], inc, 2, 0, session.nonceTPM);
  const read = only(step("NV_Read"), TPM_CC.NV_Read);
  assertSameCommand(NV_Read(h, h, 8, 0), read.command);
  assert.equal(hex(decodeRecorded(NV_Read(h, h, 8, 0), read.response, 1)), "0000000000000001");
  const after = decodeRecorded(NV_ReadPublic(plainHandle(0x01005ea1)), only(step("NV_ReadPublic"), TPM_CC.NV_ReadPublic).response, 0);
  assert.equal(after.nvPublic.attributes, (COUNTER_ATTRIBUTES | TPMA_NV.WRITTEN) >>> 0);
});

test("NV_Certify and Quote by a P-256 AK (our template) encode like tpm2-tools and their signatures verify with the AK's public key", () => {
  const akStep = step("CreatePrimary.ak");
  const akCreate = only(akStep, TPM_CC.CreatePrimary);
  assertSameCommand(CreatePrimary(plainHandle(TPM_RH.OWNER), { template: attestationKeyTemplate() }), akCreate.command);
  const ak = decodeRecorded(CreatePrimary(plainHandle(TPM_RH.OWNER), { template: attestationKeyTemplate() }), akCreate.response, 1);
  assert.equal(ak.outPublic.type, TPM_ALG.ECC);
  if (ak.outPublic.type !== TPM_ALG.ECC) return;
  const key = createPublicKey({ key: { kty: "EC", crv: "P-256", x: Buffer.from(ak.outPublic.unique.x).toString("base64url"), y: Buffer.from(ak.outPublic.unique.y).toString("base64url") }, format: "jwk" });

  const c = only(step("NV_Certify"), TPM_CC.NV_Certify);
  const cp = parseCommand(c.command, 3);
  const nvPub = decodeRecorded(NV_ReadPublic(plainHandle(0x01005ea1)), only(step("NV_ReadPublic"), TPM_CC.NV_ReadPublic).response, 0);
  const nvh = { handle: 0x01005ea1, name: nvPub.nvName };
  // tpm2_nvcertify names the key's scheme explicitly (ECDSA-SHA256) where we pass NULL; compare all but that.
  const cmd = NV_Certify({ handle: cp.handles[0]!, name: ak.name }, nvh, nvh, fromHex("00112233"), 8, 0);
  const ours = encodeParameters(cmd);
  assert.equal(hex(cp.parameters), hex(ours).replace("0010", "0018000b"), "qualifyingData ‖ inScheme ‖ size ‖ offset");
  const cert = decodeRecorded(cmd, c.response, cp.auths.length);
  const attest = decodeAttest(cert.attest);
  assert.equal(attest.attested.type, TPM_ST.ATTEST_NV);
  assert.equal(hex(attest.extraData), "00112233");
  if (attest.attested.type === TPM_ST.ATTEST_NV) {
    assert.equal(hex(attest.attested.indexName), hex(nvPub.nvName));
    assert.equal(hex(attest.attested.nvContents), "0000000000000001");
  }
  const sig = Buffer.concat([Buffer.from(cert.signature.r), Buffer.from(cert.signature.s)]);
  assert.ok(cryptoVerify("sha256", cert.attest, { key, dsaEncoding: "ieee-p1363" }, sig), "NV_Certify signature verifies");

  const q = only(step("Quote"), TPM_CC.Quote);
  const qp = parseCommand(q.command, 1);
  const quoteCmd = Quote({ handle: qp.handles[0]!, name: ak.name }, fromHex("aabbccdd"), [{ hash: TPM_ALG.SHA256, pcrs: [7] }]);
  assert.equal(hex(qp.parameters), hex(encodeParameters(quoteCmd)).replace("00100000", "0018000b0000"));
  const quoted = decodeRecorded(quoteCmd, q.response, qp.auths.length);
  const qa = decodeAttest(quoted.attest);
  assert.equal(qa.attested.type, TPM_ST.ATTEST_QUOTE);
  const qsig = Buffer.concat([Buffer.from(quoted.signature.r), Buffer.from(quoted.signature.s)]);
  assert.ok(cryptoVerify("sha256", quoted.attest, { key, dsaEncoding: "ieee-p1363" }, qsig), "Quote signature verifies");
});

test("NV_UndefineSpace encodes like tpm2_nvundefine", () => {
  const s = step("NV_UndefineSpace");
  const e = only(s, TPM_CC.NV_UndefineSpace);
  const pub = decodeRecorded(NV_ReadPublic(plainHandle(0x01005ea1)), exchangesOf(s, TPM_CC.NV_ReadPublic)[0]!.response, 0);
  assertSameCommand(NV_UndefineSpace(plainHandle(TPM_RH.OWNER), { handle: 0x01005ea1, name: pub.nvName }), e.command);
});
