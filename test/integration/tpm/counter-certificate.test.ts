// NV_Certify of the anti-rollback counter bound to a checkpoint, verified
// offline with only the attestation key's public point; every tampering and
// every hostile input is VERIFY_FAILED.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { type CounterCertificate, certifyCounter, readCounterCertificate, verifyCounterCertificate, writeCounterCertificate } from "../../../daemon/keys/counter-certificate.js";
import { readTpmKey } from "../../../daemon/keys/tpm-key-file.js";
import { provisionTpmKey } from "../../../daemon/keys/tpm-key.js";
import { incrementCounter } from "../../../hal/tpm/nv-counter.js";
import { makeTempDir, startSwtpmPipe, type PipeTpm } from "../../helpers/swtpm.js";

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let sw: PipeTpm;
let box: string;
let cert: CounterCertificate;
const checkpoint = "sealbox/test\n42\nq6vpVwM4n1WuTm0XpVQnG7I3Fq6lk2BfXJ0B8m6nI9s=\n\n— sealbox/test AAAAAA==\n";

before(async () => {
  tmp = await makeTempDir();
  sw = await startSwtpmPipe(join(tmp.dir, "tpm"));
  box = join(tmp.dir, "box");
  await provisionTpmKey(box, sw.tpm.transport, { name: "sealbox/test" });
  const { meta } = await readTpmKey(box);
  await incrementCounter(sw.tpm, meta.nv_index);
  cert = await certifyCounter(sw.tpm, meta, checkpoint);
});
after(async () => {
  await sw.close();
  await tmp.cleanup();
});

const isVerifyFailed = (re: RegExp) => (e: unknown) => isSealboxError(e, "VERIFY_FAILED") && re.test((e as Error).message);

test("the TPM certifies the counter's current value, bound to the checkpoint; it verifies offline and survives a file round trip", async () => {
  const { meta } = await readTpmKey(box);
  assert.equal(cert.counter, (BigInt(meta.nv_baseline) + 1n).toString());
  assert.equal(verifyCounterCertificate(cert, checkpoint, meta.attestation_key), BigInt(cert.counter));
  await writeCounterCertificate(box, cert);
  assert.equal(verifyCounterCertificate(await readCounterCertificate(box), checkpoint), BigInt(cert.counter));
  assert.equal(cert.checkpoint, checkpoint, "the certificate carries its checkpoint");
});

test("bound to one checkpoint: another checkpoint does not verify", () => {
  assert.throws(() => verifyCounterCertificate(cert, checkpoint.replace("42", "43")), isVerifyFailed(/another checkpoint/));
});

test("a claimed counter value other than the certified one is refused", () => {
  assert.throws(() => verifyCounterCertificate({ ...cert, counter: "999" }, checkpoint), isVerifyFailed(/claims counter 999/));
});

test("a changed attestation or signature does not verify", () => {
  const attest = Buffer.from(cert.attest, "base64");
  attest[attest.length - 1] ^= 1;
  assert.throws(() => verifyCounterCertificate({ ...cert, attest: attest.toString("base64") }, checkpoint), isVerifyFailed(/signature does not verify/));
  const r = cert.signature.r.slice(0, -2) + (cert.signature.r.endsWith("00") ? "01" : "00");
  assert.throws(() => verifyCounterCertificate({ ...cert, signature: { ...cert.signature, r } }, checkpoint), isVerifyFailed(/signature/));
});

test("an attestation key other than the trusted one is refused", () => {
  assert.throws(() => verifyCounterCertificate(cert, checkpoint, { x: "11".repeat(32), y: cert.attestation_key.y }), isVerifyFailed(/other than the trusted one/));
});

test("hostile certificate objects are VERIFY_FAILED, never a crash", () => {
  const hostile: unknown[] = [
    null,
    42,
    "x",
    {},
    { ...cert, format: "v0" },
    { ...cert, attestation_key: { x: "zz", y: "00" } },
    { ...cert, attestation_key: null },
    { ...cert, attest: 5 },
    { ...cert, attest: "A".repeat(5000) },
    { ...cert, signature: { r: "", s: "" } },
    { ...cert, signature: { r: "00".repeat(40), s: cert.signature.s } },
    { ...cert, nv_name: "not hex" },
    { ...cert, attest: Buffer.from("garbage").toString("base64") },
  ];
  for (const h of hostile) assert.throws(() => verifyCounterCertificate(h, checkpoint), (e) => isSealboxError(e, "VERIFY_FAILED"), JSON.stringify(h)?.slice(0, 80));
});
