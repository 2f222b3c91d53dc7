// `sealbox authority` and `sealbox model`: as a real process through
// bin/sealbox for what needs no ledger (keygen, sign, make-demo, list, show),
// and in-process through run() with an in-memory AuditLog for what changes a
// box (import, remove, authority add/remove).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { run as runModel } from "../../../daemon/console/cmd-model.js";
import { run as runAuthority, type CommandDeps } from "../../../daemon/console/cmd-authority.js";
import { parseSignedManifest, verifySignedManifest } from "../../../daemon/inference/manifest.js";
import { parseGgufHeader } from "../../../daemon/inference/gguf-reader.js";
import { checkGguf } from "../../../daemon/inference/model-import.js";
import { loadAuthorities } from "../../../daemon/inference/authority.js";
import { ERRORS } from "../../../daemon/errors.js";
import { MemoryAuditLog } from "../../helpers/memory-audit-log.js";
import { REPO_ROOT } from "../../helpers/fake-nvidia-smi.js";
import { tempDir } from "../../helpers/model-fixtures.js";

const SEALBOX = join(REPO_ROOT, "bin", "sealbox");

function sealbox(args: string[], cwd: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(SEALBOX, args, { cwd, encoding: "utf8", timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

function deps(audit: MemoryAuditLog): CommandDeps & { out: Capture; err: Capture; closes: number } {
  const out = new Capture();
  const err = new Capture();
  const d = {
    out,
    err,
    closes: 0,
    stdout: out,
    stderr: err as unknown as NodeJS.WriteStream,
    openAudit: async () => ({
      audit,
      close: async () => {
        d.closes++;
      },
    }),
  };
  return d;
}

test("keygen, make-demo and sign as a real process; their files are what the box verifies", async () => {
  const { dir, cleanup } = await tempDir("sealbox-cli-");
  try {
    const kg = sealbox(["authority", "keygen", "--out", "site.key", "--json"], dir);
    assert.equal(kg.code, 0, kg.stderr);
    const key = JSON.parse(kg.stdout) as { keyId: string; publicKeyPem: string };
    assert.match(key.keyId, /^[0-9a-f]{64}$/);
    assert.match(key.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    assert.equal((await stat(join(dir, "site.key"))).mode & 0o777, 0o600);
    const again = sealbox(["authority", "keygen", "--out", "site.key"], dir);
    assert.equal(again.code, ERRORS.KEY_EXISTS.exitCode);
    assert.match(again.stderr, /never overwritten/);

    const demo = sealbox(["model", "make-demo", "demo.gguf", "--seed", "7", "--json"], dir);
    assert.equal(demo.code, 0, demo.stderr);
    const info = JSON.parse(demo.stdout) as { sha256: string; sizeBytes: number };
    const demo2 = sealbox(["model", "make-demo", "demo2.gguf", "--seed", "7", "--json"], dir);
    assert.equal((JSON.parse(demo2.stdout) as { sha256: string }).sha256, info.sha256, "same seed, same bytes");

    const sign = sealbox(["model", "sign", "demo.gguf", "--authority-key", "site.key", "--licence", "Apache-2.0", "--source", "make-demo seed 7", "--name", "demo-7", "--out", "demo.manifest.json"], dir);
    assert.equal(sign.code, 0, sign.stderr);
    const signed = parseSignedManifest(await readFile(join(dir, "demo.manifest.json")));
    assert.equal(signed.manifest.sha256, info.sha256);
    assert.equal(signed.manifest.sizeBytes, info.sizeBytes);
    assert.equal(signed.manifest.name, "demo-7");
    assert.equal(signed.manifest.fileName, "demo.gguf");
    await mkdir(join(dir, "state", "authorities"), { recursive: true });
    await writeFile(join(dir, "state", "authorities", "site.pub"), await readFile(join(dir, "site.key.pub")));
    assert.equal(verifySignedManifest(signed, await loadAuthorities(join(dir, "state"))).name, "site");

    const noReplace = sealbox(["model", "sign", "demo.gguf", "--authority-key", "site.key", "--licence", "x", "--source", "y", "--out", "demo.manifest.json"], dir);
    assert.equal(noReplace.code, ERRORS.BAD_ARGUMENT.exitCode);
    assert.match(noReplace.stderr, /exists \(use --force/);
    const missing = sealbox(["model", "sign", "demo.gguf", "--authority-key", "site.key", "--out", "m.json"], dir);
    assert.equal(missing.code, ERRORS.BAD_ARGUMENT.exitCode);
    assert.match(missing.stderr, /--licence is required/);
    await writeFile(join(dir, "notes.txt"), "not a model");
    const notGguf = sealbox(["model", "sign", "notes.txt", "--authority-key", "site.key", "--licence", "x", "--source", "y", "--out", "n.json"], dir);
    assert.equal(notGguf.code, ERRORS.MODEL_REJECTED.exitCode);

    const list = sealbox(["model", "list", "--state", join(dir, "state")], dir);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /no models imported/);
    const bad = sealbox(["model", "frobnicate"], dir);
    assert.equal(bad.code, ERRORS.BAD_ARGUMENT.exitCode);
    const badJson = sealbox(["model", "show", "nothing", "--state", join(dir, "state"), "--json"], dir);
    assert.equal(badJson.code, ERRORS.NOT_FOUND.exitCode);
    assert.equal((JSON.parse(badJson.stdout) as { error: { code: string } }).error.code, "NOT_FOUND");
  } finally {
    await cleanup();
  }
});

test("make-demo --weights q8_0 writes a smaller Q8_0 model; any other --weights value exits 64 and writes nothing", async () => {
  const { dir, cleanup } = await tempDir("sealbox-cli-");
  try {
    const f32 = sealbox(["model", "make-demo", "f32.gguf", "--seed", "7", "--json"], dir);
    assert.equal(f32.code, 0, f32.stderr);
    const q8 = sealbox(["model", "make-demo", "q8.gguf", "--seed", "7", "--weights", "q8_0", "--json"], dir);
    assert.equal(q8.code, 0, q8.stderr);
    const a = JSON.parse(f32.stdout) as { weights: string; sha256: string; sizeBytes: number };
    const b = JSON.parse(q8.stdout) as { path: string; seed: number; weights: string; sha256: string; sizeBytes: number };
    assert.equal(a.weights, "f32", "f32 is the default");
    assert.deepEqual({ path: b.path, seed: b.seed, weights: b.weights }, { path: "q8.gguf", seed: 7, weights: "q8_0" });
    const bytes = await readFile(join(dir, "q8.gguf"));
    assert.equal(bytes.length, b.sizeBytes);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), b.sha256);
    assert.ok(b.sizeBytes < a.sizeBytes / 3, `q8_0 ${b.sizeBytes} bytes vs f32 ${a.sizeBytes}`);
    // The file says what it holds: every weight matrix Q8_0 (ggml type 8), the norm vectors F32 (type 0).
    const gguf = parseGgufHeader(bytes, bytes.length);
    assert.equal(gguf.metadata.get("general.file_type"), 7);
    const matrices = gguf.tensors.filter((t) => t.dims.length === 2);
    assert.ok(matrices.length > 0 && matrices.every((t) => t.type === 8), JSON.stringify(gguf.tensors.map((t) => [t.name, t.type])));
    assert.ok(gguf.tensors.filter((t) => t.dims.length === 1).every((t) => t.type === 0));
    await checkGguf(join(dir, "q8.gguf"));
    const again = sealbox(["model", "make-demo", "q8-again.gguf", "--seed", "7", "--weights", "q8_0", "--json"], dir);
    assert.equal((JSON.parse(again.stdout) as { sha256: string }).sha256, b.sha256, "same seed and weights, same bytes");
    const human = sealbox(["model", "make-demo", "q8-human.gguf", "--weights", "q8_0"], dir);
    assert.match(human.stdout, /seed 1, q8_0 weights\n.*answers are noise/);

    for (const bad of [["--weights", "q4_0"], ["--weights", "Q8_0"], ["--weights", ""], ["--weights=f16"], ["--weights"]]) {
      const r = sealbox(["model", "make-demo", "bad.gguf", ...bad], dir);
      assert.equal(r.code, ERRORS.BAD_ARGUMENT.exitCode, `${bad.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /--weights/, bad.join(" "));
      assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith("bad")), [], `${bad.join(" ")} wrote nothing`);
    }
    const badJson = sealbox(["model", "make-demo", "bad.gguf", "--weights", "q4_0", "--json"], dir);
    assert.equal(badJson.code, ERRORS.BAD_ARGUMENT.exitCode);
    assert.deepEqual(JSON.parse(badJson.stdout), { error: { code: "BAD_ARGUMENT", message: "--weights: expected f32 or q8_0, got 'q4_0' (see: sealbox model --help)", retryable: false } });
    assert.deepEqual((await readdir(dir)).sort(), ["f32.gguf", "q8-again.gguf", "q8-human.gguf", "q8.gguf"]);

    const help = sealbox(["model", "--help"], dir);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /make-demo OUT\.gguf \[--seed N\] \[--weights f32\|q8_0\]/);
    assert.match(help.stdout, /q8_0\s+\(ggml's 8-bit blocks/);
  } finally {
    await cleanup();
  }
});

test("authority add, model import, list, show --verify, remove, authority remove: audited, through the command", async () => {
  const { dir, cleanup } = await tempDir("sealbox-cli-");
  try {
    const state = join(dir, "state");
    const audit = new MemoryAuditLog();
    assert.equal(sealbox(["authority", "keygen", "--out", "site-a.key"], dir).code, 0);
    assert.equal(sealbox(["model", "make-demo", "demo.gguf"], dir).code, 0);
    assert.equal(sealbox(["model", "sign", join(dir, "demo.gguf"), "--authority-key", join(dir, "site-a.key"), "--licence", "Apache-2.0", "--source", "demo", "--out", join(dir, "m.json")], dir).code, 0);

    let d = deps(audit);
    assert.equal(await runModel(["import", join(dir, "demo.gguf"), "--manifest", join(dir, "m.json"), "--state", state], d), ERRORS.MODEL_REJECTED.exitCode, "not trusted yet");
    assert.match(d.err.text, /does not trust.*none configured/);
    assert.equal(d.closes, 1, "the ledger is closed after a refusal too");

    d = deps(audit);
    assert.equal(await runAuthority(["add", join(dir, "site-a.key.pub"), "--state", state], d), 0, d.err.text);
    assert.match(d.out.text, /trusted authority site-a/);
    assert.equal((await stat(join(state, "authorities", "site-a.pub"))).mode & 0o777, 0o444);
    d = deps(audit);
    assert.equal(await runAuthority(["add", join(dir, "site-a.key.pub"), "--state", state, "--name", "again"], d), ERRORS.KEY_EXISTS.exitCode);
    d = deps(audit);
    assert.equal(await runAuthority(["list", "--state", state, "--json"], d), 0);
    assert.deepEqual((JSON.parse(d.out.text) as { authorities: { name: string }[] }).authorities.map((a) => a.name), ["site-a"]);

    d = deps(audit);
    assert.equal(await runModel(["import", join(dir, "demo.gguf"), "--manifest", join(dir, "m.json"), "--state", state, "--json"], d), 0, d.err.text);
    const imported = JSON.parse(d.out.text) as { sha256: string; name: string; seq: number };
    assert.equal(imported.name, "demo");
    assert.equal(d.err.text, "", "no progress bar when stderr is not a terminal");

    d = deps(audit);
    assert.equal(await runModel(["list", "--state", state], d), 0);
    assert.match(d.out.text, new RegExp(`${imported.sha256.slice(0, 12)}\\s+demo\\s+.*Apache-2.0\\s+site-a`));

    d = deps(audit);
    assert.equal(await runModel(["show", imported.sha256.slice(0, 10), "--verify", "--state", state], d), 0, d.err.text);
    assert.match(d.out.text, /status:\s+trusted; file hash verified/);

    d = deps(audit);
    assert.equal(await runAuthority(["remove", "site-a", "--state", state], d), 0, d.err.text);
    d = deps(audit);
    assert.equal(await runModel(["list", "--state", state], d), 0);
    assert.match(d.out.text, /REFUSED: .*does not trust/);

    d = deps(audit);
    assert.equal(await runModel(["remove", "demo", "--state", state, "--json"], d), 0, d.err.text);
    assert.deepEqual(await readdir(join(state, "models")), []);

    assert.deepEqual(
      audit.events.map((e) => `${e.category}/${e.action}/${e.outcome}`),
      [
        "model/model.import/refused",
        "site/authority.add/requested",
        "site/authority.add/success",
        "model/model.import/requested",
        "model/model.import/success",
        "site/authority.remove/requested",
        "site/authority.remove/success",
        "model/model.remove/requested",
        "model/model.remove/success",
      ],
    );
    assert.ok(audit.events.every((e) => e.actor.transport === "cli" && e.actor.role === "admin"));
  } finally {
    await cleanup();
  }
});

test("with a ledger that refuses, import and authority add change nothing", async () => {
  const { dir, cleanup } = await tempDir("sealbox-cli-");
  try {
    const state = join(dir, "state");
    assert.equal(sealbox(["authority", "keygen", "--out", "k"], dir).code, 0);
    const audit = new MemoryAuditLog();
    audit.refuse = "LEDGER_FULL";
    const d = deps(audit);
    assert.equal(await runAuthority(["add", join(dir, "k.pub"), "--state", state], d), ERRORS.LEDGER_FULL.exitCode);
    assert.deepEqual(await loadAuthorities(state), []);
  } finally {
    await cleanup();
  }
});
