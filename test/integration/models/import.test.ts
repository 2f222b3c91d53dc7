// Model import with real files: authority keys made by the code under test,
// demo GGUFs from the project's generator, a state directory in a temp dir,
// and an in-memory AuditLog (the seam; the CLI test uses the real ledger).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmod, mkdir, readdir, readFile, stat, truncate, writeFile, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { importModel, removeStaleTemps } from "../../../daemon/inference/model-import.js";
import { listModels, modelsDir, removeModel, resolveModel, verifyModelFile } from "../../../daemon/inference/models.js";
import { loadAuthorities } from "../../../daemon/inference/authority.js";
import { manifestSigningBytes, parseSignedManifest } from "../../../daemon/inference/manifest.js";
import { isSealboxError, SealboxError, type ErrorCode } from "../../../daemon/errors.js";
import type { AuditEvent, AuditLog } from "../../../daemon/ledger/types.js";
import { MemoryAuditLog } from "../../helpers/memory-audit-log.js";
import { makeAuthority, makeModel, signedManifestFile, tempDir, trust, writeManifest, type TestAuthority } from "../../helpers/model-fixtures.js";

const actor = { role: "technician", transport: "cli", peer: "uid=1000" };

interface Box {
  root: string;
  state: string;
  authority: TestAuthority;
  model: { path: string; sha256: string; sizeBytes: number };
  manifest: string;
  audit: MemoryAuditLog;
  cleanup(): Promise<void>;
}

async function box(): Promise<Box> {
  const { dir, cleanup } = await tempDir();
  const state = join(dir, "state");
  await mkdir(state);
  const authority = await makeAuthority(dir);
  await trust(state, authority, "site-a");
  const path = join(dir, "demo.gguf");
  const model = { path, ...(await makeModel(path, 1)) };
  const manifest = await signedManifestFile(join(dir, "demo.manifest.json"), authority, model);
  return { root: dir, state, authority, model, manifest, audit: new MemoryAuditLog(), cleanup };
}

async function storedFiles(state: string): Promise<string[]> {
  return (await readdir(modelsDir(state)).catch(() => [] as string[])).sort();
}

async function expectRejected(p: Promise<unknown>, reason: string, code: ErrorCode = "MODEL_REJECTED"): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(isSealboxError(e, code), `expected ${code}, got ${String(e)}`);
    if (code === "MODEL_REJECTED") assert.equal(e.details?.reason, reason, e.message);
    return e;
  }
  assert.fail(`expected ${code} ${reason}`);
}

test("a signed model is imported read-only under its SHA-256, audited, and found by name, prefix or hash", async () => {
  const b = await box();
  try {
    const progress: number[] = [];
    const r = await importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor, onProgress: (p) => progress.push(p.doneBytes) });
    assert.equal(r.sha256, b.model.sha256);
    assert.equal(r.alreadyPresent, false);
    assert.equal(r.authority.name, "site-a");
    assert.deepEqual(await storedFiles(b.state), [`${b.model.sha256}.gguf`, `${b.model.sha256}.manifest.json`]);
    const s = await stat(r.path);
    assert.equal(s.mode & 0o777, 0o444);
    assert.deepEqual(await readFile(r.path), await readFile(b.model.path));
    assert.deepEqual(await readFile(join(modelsDir(b.state), `${b.model.sha256}.manifest.json`)), await readFile(b.manifest), "the manifest is kept verbatim");
    assert.equal(progress.at(-1), b.model.sizeBytes);

    assert.deepEqual(b.audit.events.map((e) => [e.category, e.action, e.outcome, e.target]), [
      ["model", "model.import", "requested", b.model.sha256],
      ["model", "model.import", "success", b.model.sha256],
    ]);
    assert.equal(b.audit.events[1]!.details!.authority, "site-a");
    assert.equal(r.seq, 1);

    for (const ref of [b.model.sha256, b.model.sha256.slice(0, 8), "demo-tiny"]) {
      const m = await resolveModel(b.state, ref);
      assert.equal(m.path, r.path);
      assert.equal(m.manifest.licence, "Apache-2.0");
    }
    await verifyModelFile(r.path, r.sha256);
    const list = await listModels(b.state);
    assert.equal(list.length, 1);
    assert.equal(list[0]!.problem, null);

    const again = await importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor });
    assert.equal(again.alreadyPresent, true);
    assert.equal(b.audit.events.at(-1)!.details!.alreadyPresent, true);
  } finally {
    await b.cleanup();
  }
});

test("bad signature: refused, recorded as refused, nothing stored", async () => {
  const b = await box();
  try {
    const signed = parseSignedManifest(await readFile(b.manifest));
    await writeManifest(b.manifest, { manifest: { ...signed.manifest, licence: "Proprietary" }, signature: signed.signature });
    await expectRejected(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor }), "bad-signature");
    assert.deepEqual(await storedFiles(b.state), []);
    assert.deepEqual(b.audit.events.map((e) => [e.action, e.outcome, e.details!.reason]), [["model.import", "refused", "bad-signature"]]);
  } finally {
    await b.cleanup();
  }
});

test("wrong hash: a same-sized other file is caught while copying; nothing stored, not even a temp file", async () => {
  const b = await box();
  try {
    const other = join(b.root, "other.gguf");
    const o = await makeModel(other, 2);
    assert.equal(o.sizeBytes, b.model.sizeBytes, "same shape, other weights");
    assert.notEqual(o.sha256, b.model.sha256);
    const e = await expectRejected(importModel({ stateDir: b.state, filePath: other, manifestPath: b.manifest, audit: b.audit, actor }), "hash-mismatch");
    assert.match(e.message, new RegExp(`has SHA-256 ${o.sha256}, but the manifest names ${b.model.sha256}`));
    assert.deepEqual(await storedFiles(b.state), []);
    assert.deepEqual(b.audit.events.map((x) => [x.outcome, x.details!.reason ?? null]), [["requested", null], ["failure", "hash-mismatch"]]);
  } finally {
    await b.cleanup();
  }
});

test("truncated file: refused before copying, named as truncated", async () => {
  const b = await box();
  try {
    await truncate(b.model.path, b.model.sizeBytes - 100);
    const e = await expectRejected(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor }), "size-mismatch");
    assert.match(e.message, /truncated/);
    assert.deepEqual(await storedFiles(b.state), []);
  } finally {
    await b.cleanup();
  }
});

test("unknown authority: a manifest signed by a key the box does not trust is refused", async () => {
  const b = await box();
  try {
    const stranger = await makeAuthority(b.root, "stranger");
    const m = await signedManifestFile(join(b.root, "stranger.json"), stranger, b.model);
    const e = await expectRejected(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: m, audit: b.audit, actor }), "unknown-authority");
    assert.match(e.message, /trusted: site-a/);
    assert.deepEqual(await storedFiles(b.state), []);
  } finally {
    await b.cleanup();
  }
});

test("oversized, garbage and missing manifests are refused; nothing stored", async () => {
  const b = await box();
  try {
    await writeFile(b.manifest, Buffer.alloc(64 * 1024 + 1, 0x7b));
    await expectRejected(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor }), "manifest-too-large");
    await writeFile(b.manifest, "\u0000\u0001garbage");
    await expectRejected(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor }), "manifest-malformed");
    await expectRejected(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.root, audit: b.audit, actor }), "not-a-file");
    await expectRejected(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: join(b.root, "nope.json"), audit: b.audit, actor }), "", "NOT_FOUND");
    assert.deepEqual(await storedFiles(b.state), []);
    assert.deepEqual(b.audit.events.map((e) => e.details!.reason), ["manifest-too-large", "manifest-malformed", "not-a-file"]);
  } finally {
    await b.cleanup();
  }
});

test("a signed file that is not GGUF is refused", async () => {
  const b = await box();
  try {
    const path = join(b.root, "notes.txt");
    const data = Buffer.from("these are not weights\n".repeat(100));
    await writeFile(path, data);
    const { createHash } = await import("node:crypto");
    const m = await signedManifestFile(join(b.root, "notes.json"), b.authority, { sha256: createHash("sha256").update(data).digest("hex"), sizeBytes: data.length });
    await expectRejected(importModel({ stateDir: b.state, filePath: path, manifestPath: m, audit: b.audit, actor }), "not-gguf");
    assert.deepEqual(await storedFiles(b.state), []);
  } finally {
    await b.cleanup();
  }
});

test("no audit, no action: a refused write-ahead record stops the import before anything is copied", async () => {
  const b = await box();
  try {
    b.audit.refuse = "LEDGER_FULL";
    await expectRejected(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor }), "", "LEDGER_FULL");
    assert.deepEqual(await storedFiles(b.state), []);
  } finally {
    await b.cleanup();
  }
});

test("an outcome record the ledger refuses undoes the import", async () => {
  const b = await box();
  try {
    const events: AuditEvent[] = [];
    const flaky: AuditLog = {
      async append(e) {
        if (e.outcome === "success") throw new SealboxError("LEDGER_WRITE_FAILED", "disk error");
        events.push(e);
        return { seq: events.length - 1, treeSize: events.length, checkpoint: "" };
      },
    };
    await expectRejected(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: flaky, actor }), "", "LEDGER_WRITE_FAILED");
    assert.deepEqual(await storedFiles(b.state), []);
    await assert.rejects(resolveModel(b.state, b.model.sha256), (e: unknown) => isSealboxError(e, "NOT_FOUND"));
  } finally {
    await b.cleanup();
  }
});

test("a model changed after import is refused at load; one cut short or whose authority was withdrawn is refused at resolve", async () => {
  const b = await box();
  try {
    const r = await importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor });
    // Flip one byte in the stored file (an attacker with root could; the hash check catches it).
    await chmod(r.path, 0o644);
    const fh = await open(r.path, "r+");
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, 1000);
    one[0] = one[0]! ^ 0x01;
    await fh.write(one, 0, 1, 1000);
    await fh.close();
    const resolved = await resolveModel(b.state, "demo-tiny");
    await assert.rejects(verifyModelFile(resolved.path, resolved.sha256), (e: unknown) => isSealboxError(e, "MODEL_REJECTED") && /was changed or replaced/.test(e.message));

    await truncate(r.path, 10);
    await assert.rejects(resolveModel(b.state, "demo-tiny"), (e: unknown) => isSealboxError(e, "MODEL_REJECTED") && /10 bytes/.test(e.message));

    await unlink(join(b.state, "authorities", "site-a.pub"));
    const list = await listModels(b.state);
    assert.match(list[0]!.problem ?? "", /does not trust/);
  } finally {
    await b.cleanup();
  }
});

test("remove is audited and leaves nothing; an unknown model is NOT_FOUND with no record", async () => {
  const b = await box();
  try {
    await importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor });
    const before = b.audit.events.length;
    await assert.rejects(removeModel(b.state, "nothing-like-it", { audit: b.audit, actor }), (e: unknown) => isSealboxError(e, "NOT_FOUND"));
    assert.equal(b.audit.events.length, before);
    b.audit.refuse = "LEDGER_FULL";
    await assert.rejects(removeModel(b.state, "demo-tiny", { audit: b.audit, actor }), (e: unknown) => isSealboxError(e, "LEDGER_FULL"));
    assert.equal((await storedFiles(b.state)).length, 2, "refused by the ledger: still there");
    b.audit.refuse = undefined;
    const r = await removeModel(b.state, "demo-tiny", { audit: b.audit, actor });
    assert.equal(r.sha256, b.model.sha256);
    assert.deepEqual(await storedFiles(b.state), []);
    assert.deepEqual(b.audit.events.slice(before).map((e) => [e.action, e.outcome]), [["model.remove", "requested"], ["model.remove", "success"]]);
  } finally {
    await b.cleanup();
  }
});

test("temporary files of a crashed import are cleared by the next one", async () => {
  const b = await box();
  try {
    const child = spawn(process.execPath, ["-e", ""]);
    const deadPid = child.pid!;
    await new Promise((res) => child.on("exit", res));
    await mkdir(modelsDir(b.state), { recursive: true });
    const stale = join(modelsDir(b.state), `.import-${deadPid}-abcdef.gguf`);
    const live = join(modelsDir(b.state), `.import-${process.pid}-abcdef.gguf`);
    await writeFile(stale, "half a model");
    await writeFile(live, "another import in this process");
    assert.deepEqual(await removeStaleTemps(b.state), [`.import-${deadPid}-abcdef.gguf`]);
    assert.ok((await storedFiles(b.state)).includes(`.import-${process.pid}-abcdef.gguf`), "a live process's temp file is kept");
    await unlink(live);
  } finally {
    await b.cleanup();
  }
});

test("a broken trust anchor is an error, not silently skipped", async () => {
  const b = await box();
  try {
    await writeFile(join(b.state, "authorities", "broken.pub"), "not a key");
    await assert.rejects(loadAuthorities(b.state), (e: unknown) => isSealboxError(e, "BAD_CONFIG") && /broken\.pub/.test(e.message));
    await assert.rejects(importModel({ stateDir: b.state, filePath: b.model.path, manifestPath: b.manifest, audit: b.audit, actor }), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
    assert.deepEqual(await storedFiles(b.state), []);
  } finally {
    await b.cleanup();
  }
});

test("openssl verifies an authority's manifest signature (the format needs no sealbox code to check)", async (t) => {
  if (spawnSync("openssl", ["version"]).status !== 0) {
    t.skip("openssl is not installed here");
    return;
  }
  const b = await box();
  try {
    const signed = parseSignedManifest(await readFile(b.manifest));
    const msg = join(b.root, "msg.bin");
    const sig = join(b.root, "sig.bin");
    await writeFile(msg, manifestSigningBytes(signed.manifest));
    await writeFile(sig, Buffer.from(signed.signature.sig, "base64"));
    const ok = spawnSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", b.authority.pubPath, "-rawin", "-in", msg, "-sigfile", sig], { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /Signature Verified Successfully/);
    await writeFile(msg, Buffer.concat([manifestSigningBytes(signed.manifest), Buffer.from(" ")]));
    const bad = spawnSync("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", b.authority.pubPath, "-rawin", "-in", msg, "-sigfile", sig], { encoding: "utf8" });
    assert.notEqual(bad.status, 0);
    // And the key file itself is the standard PKCS#8 that openssl reads.
    const priv = spawnSync("openssl", ["pkey", "-in", b.authority.keyPath, "-noout", "-text"], { encoding: "utf8" });
    assert.equal(priv.status, 0, priv.stderr);
    assert.match(priv.stdout, /ED25519 Private-Key/);
  } finally {
    await b.cleanup();
  }
});

test("the ModelPort for the method table lists and imports with the caller as actor", async () => {
  const { createModelPort } = await import("../../../daemon/inference/model-port.js");
  const b = await box();
  try {
    let loaded: string | undefined;
    const port = createModelPort({ stateDir: b.state, audit: b.audit, loadedSha256: () => loaded });
    assert.deepEqual(await port.list(), []);
    const caller = { role: "technician", transport: "http-socket", peer: "uid=1001" };
    const r = await port.import({ path: b.model.path, manifestPath: b.manifest }, caller);
    assert.equal(r.sha256, b.model.sha256);
    assert.equal(r.authority, "site-a");
    assert.deepEqual(b.audit.events.map((e) => e.actor), [caller, caller]);
    loaded = b.model.sha256;
    const list = await port.list();
    assert.equal(list.length, 1);
    assert.equal(list[0]!.loaded, true);
    assert.equal(list[0]!.trusted, true);
    assert.equal(list[0]!.name, "demo-tiny");
  } finally {
    await b.cleanup();
  }
});
