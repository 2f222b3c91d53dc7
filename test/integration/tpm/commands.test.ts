// Each command against a fresh swtpm (started and stopped by this file), its
// state directory reused to show what survives a restart; handle hygiene
// (3 object slots, no resource manager); and the bus seen by an eavesdropper.

import assert from "node:assert/strict";
import { createPublicKey, verify as cryptoVerify } from "node:crypto";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import type { TpmTransport } from "../../../hal/index.js";
import { GetCapability, GetRandom, Startup } from "../../../hal/tpm/commands/basic.js";
import { NV_Certify, Quote } from "../../../hal/tpm/commands/attest.js";
import { CreatePrimary, ReadPublic } from "../../../hal/tpm/commands/object.js";
import { PCR_Read } from "../../../hal/tpm/commands/pcr.js";
import { plainHandle } from "../../../hal/tpm/command.js";
import { TPMA_NV, TPM_ALG, TPM_CAP, TPM_HT, TPM_RH, TPM_ST, TPM_SU } from "../../../hal/tpm/constants.js";
import { hex } from "../../../hal/tpm/marshal.js";
import { COUNTER_ATTRIBUTES, defineCounter, incrementCounter, readCounter, readNvPublic, undefineSpace } from "../../../hal/tpm/nv-counter.js";
import { extendPcr, readPcrs } from "../../../hal/tpm/pcrs.js";
import { pcrCompositeDigest, extendedPcrValue, policyPcrDigest } from "../../../hal/tpm/policy.js";
import { createAttestationKey, createSrk } from "../../../hal/tpm/primary.js";
import { isTpmRc } from "../../../hal/tpm/rc.js";
import { sealSecret, trialPcrPolicy, unsealWithPcrPolicy } from "../../../hal/tpm/seal.js";
import { PasswordSession } from "../../../hal/tpm/sessions.js";
import { decodeAttest } from "../../../hal/tpm/structures/attest.js";
import { srkTemplate } from "../../../hal/tpm/templates.js";
import { Tpm } from "../../../hal/tpm/tpm.js";
import { makeTempDir, startSwtpmPipe, type PipeTpm } from "../../helpers/swtpm.js";

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let stateDir: string;
let sw: PipeTpm;
const NV = 0x01005ea2;
const SEL = [{ hash: TPM_ALG.SHA256, pcrs: [7, 16] }];

before(async () => {
  tmp = await makeTempDir();
  stateDir = join(tmp.dir, "tpm");
  sw = await startSwtpmPipe(stateDir);
});

after(async () => {
  await sw.close();
  await tmp.cleanup();
});

async function restart(): Promise<void> {
  await sw.close();
  sw = await startSwtpmPipe(stateDir);
}

async function loaded(tpm: Tpm, type: number): Promise<number[]> {
  const r = await tpm.run(GetCapability(TPM_CAP.HANDLES, type << 24, 64));
  return r.data.capability === TPM_CAP.HANDLES ? r.data.handles : [];
}

async function assertNothingLoaded(tpm: Tpm): Promise<void> {
  assert.deepEqual(await loaded(tpm, TPM_HT.TRANSIENT), [], "no transient objects left");
  assert.deepEqual(await loaded(tpm, TPM_HT.HMAC_SESSION), [], "no HMAC sessions left");
  assert.deepEqual(await loaded(tpm, TPM_HT.POLICY_SESSION), [], "no policy sessions left");
}

test("Startup: a started TPM answers TPM_RC_INITIALIZE, which startup() accepts", async () => {
  await assert.rejects(sw.tpm.run(Startup(TPM_SU.CLEAR)), (e) => isTpmRc(e, "TPM_RC_INITIALIZE"));
  await sw.tpm.startup();
});

test("GetRandom: fresh bytes each call, at most 64 per call", async () => {
  const a = await sw.tpm.run(GetRandom(32));
  const b = await sw.tpm.run(GetRandom(32));
  assert.equal(a.length, 32);
  assert.notEqual(hex(a), hex(b));
  assert.ok((await sw.tpm.run(GetRandom(100))).length <= 64);
});

test("GetCapability: a SHA-256 bank of 24 PCRs, and the TPM properties", async () => {
  const pcrs = await sw.tpm.run(GetCapability(TPM_CAP.PCRS, 0, 1));
  assert.ok(pcrs.data.capability === TPM_CAP.PCRS && pcrs.data.pcrs.some((b) => b.hash === TPM_ALG.SHA256 && b.pcrs.length === 24));
  const props = await sw.tpm.run(GetCapability(TPM_CAP.TPM_PROPERTIES, 0x100, 1));
  assert.ok(props.data.capability === TPM_CAP.TPM_PROPERTIES && props.data.properties[0]?.value === 0x322e3000);
});

test("PCR_Read and PCR_Extend: the new value is H(old ‖ digest); more than 8 PCRs take several reads", async () => {
  const before = (await readPcrs(sw.tpm, TPM_ALG.SHA256, [16])).get(16)!;
  const digest = new Uint8Array(32).fill(0xa5);
  await extendPcr(sw.tpm, 16, [{ hash: TPM_ALG.SHA256, digest }]);
  const afterValue = (await readPcrs(sw.tpm, TPM_ALG.SHA256, [16])).get(16)!;
  assert.equal(hex(afterValue), hex(extendedPcrValue(TPM_ALG.SHA256, before, digest)));
  const all = await readPcrs(sw.tpm, TPM_ALG.SHA256, Array.from({ length: 24 }, (_, i) => i));
  assert.equal(all.size, 24);
  const one = await sw.tpm.run(PCR_Read([{ hash: TPM_ALG.SHA256, pcrs: Array.from({ length: 24 }, (_, i) => i) }]));
  assert.equal(one.pcrValues.length, 8, "the TPM caps one PCR_Read at 8 digests");
});

test("CreatePrimary: the SRK is the same key every time and after a restart (same seed, same template)", async () => {
  const name1 = await sw.tpm.scoped(async (s) => hex((await createSrk(sw.tpm, s)).name));
  const name2 = await sw.tpm.scoped(async (s) => hex((await createSrk(sw.tpm, s)).name));
  assert.equal(name1, name2);
  await restart();
  assert.equal(await sw.tpm.scoped(async (s) => hex((await createSrk(sw.tpm, s)).name)), name1);
  await assertNothingLoaded(sw.tpm);
});

test("ReadPublic and FlushContext: a loaded primary is readable, then gone after the flush", async () => {
  const r = await sw.tpm.run(CreatePrimary(plainHandle(TPM_RH.OWNER), { template: srkTemplate() }), [new PasswordSession()]);
  const pub = await sw.tpm.run(ReadPublic(plainHandle(r.objectHandle)));
  assert.equal(hex(pub.name), hex(r.name));
  assert.deepEqual(await loaded(sw.tpm, TPM_HT.TRANSIENT), [r.objectHandle]);
  await sw.tpm.flush(r.objectHandle);
  assert.deepEqual(await loaded(sw.tpm, TPM_HT.TRANSIENT), []);
});

test("swtpm has 3 object slots: a 4th unflushed object fails with TPM_RC_OBJECT_MEMORY (retryable); the scope frees them all", async () => {
  await sw.tpm.scoped(async (s) => {
    for (let i = 0; i < 3; i++) await createSrk(sw.tpm, s);
    await assert.rejects(createSrk(sw.tpm, s), (e) => isTpmRc(e, "TPM_RC_OBJECT_MEMORY") && (e as { retryable: boolean }).retryable);
  });
  await assertNothingLoaded(sw.tpm);
});

test("StartAuthSession, PolicyPCR, PolicyGetDigest: the TPM's trial digest equals the one computed offline", async () => {
  const values = await readPcrs(sw.tpm, TPM_ALG.SHA256, [7, 16]);
  const offline = policyPcrDigest(TPM_ALG.SHA256, SEL, pcrCompositeDigest(TPM_ALG.SHA256, [values.get(7)!, values.get(16)!]));
  const trial = await sw.tpm.scoped((s) => trialPcrPolicy(sw.tpm, s, SEL));
  assert.equal(hex(trial), hex(offline));
  await assertNothingLoaded(sw.tpm);
});

test("Create, Load, Unseal: a seed sealed to PCRs 7,16 comes back; after a PCR extend it does not (TPM_RC_POLICY_FAIL)", async () => {
  const seed = new Uint8Array(32).map((_, i) => i + 1);
  const values = await readPcrs(sw.tpm, TPM_ALG.SHA256, [7, 16]);
  const policy = policyPcrDigest(TPM_ALG.SHA256, SEL, pcrCompositeDigest(TPM_ALG.SHA256, [values.get(7)!, values.get(16)!]));
  const blob = await sw.tpm.scoped(async (s) => sealSecret(sw.tpm, s, await createSrk(sw.tpm, s), seed, policy));
  const out = await sw.tpm.scoped(async (s) => unsealWithPcrPolicy(sw.tpm, s, await createSrk(sw.tpm, s), blob, SEL));
  assert.equal(hex(out), hex(seed));
  await restart();
  assert.equal(hex(await sw.tpm.scoped(async (s) => unsealWithPcrPolicy(sw.tpm, s, await createSrk(sw.tpm, s), blob, SEL))), hex(seed), "survives a restart (PCR 16 resets to zero on restart, so re-extend state is not needed)");
  await extendPcr(sw.tpm, 16, [{ hash: TPM_ALG.SHA256, digest: new Uint8Array(32).fill(9) }]);
  await assert.rejects(
    sw.tpm.scoped(async (s) => unsealWithPcrPolicy(sw.tpm, s, await createSrk(sw.tpm, s), blob, SEL)),
    (e) => isTpmRc(e, "TPM_RC_POLICY_FAIL"),
  );
  await assertNothingLoaded(sw.tpm);
});

test("20 failed unseals in a row leak no handle and no session", async () => {
  const policy = new Uint8Array(32).fill(0xee); // a policy no PCR state can satisfy
  const blob = await sw.tpm.scoped(async (s) => sealSecret(sw.tpm, s, await createSrk(sw.tpm, s), new Uint8Array(32), policy));
  for (let i = 0; i < 20; i++) {
    await assert.rejects(
      sw.tpm.scoped(async (s) => unsealWithPcrPolicy(sw.tpm, s, await createSrk(sw.tpm, s), blob, SEL)),
      (e) => isTpmRc(e, "TPM_RC_POLICY_FAIL"),
    );
  }
  await assertNothingLoaded(sw.tpm);
});

/** A transport in the middle: records every byte, and can tamper with responses. */
function wiretap(inner: TpmTransport, tamper?: (command: Uint8Array, response: Uint8Array) => Uint8Array): TpmTransport & { seen: Uint8Array[] } {
  const seen: Uint8Array[] = [];
  return {
    seen,
    async transmit(command) {
      seen.push(command.slice());
      let response = await inner.transmit(command);
      if (tamper) response = tamper(command, response);
      seen.push(response.slice());
      return response;
    },
    close: () => inner.close(),
  };
}

test("on the bus the seed never appears in the clear: not in Create (decrypt session), not in Unseal (encrypt session)", async () => {
  const tap = wiretap(sw.tpm.transport);
  const tpm = new Tpm(tap);
  const seed = new Uint8Array(32).fill(0x42);
  const values = await readPcrs(tpm, TPM_ALG.SHA256, [7]);
  const sel = [{ hash: TPM_ALG.SHA256, pcrs: [7] }];
  const policy = policyPcrDigest(TPM_ALG.SHA256, sel, pcrCompositeDigest(TPM_ALG.SHA256, [values.get(7)!]));
  const blob = await tpm.scoped(async (s) => sealSecret(tpm, s, await createSrk(tpm, s), seed, policy));
  const out = await tpm.scoped(async (s) => unsealWithPcrPolicy(tpm, s, await createSrk(tpm, s), blob, sel));
  assert.equal(hex(out), hex(seed));
  const wire = tap.seen.map((b) => hex(b)).join("|");
  assert.ok(!wire.includes("42".repeat(16)), "no 16-byte run of the seed anywhere on the wire");
  assert.ok(tap.seen.length > 10);
});

test("a response tampered on the bus fails the session HMAC check (TPM_PROTOCOL) and leaks nothing", async () => {
  const tap = wiretap(sw.tpm.transport, (command, response) => {
    const code = new DataView(command.buffer, command.byteOffset).getUint32(6);
    if (code === 0x15e && response.length > 20) {
      const r = response.slice();
      r[16] = r[16]! ^ 1; // inside the encrypted outData
      return r;
    }
    return response;
  });
  const tpm = new Tpm(tap);
  const values = await readPcrs(tpm, TPM_ALG.SHA256, [7]);
  const sel = [{ hash: TPM_ALG.SHA256, pcrs: [7] }];
  const policy = policyPcrDigest(TPM_ALG.SHA256, sel, pcrCompositeDigest(TPM_ALG.SHA256, [values.get(7)!]));
  const blob = await tpm.scoped(async (s) => sealSecret(tpm, s, await createSrk(tpm, s), new Uint8Array(32).fill(1), policy));
  await assert.rejects(
    tpm.scoped(async (s) => unsealWithPcrPolicy(tpm, s, await createSrk(tpm, s), blob, sel)),
    (e) => isSealboxError(e, "TPM_PROTOCOL") && /HMAC/.test((e as Error).message),
  );
  await assertNothingLoaded(sw.tpm);
});

test("NV counter: define, read before first increment (TPM_RC_NV_UNINITIALIZED), increment, read, survives restart", async () => {
  await defineCounter(sw.tpm, NV);
  await assert.rejects(defineCounter(sw.tpm, NV), (e) => isTpmRc(e, "TPM_RC_NV_DEFINED"));
  await assert.rejects(readCounter(sw.tpm, NV), (e) => isTpmRc(e, "TPM_RC_NV_UNINITIALIZED"));
  await incrementCounter(sw.tpm, NV);
  const v1 = await readCounter(sw.tpm, NV);
  await incrementCounter(sw.tpm, NV);
  assert.equal(await readCounter(sw.tpm, NV), v1 + 1n);
  const pub = await readNvPublic(sw.tpm, NV);
  assert.equal(pub.nvPublic.attributes, (COUNTER_ATTRIBUTES | TPMA_NV.WRITTEN) >>> 0);
  await restart();
  assert.equal(await readCounter(sw.tpm, NV), v1 + 1n);
});

test("NV counter: deleting and re-creating the index does not reset the count", async () => {
  const before = await readCounter(sw.tpm, NV);
  await undefineSpace(sw.tpm, NV);
  await assert.rejects(readNvPublic(sw.tpm, NV), (e) => isTpmRc(e, "TPM_RC_HANDLE"));
  await defineCounter(sw.tpm, NV);
  await incrementCounter(sw.tpm, NV);
  assert.ok((await readCounter(sw.tpm, NV)) > before, "a counter starts above the highest count this TPM has seen");
});

test("NV_Certify and Quote by a P-256 attestation key: signatures verify in Node; the attestation names the counter and its value", async () => {
  const value = await readCounter(sw.tpm, NV);
  const { nvName } = await readNvPublic(sw.tpm, NV);
  await sw.tpm.scoped(async (s) => {
    const ak = await createAttestationKey(sw.tpm, s);
    assert.equal(ak.public.type, TPM_ALG.ECC);
    if (ak.public.type !== TPM_ALG.ECC) return;
    const key = createPublicKey({ key: { kty: "EC", crv: "P-256", x: Buffer.from(ak.public.unique.x).toString("base64url"), y: Buffer.from(ak.public.unique.y).toString("base64url") }, format: "jwk" });
    const nvh = { handle: NV, name: nvName };
    const qualifying = new Uint8Array(32).fill(0x33);
    const cert = await sw.tpm.run(NV_Certify({ handle: ak.handle, name: ak.name }, nvh, nvh, qualifying, 8, 0), [new PasswordSession(), new PasswordSession()]);
    const attest = decodeAttest(cert.attest);
    assert.equal(hex(attest.extraData), hex(qualifying));
    assert.ok(attest.attested.type === TPM_ST.ATTEST_NV);
    if (attest.attested.type === TPM_ST.ATTEST_NV) {
      assert.equal(hex(attest.attested.indexName), hex(nvName));
      assert.equal(new DataView(attest.attested.nvContents.buffer, attest.attested.nvContents.byteOffset).getBigUint64(0), value);
    }
    const sig = Buffer.concat([cert.signature.r, cert.signature.s].map((b) => Buffer.from(b)));
    assert.ok(cryptoVerify("sha256", cert.attest, { key, dsaEncoding: "ieee-p1363" }, sig));
    const tampered = cert.attest.slice();
    tampered[tampered.length - 1] ^= 1;
    assert.ok(!cryptoVerify("sha256", tampered, { key, dsaEncoding: "ieee-p1363" }, sig), "a changed attestation does not verify");

    const quote = await sw.tpm.run(Quote({ handle: ak.handle, name: ak.name }, qualifying, SEL), [new PasswordSession()]);
    const qa = decodeAttest(quote.attest);
    assert.ok(qa.attested.type === TPM_ST.ATTEST_QUOTE);
    const values = await readPcrs(sw.tpm, TPM_ALG.SHA256, [7, 16]);
    if (qa.attested.type === TPM_ST.ATTEST_QUOTE) assert.equal(hex(qa.attested.pcrDigest), hex(pcrCompositeDigest(TPM_ALG.SHA256, [values.get(7)!, values.get(16)!])));
    assert.ok(cryptoVerify("sha256", quote.attest, { key, dsaEncoding: "ieee-p1363" }, Buffer.concat([quote.signature.r, quote.signature.s].map((b) => Buffer.from(b)))));
  });
  await assertNothingLoaded(sw.tpm);
});
