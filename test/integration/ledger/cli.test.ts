// The ledger's commands end to end: bin/sealbox keys|audit|verify on real state.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openLedger } from "../../../daemon/ledger/ledger.js";
import { canonicalJson } from "../../../daemon/ledger/record.js";
import type { JsonValue } from "../../../daemon/ledger/types.js";
import { event, sealbox, tempDir } from "../../helpers/ledger-harness.js";
import { openSigner } from "../../../daemon/keys/key-store.js";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function box(records: number): Promise<{ state: string; root: string; vkey: string }> {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const state = join(dir, "state");
  const p = await sealbox(["keys", "provision", "--state", state, "--software", "--json"]);
  assert.equal(p.code, 0, p.stderr);
  const vkey = (JSON.parse(p.stdout) as { vkey: string }).vkey;
  const signer = await openSigner(state);
  const ledger = await openLedger({ stateDir: state, signer });
  await Promise.all(Array.from({ length: records - 1 }, (_, i) => ledger.append(event(i + 1))));
  await ledger.close();
  signer.close();
  return { state, root: dir, vkey };
}

test("keys provision writes a 0600 software key; show prints the vkey on a line of its own", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const state = join(dir, "s");
  const p = await sealbox(["keys", "provision", "--state", state, "--software"]);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /SOFTWARE/);
  const keyFile = join(state, "keys", "software-ed25519.key");
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  assert.equal((await stat(join(state, "keys"))).mode & 0o777, 0o700);
  assert.match(await readFile(keyFile, "utf8"), /BEGIN PRIVATE KEY/);
  const show = await sealbox(["keys", "show", "--state", state]);
  assert.equal(show.code, 0, show.stderr);
  const lines = show.stdout.split("\n");
  const json = JSON.parse((await sealbox(["keys", "show", "--state", state, "--json"])).stdout) as Record<string, string>;
  assert.ok(lines.includes(json.vkey!), "the vkey is a line by itself");
  assert.ok(lines.some((l) => l === `key id: ${json.key_id}`));
  assert.match(show.stdout, /origin: software/);
  assert.equal(json.origin, "software");
  assert.doesNotMatch(show.stdout + JSON.stringify(json), /PRIVATE/);
  // Provisioning again is refused without --force, allowed with it (a new key).
  const again = await sealbox(["keys", "provision", "--state", state, "--software"]);
  assert.equal(again.code, 73);
  assert.match(again.stderr, /KEY_EXISTS/);
  const forced = await sealbox(["keys", "provision", "--state", state, "--software", "--force", "--json"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.notEqual(JSON.parse(forced.stdout).vkey, json.vkey);
  assert.equal(JSON.parse(forced.stdout).replaced, json.key_id);
  // Misuse.
  assert.equal((await sealbox(["keys", "provision", "--state", state])).code, 64);
  assert.equal((await sealbox(["keys", "show"])).code, 64);
  assert.equal((await sealbox(["keys", "show", "--state", join(dir, "none")])).code, 69);
});

test("audit show --json prints exactly the leaf bytes; the human form names every field", async () => {
  const b = await box(5);
  const j = await sealbox(["audit", "show", "--state", b.state, "3", "--json"]);
  assert.equal(j.code, 0, j.stderr);
  const text = j.stdout.replace(/\n$/, "");
  assert.equal(canonicalJson(JSON.parse(text) as JsonValue), text, "the output is the canonical leaf");
  assert.equal((JSON.parse(text) as { seq: number }).seq, 3);
  const h = await sealbox(["audit", "show", "--state", b.state, "3"]);
  for (const f of ["seq:", "time:", "box:", "actor:", "category:", "action:", "target:", "outcome:", "details:"]) assert.match(h.stdout, new RegExp(`^${f}`, "m"));
  const missing = await sealbox(["audit", "show", "--state", b.state, "99"]);
  assert.equal(missing.code, 66);
  assert.match(missing.stderr, /no record 99/);
  assert.equal((await sealbox(["audit", "show", "--state", b.state, "x"])).code, 64);
});

test("audit proof prints a C2SP tlog-proof that sealbox verify accepts, and rejects when altered", async () => {
  const b = await box(13);
  const p = await sealbox(["audit", "proof", "--state", b.state, "6"]);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /^c2sp\.org\/tlog-proof@v1\nextra [A-Za-z0-9+/=]+\nindex 6\n/);
  const file = join(b.root, "r6.tlog-proof");
  await writeFile(file, p.stdout);
  const v = await sealbox(["verify", file, "--key", b.vkey]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /OK: record 6/);
  // Another record's bytes under this proof, or the proof for another index: refused.
  const q = await sealbox(["audit", "proof", "--state", b.state, "7"]);
  const swapped = p.stdout.replace(/^extra .*$/m, q.stdout.match(/^extra .*$/m)![0]);
  await writeFile(file, swapped);
  const bad = await sealbox(["verify", file, "--key", b.vkey]);
  assert.notEqual(bad.code, 0);
  await writeFile(file, p.stdout.replace("index 6", "index 5"));
  assert.notEqual((await sealbox(["verify", file, "--key", b.vkey])).code, 0);
  assert.equal((await sealbox(["verify", file])).code, 64, "a proof needs --key");
});

test("export with --from/--to verifies for every range, and --trusted carries a consistency proof", async () => {
  const b = await box(23);
  const cp10 = join(b.root, "cp-23");
  const c = await sealbox(["audit", "checkpoint", "--state", b.state]);
  assert.equal(c.code, 0);
  await writeFile(cp10, c.stdout);
  // Grow the log after the auditor kept that checkpoint.
  const signer = await openSigner(b.state);
  const ledger = await openLedger({ stateDir: b.state, signer });
  for (let i = 0; i < 14; i++) await ledger.append(event(100 + i));
  await ledger.close();
  signer.close();
  let k = 0;
  for (const [from, to] of [
    [0, 37],
    [0, 1],
    [36, 37],
    [5, 5],
    [7, 30],
    [16, 32],
    [23, 37],
    [1, 36],
  ] as const) {
    const out = join(b.root, `ex-${k++}`);
    const e = await sealbox(["audit", "export", "--state", b.state, "--out", out, "--from", String(from), "--to", String(to), "--trusted", cp10]);
    assert.equal(e.code, 0, e.stderr);
    const v = await sealbox(["verify", out, "--key", b.vkey, "--trusted", cp10, "--json"]);
    assert.equal(v.code, 0, `${from}..${to}: ${v.stderr}`);
    const r = JSON.parse(v.stdout) as { records: number; treeSize: number; trusted: { method: string } };
    assert.equal(r.records, to - from);
    assert.equal(r.treeSize, 37);
    assert.equal(r.trusted.method, "consistency-proof");
  }
  // Without --trusted at export, a partial bundle cannot prove it extends the old checkpoint…
  const partial = join(b.root, "partial");
  assert.equal((await sealbox(["audit", "export", "--state", b.state, "--out", partial, "--from", "30"])).code, 0);
  const nope = await sealbox(["verify", partial, "--key", b.vkey, "--trusted", cp10]);
  assert.notEqual(nope.code, 0);
  assert.match(nope.stderr, /export with --trusted/);
  // …but a full one recomputes it from the records.
  const full = join(b.root, "full");
  assert.equal((await sealbox(["audit", "export", "--state", b.state, "--out", full])).code, 0);
  const ok = await sealbox(["verify", full, "--key", b.vkey, "--trusted", cp10]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /recomputed-from-records/);
  // Bad ranges and a non-empty target are refused.
  assert.equal((await sealbox(["audit", "export", "--state", b.state, "--out", join(b.root, "x1"), "--from", "5", "--to", "4"])).code, 64);
  assert.equal((await sealbox(["audit", "export", "--state", b.state, "--out", join(b.root, "x2"), "--to", "99"])).code, 64);
  assert.equal((await sealbox(["audit", "export", "--state", b.state, "--out", full])).code, 64);
});

test("audit replay delegates to its own command (usage, argument errors and record checks are replay's)", async () => {
  // --help: replay's own usage on stdout, exit 0 (the audit group's help names no options of replay's).
  const h = await sealbox(["audit", "replay", "--help"]);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /^usage: sealbox audit replay SEQ \[--state DIR\] \[--prompt-file FILE\]/);
  assert.match(h.stdout, /--prompt-file FILE/);
  // A SEQ that is not a number: replay's BAD_ARGUMENT (64) with its own prefix and usage.
  const bad = await sealbox(["audit", "replay", "seven"]);
  assert.equal(bad.code, 64, bad.stderr);
  assert.match(bad.stderr, /^sealbox audit replay: expected one record sequence number/);
  assert.doesNotMatch(bad.stderr, /not available in this build/);
  // A real ledger: replay reads the record and refuses one that is not an inference record.
  const b = await box(3);
  const notInference = await sealbox(["audit", "replay", "--state", b.state, "1"]);
  assert.equal(notInference.code, 64, notInference.stderr);
  assert.match(notInference.stderr, /^sealbox audit replay: record 1 is not an inference record \(category /);
  const missing = await sealbox(["audit", "replay", "--state", b.state, "--json", "99"]);
  assert.equal(missing.code, 66);
  assert.equal((JSON.parse(missing.stdout) as { error: { code: string } }).error.code, "NOT_FOUND");
});

test("every audit command refuses a state directory without a ledger", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  for (const args of [["show", "0"], ["proof", "0"], ["checkpoint"], ["export", "--out", join(dir, "o")]]) {
    const r = await sealbox(["audit", ...args, "--state", join(dir, "empty")]);
    assert.notEqual(r.code, 0, args.join(" "));
    assert.equal(r.signal, null);
    assert.match(r.stderr, /sealbox: /);
  }
  assert.ok(!existsSync(join(dir, "empty")), "reading never creates a state directory");
});
