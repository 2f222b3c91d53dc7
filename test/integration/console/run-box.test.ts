// `./build.sh run` (node dist/daemon/console/run-box.js VAR): a development
// box on embedded defaults with the demo model, and `sealbox chat` on the
// terminal; the daemon stops cleanly when the chat ends.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { REPO } from "../../helpers/console.js";

describe("./build.sh run: daemon + chat", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sealbox-runbox-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates the box, starts the daemon with the demo model, chats, and stops it", async () => {
    const child = spawn(process.execPath, [join(REPO, "dist", "daemon", "console", "run-box.js"), join(dir, "var")], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.stdin.end("hello box\n");
    // "close", not "exit": the chat's answer may still be in the pipe when the process exits.
    const code = await new Promise<number | null>((r) => child.once("close", r));
    assert.equal(code, 0, stderr);
    // Issue 5: a TPM-sealed key in /dev/tpmrm0, else in our own swtpm, else a software key — each said plainly.
    assert.match(stderr, /hardware TPM at \/dev\/tpmrm0|SOFTWARE TPM \(swtpm\) .* not a hardware root of trust|SOFTWARE signing key/);
    assert.match(stderr, /starting sealboxd --state .*\/var --demo-model/);
    assert.match(stderr, /ready; opening sealbox chat/);
    assert.match(stderr, /sealboxd stopped \(exit 0\)/);
    assert.ok(stdout.trim().length > 0, `no answer; stderr:\n${stderr}`);
    const log = await readFile(join(dir, "var", "sealboxd.log"), "utf8");
    assert.match(log, /DEMO MODEL/);
    assert.match(log, /stopped errors=0/);
    assert.deepEqual((await readdir(join(dir, "var", "run"))).filter((n) => n.endsWith(".sock")), []);
  });
});
