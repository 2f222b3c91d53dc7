// The whole thing as a person meets it: `sealboxd --state DIR --demo-model`
// with no configuration file (a software key provisioned first), then the
// console against it — status, ask, chat, audit annotate/tail — then a
// clean stop that removes the sockets.

import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { REPO, runSealbox } from "../../helpers/console.js";
import { request } from "../../helpers/http-box.js";

describe("sealboxd --state DIR --demo-model, and the console", () => {
  let dir: string;
  let daemon: ChildProcess;
  let daemonLog = "";

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sealbox-daemon-"));
    const prov = spawnSync(join(REPO, "bin", "sealbox"), ["keys", "provision", "--state", dir, "--software"], { encoding: "utf8" });
    assert.equal(prov.status, 0, prov.stderr);
    daemon = spawn(join(REPO, "bin", "sealboxd"), ["--state", dir, "--demo-model"], { stdio: ["ignore", "pipe", "pipe"] });
    daemon.stdout!.on("data", (c: Buffer) => (daemonLog += c.toString()));
    daemon.stderr!.on("data", (c: Buffer) => (daemonLog += c.toString()));
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await request(join(dir, "run", "operator.sock"), "GET", "/readyz").catch(() => undefined);
      if (r?.status === 200) break;
      if (daemon.exitCode !== null || Date.now() > until) assert.fail(`sealboxd did not become ready:\n${daemonLog}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  });

  after(async () => {
    if (daemon.exitCode === null) {
      daemon.kill("SIGKILL");
      await new Promise((r) => daemon.once("exit", r));
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("needs no configuration file: one socket per role in DIR/run, mode 0660", async () => {
    const names = (await readdir(join(dir, "run"))).filter((n) => n.endsWith(".sock")).sort();
    assert.deepEqual(names, ["admin.sock", "integrator.sock", "operator.sock", "technician.sock"]);
    for (const n of names) assert.equal((await stat(join(dir, "run", n))).mode & 0o777, 0o660);
  });

  it("says in its log and its status that the demo model's answers are noise", async () => {
    assert.match(daemonLog, /DEMO MODEL: .*answers are noise/);
    const r = await runSealbox(["status", "--state", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Model +demo \(sha256 [0-9a-f]{12}\) · ready · cpu/m);
    assert.match(r.stdout, /DEMO MODEL/);
    assert.match(r.stdout, /^Key +software key \(development only\)/m);
  });

  it("sealbox ask streams a (noise) answer with its audit record numbers", async () => {
    const r = await runSealbox(["ask", "--state", dir, "--max-tokens", "12", "--seed", "3", "Is pump 3 ok?"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.length > 1);
    const m = /\[audit #(\d+) #(\d+) · (\d+) tokens · model demo( · stopped at the token limit)?\]/.exec(r.stderr);
    assert.ok(m, r.stderr);
    // The records are in the real ledger, with the operator's role and the socket transport.
    const rec = await request(join(dir, "run", "technician.sock"), "GET", `/sealbox/v1/audit/records/${m[1]}`);
    assert.equal(rec.json().record.category, "inference");
    assert.equal(rec.json().record.actor.role, "operator");
    assert.equal(rec.json().record.actor.transport, "http-socket");
  });

  it("sealbox chat answers line by line without a terminal", async () => {
    const r = await runSealbox(["chat", "--state", dir, "--json", "--max-tokens", "8"], { input: "first question\nsecond question\n" });
    assert.equal(r.code, 0, r.stderr);
    const answers = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(answers.length, 2);
    for (const a of answers) assert.equal(a.auditSeq.length, 2);
  });

  it("a long conversation drops its oldest turns to fit the model's context, and goes on", async () => {
    // Long noise answers (no --max-tokens) fill the demo model's 1024-token context within two turns;
    // greedy sampling with a fixed seed makes the answers (and so the lengths) the same every run.
    const r = await runSealbox(["chat", "--state", dir, "--seed", "1", "--temperature", "0"], { input: "one\ntwo\nthree\nfour\n", timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /PROMPT_TOO_LONG/);
    assert.match(r.stdout, /\(older turns dropped to fit the model's context\)/);
  });

  it("sealbox audit annotate and tail work against the real ledger", async () => {
    const a = await runSealbox(["audit", "annotate", "--state", dir, "--json", "valve 3 closed for maintenance"]);
    assert.equal(a.code, 0, a.stderr);
    const seq = JSON.parse(a.stdout).seq;
    const t = await runSealbox(["audit", "tail", "--state", dir, "--json", "--from", String(seq), "-n", "1"]);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(JSON.parse(t.stdout.split("\n")[0]!).details.text, "valve 3 closed for maintenance");
  });

  it("a technician exports over the socket, audited; the bundle verifies offline", async () => {
    const out = join(dir, "export-1");
    const r = await request(join(dir, "run", "technician.sock"), "POST", "/sealbox/v1/audit/export", { outDir: out });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().auditSeq.length, 2);
    const requested = await request(join(dir, "run", "technician.sock"), "GET", `/sealbox/v1/audit/records/${r.json().auditSeq[0]}`);
    assert.equal(requested.json().record.outcome, "requested");
    assert.equal(requested.json().record.target, out);
    const v = spawnSync(join(REPO, "bin", "sealbox"), ["verify", out, "--key", r.json().vkey], { encoding: "utf8" });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const refused = await request(join(dir, "run", "operator.sock"), "POST", "/sealbox/v1/audit/export", { outDir: join(dir, "export-2") });
    assert.equal(refused.status, 403);
    const st = await runSealbox(["status", "--state", dir]);
    assert.match(st.stdout, new RegExp(`last export: \\S+ \\(record #\\d+, ${out.replace(/[/.]/g, "\\$&")}\\)`));
  });

  it("stops cleanly on SIGTERM and removes its sockets", async () => {
    const exited = new Promise<number | null>((r) => daemon.once("exit", (code) => r(code)));
    daemon.kill("SIGTERM");
    assert.equal(await exited, 0, daemonLog);
    const left = (await readdir(join(dir, "run"))).filter((n) => n.endsWith(".sock"));
    assert.deepEqual(left, []);
    const r = await runSealbox(["status", "--state", dir]);
    assert.equal(r.code, 69);
  });
});
