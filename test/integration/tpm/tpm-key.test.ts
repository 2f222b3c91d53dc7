// The sealed signing key on a real swtpm: provision, unseal at start, sign;
// refuse to start on changed PCRs, a cleared/other TPM, damaged blobs, a
// missing TPM; never overwrite without --force; audited provisioning.

import assert from "node:assert/strict";
import { cp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { createPublicKey, verify } from "node:crypto";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { SealboxError, isSealboxError } from "../../../daemon/errors.js";
import { openTpmKey } from "../../../daemon/keys/tpm-open.js";
import { openTpmSigner, provisionTpmKey, showTpmKey } from "../../../daemon/keys/tpm-key.js";
import { TPM_ALG } from "../../../hal/tpm/constants.js";
import { extendPcr } from "../../../hal/tpm/pcrs.js";
import { readCounter } from "../../../hal/tpm/nv-counter.js";
import { createMemoryLedger } from "../../helpers/memory-ledger.js";
import { makeTempDir, startSwtpmPipe, type PipeTpm } from "../../helpers/swtpm.js";

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let sw: PipeTpm;
let tpmDir: string;
let boxDir: string;

before(async () => {
  tmp = await makeTempDir();
  tpmDir = join(tmp.dir, "tpm");
  boxDir = join(tmp.dir, "box");
  sw = await startSwtpmPipe(tpmDir);
});
after(async () => {
  await sw.close();
  await tmp.cleanup();
});

async function restartTpm(dir = tpmDir): Promise<void> {
  await sw.close();
  sw = await startSwtpmPipe(dir);
}

function spki(raw: Uint8Array) {
  return createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]), format: "der", type: "spki" });
}

test("provision writes key.json and tpm2-tools-format blobs; the key unseals after a TPM restart and signs verifiably", async () => {
  const audit = createMemoryLedger();
  const r = await provisionTpmKey(boxDir, sw.tpm.transport, { pcrs: [7, 16], name: "sealbox/test-box", audit });
  assert.match(r.vkey, /^sealbox\/test-box\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/);
  assert.equal(r.keyId, r.meta.key_id);
  assert.equal(r.replaced, false);
  const json = JSON.parse(await readFile(join(boxDir, "keys", "key.json"), "utf8"));
  assert.equal(json.origin, "tpm");
  assert.deepEqual(json.pcrs, [7, 16]);
  assert.equal(json.nv_index, 0x01005ea1);
  assert.equal(json.nv_baseline, r.counter.toString());
  assert.deepEqual((await readdir(join(boxDir, "keys"))).sort(), ["key.json", "sealed.priv", "sealed.pub"], "nothing but metadata and sealed blobs");
  for (const f of ["key.json", "sealed.priv", "sealed.pub"]) assert.equal((await stat(join(boxDir, "keys", f))).mode & 0o777, 0o600, f);
  const pubFile = await readFile(join(boxDir, "keys", "sealed.pub"));
  assert.equal(pubFile.readUInt16BE(0), pubFile.length - 2, "sealed.pub is a TPM2B_PUBLIC, as tpm2_create -u writes");
  assert.deepEqual(
    audit.records.map((x) => [x.action, x.outcome]),
    [
      ["key.provision", "requested"],
      ["key.provision", "success"],
    ],
  );

  await restartTpm();
  const signer = await openTpmSigner(boxDir, sw.tpm.transport);
  assert.equal(signer.origin, "tpm");
  assert.equal(signer.name, "sealbox/test-box");
  assert.equal(Buffer.from(signer.publicKey).toString("base64"), json.public_key);
  const msg = new TextEncoder().encode("sealbox.local/test\n1\nAAAA\n");
  const sig = signer.sign(msg);
  assert.equal(sig.length, 64);
  assert.ok(verify(null, msg, spki(signer.publicKey), sig));
  signer.close();
  signer.close();
  assert.throws(() => signer.sign(msg), (e) => isSealboxError(e, "KEY_UNAVAILABLE"));
});

test("re-provisioning without --force is KEY_EXISTS and changes nothing; with --force a new key, the counter kept and moved on", async () => {
  const before = await readFile(join(boxDir, "keys", "key.json"), "utf8");
  await assert.rejects(provisionTpmKey(boxDir, sw.tpm.transport), (e) => isSealboxError(e, "KEY_EXISTS") && /--force/.test((e as Error).message));
  assert.equal(await readFile(join(boxDir, "keys", "key.json"), "utf8"), before);
  const oldCounter = BigInt(JSON.parse(before).nv_baseline);
  const r = await provisionTpmKey(boxDir, sw.tpm.transport, { force: true, pcrs: [7], name: "sealbox/test-box" });
  assert.equal(r.replaced, true);
  assert.notEqual(r.meta.public_key, JSON.parse(before).public_key);
  assert.ok(r.counter > oldCounter, "the counter is never reset by re-provisioning");
  const status = await showTpmKey(boxDir, sw.tpm.transport);
  assert.equal(status.counter, r.counter.toString());
  assert.equal(status.nv_index, 0x01005ea1);
  assert.deepEqual(status.pcrs, [7]);
  assert.equal(status.vkey, r.vkey);
});

test("no audit, no action: when the ledger refuses the write-ahead record, nothing is provisioned", async () => {
  const dir = join(tmp.dir, "box-noaudit");
  const audit = createMemoryLedger();
  audit.failAppends("LEDGER_WRITE_FAILED");
  await assert.rejects(provisionTpmKey(dir, sw.tpm.transport, { audit, nvIndex: 0x01005eb0 }), (e) => isSealboxError(e, "LEDGER_WRITE_FAILED"));
  await assert.rejects(readFile(join(dir, "keys", "key.json")), { code: "ENOENT" });
});

test("after a PCR extend the key does not unseal: PCR_MISMATCH naming the PCR; the TPM leaks nothing", async () => {
  const dir = join(tmp.dir, "box-pcr");
  await provisionTpmKey(dir, sw.tpm.transport, { pcrs: [7, 16], nvIndex: 0x01005eb1 });
  await extendPcr(sw.tpm, 16, [{ hash: TPM_ALG.SHA256, digest: new Uint8Array(32).fill(0x77) }]);
  await assert.rejects(openTpmSigner(dir, sw.tpm.transport), (e) => {
    assert.ok(isSealboxError(e, "PCR_MISMATCH"), String(e));
    assert.match((e as Error).message, /sealed to PCRs 7,16 and PCR 16 has changed/);
    assert.deepEqual((e as SealboxError).details?.changed, [16]);
    return true;
  });
  await restartTpm(); // PCR 16 resets at TPM restart: the key unseals again
  const s = await openTpmSigner(dir, sw.tpm.transport);
  s.close();
});

test("a TPM that was cleared (another TPM, new seeds) is KEY_UNAVAILABLE saying so", async () => {
  const dir = join(tmp.dir, "box-other");
  await provisionTpmKey(dir, sw.tpm.transport, { nvIndex: 0x01005eb2 });
  await restartTpm(join(tmp.dir, "another-tpm"));
  try {
    await assert.rejects(openTpmSigner(dir, sw.tpm.transport), (e) => isSealboxError(e, "KEY_UNAVAILABLE") && /cleared or is another TPM/.test((e as Error).message));
  } finally {
    await restartTpm();
  }
});

test("damaged sealed blobs are KEY_UNAVAILABLE, not a crash", async () => {
  const dir = join(tmp.dir, "box-damaged");
  await provisionTpmKey(dir, sw.tpm.transport, { nvIndex: 0x01005eb3 });
  const priv = join(dir, "keys", "sealed.priv");
  const bytes = await readFile(priv);
  bytes[bytes.length - 5] ^= 0xff;
  await writeFile(priv, bytes);
  await assert.rejects(openTpmSigner(dir, sw.tpm.transport), (e) => isSealboxError(e, "KEY_UNAVAILABLE") && /damaged or belong to another TPM/.test((e as Error).message));
});

test("openTpmKey by spec: no TPM → TPM_UNAVAILABLE; a working spec gives signer and counter; close is idempotent", async () => {
  await assert.rejects(openTpmKey(boxDir, `device:${join(tmp.dir, "no-tpmrm0")}`), (e) => isSealboxError(e, "TPM_UNAVAILABLE"));
  const spec = sw.spec;
  await sw.close(); // swtpm-pipe spawns its own swtpm on the state dir
  try {
    const k = await openTpmKey(boxDir, spec);
    assert.equal(k.description, spec);
    assert.equal(await k.counter.read(), await readCounter(k.tpm, k.signer.meta.nv_index));
    const next = await k.counter.increment();
    assert.equal(await k.counter.read(), next);
    await k.close();
    await k.close();
    assert.throws(() => k.signer.sign(new Uint8Array(1)), (e) => isSealboxError(e, "KEY_UNAVAILABLE"));
  } finally {
    sw = await startSwtpmPipe(tpmDir);
  }
});

test("a key directory copied from another box does not unseal here", async () => {
  const copy = join(tmp.dir, "box-copied");
  await cp(boxDir, copy, { recursive: true });
  await restartTpm(join(tmp.dir, "third-tpm"));
  try {
    await assert.rejects(openTpmSigner(copy, sw.tpm.transport), (e) => isSealboxError(e, "KEY_UNAVAILABLE"));
  } finally {
    await restartTpm();
    await rm(copy, { recursive: true, force: true });
  }
});
