// The errors a person can cause at the console, each a plain sentence, a
// code, and a documented exit status; with --json, one JSON object instead.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { ERRORS } from "../../../daemon/errors.js";
import { runSealbox, startBoxProcess, type BoxProcess } from "../../helpers/console.js";

describe("console errors", () => {
  let box: BoxProcess;
  let empty: string;
  before(async () => {
    box = await startBoxProcess();
    empty = await mkdtemp(join(tmpdir(), "sealbox-empty-"));
  });
  after(async () => {
    await box.stop();
    await rm(empty, { recursive: true, force: true });
  });

  it("daemon not running (no socket): NOT_RUNNING, exit 69, says how to start it", async () => {
    const r = await runSealbox(["status", "--state", empty]);
    assert.equal(r.code, ERRORS.NOT_RUNNING.exitCode);
    assert.equal(r.code, 69);
    assert.match(r.stderr, /^sealbox: the sealbox daemon is not running \(nothing answers on .*\/run\/operator\.sock\); start it with .* \(NOT_RUNNING\)$/m);
    assert.equal(r.stdout, "");
  });

  it("daemon gone, socket file left behind (ECONNREFUSED): NOT_RUNNING too", async () => {
    const dir = join(empty, "stale");
    const sock = join(dir, "run", "operator.sock");
    const child = spawn(process.execPath, ["-e", `require("fs").mkdirSync(${JSON.stringify(join(dir, "run"))},{recursive:true});require("net").createServer().listen(${JSON.stringify(sock)},()=>console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((r) => child.stdout.once("data", r));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    assert.ok((await stat(sock)).isSocket());
    const r = await runSealbox(["ask", "--state", dir, "hello"]);
    assert.equal(r.code, 69);
    assert.match(r.stderr, /\(NOT_RUNNING\)/);
  });

  it("no permission on the socket: PERMISSION_DENIED, exit 77, naming the group to join", { skip: process.getuid?.() !== 0 ? "needs root to run the client as another user (setpriv)" : false }, async () => {
    // The sockets are 0660 root:root; make the directories passable so only the socket's mode decides.
    await chmod(box.dir, 0o755);
    await chmod(join(box.dir, "run"), 0o755);
    const r = await runSealbox(["status", "--state", box.dir], { asUid: 65534, asGid: 65534 });
    assert.equal(r.code, 77, r.stderr);
    assert.match(r.stderr, /^sealbox: no permission to use .*\/run\/operator\.sock: join the group 'root' \(then log in again\), or use the socket of a role you have \(PERMISSION_DENIED\)$/m);
  });

  it("the wrong role: FORBIDDEN, exit 77, naming the roles needed", async () => {
    const r = await runSealbox(["ask", "--state", box.dir, "--role", "technician", "hello"]);
    assert.equal(r.code, 77);
    assert.match(r.stderr, /ask needs the operator, integrator or admin role; this connection has the technician role \(FORBIDDEN\)/);
  });

  it("busy: BUSY, exit 75, with the daemon's retry hint", async () => {
    const r = await runSealbox(["ask", "--state", box.dir, "__BUSY__"]);
    assert.equal(r.code, 75);
    assert.match(r.stderr, /— try again in 2 s \(BUSY\)/);
  });

  it("bad usage: exit 64 with the reason", async () => {
    const a = await runSealbox(["ask", "--state", box.dir, "--no-such-flag", "x"]);
    assert.equal(a.code, 64);
    assert.match(a.stderr, /Unknown option '--no-such-flag'.*\(BAD_ARGUMENT\)/);
    const b = await runSealbox(["ask", "--state", box.dir, "--max-tokens", "many", "x"]);
    assert.equal(b.code, 64);
    assert.match(b.stderr, /--max-tokens: expected a number, got 'many'/);
    const c = await runSealbox(["status", "--role", "wizard"]);
    assert.equal(c.code, 64);
    const d = await runSealbox(["ask", "--state", box.dir], { input: "" });
    assert.equal(d.code, 64);
    assert.match(d.stderr, /^usage: sealbox ask/);
  });

  it("--json: errors are one JSON object on stdout, with the same exit code", async () => {
    const r = await runSealbox(["ask", "--state", empty, "--json", "x"]);
    assert.equal(r.code, 69);
    const e = JSON.parse(r.stdout);
    assert.equal(e.error.code, "NOT_RUNNING");
    assert.equal(e.error.retryable, true);
    const f = await runSealbox(["status", "--state", box.dir, "--json", "--role", "nobody"]);
    assert.equal(JSON.parse(f.stdout).error.code, "BAD_ARGUMENT");
  });

  it("--socket picks the socket directly; --help prints usage and exits 0", async () => {
    const r = await runSealbox(["status", "--socket", join(box.dir, "run", "admin.sock"), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).box.id, "box-test");
    for (const cmd of ["ask", "chat", "status"]) {
      const h = await runSealbox([cmd, "--help"]);
      assert.equal(h.code, 0);
      assert.match(h.stdout, new RegExp(`^usage: sealbox ${cmd}`));
    }
  });

  it("SEALBOX_STATE in the environment stands for --state", async () => {
    const r = await runSealbox(["status", "--json"], { env: { SEALBOX_STATE: box.dir } });
    assert.equal(r.code, 0, r.stderr);
  });
});
