// `sealbox serial-client` as an integrator runs it: a child process on one
// end of a real pty pair, the box's SerialServer on the other.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TEST_PSK } from "../../helpers/serial-fakes.js";
import { ptyServer, type PtyHarness } from "../../helpers/serial-setup.js";

const CLI = fileURLToPath(new URL("../../../daemon/console/cli.js", import.meta.url));

let h: PtyHarness;
let dir: string;
let pskFile: string;
let wrongPskFile: string;

before(async () => {
  h = await ptyServer({ authInitialBackoffMs: 20, authMaxBackoffMs: 50 });
  await h.server.whenOpen();
  // The CLI opens the peer's end itself; the harness's own handle must let go of it.
  await h.peer.close();
  dir = await mkdtemp(join(tmpdir(), "sealbox-cli-"));
  pskFile = join(dir, "psk");
  wrongPskFile = join(dir, "wrong");
  await writeFile(pskFile, Buffer.from(TEST_PSK).toString("hex") + "\n", { mode: 0o600 });
  await writeFile(wrongPskFile, "ff".repeat(32), { mode: 0o600 });
});

after(async () => {
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "serial-client", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? "");
  });
}

test("call echo prints the result and exits 0", { timeout: 60_000 }, async () => {
  const r = await cli([h.paths.b, "--psk-file", pskFile, "call", "echo", '{"x":[1,2]}']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { x: [1, 2] });
});

test("a streamed call prints the text as it comes, then the result; --json gives one object per line", { timeout: 60_000 }, async () => {
  const r = await cli([h.paths.b, "--psk-file", pskFile, "call", "stream", '{"count":5}']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'tok0 tok1 tok2 tok3 tok4 \n{\n  "count": 5\n}\n');
  const j = await cli([h.paths.b, "--psk-file", pskFile, "--json", "call", "stream", '{"count":3}']);
  const lines = j.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.at(-1), { result: { count: 3 } });
  assert.equal(lines.slice(0, -1).map((l) => l.chunk).join(""), "tok0 tok1 tok2 ");
});

test("a method's error is reported with its code, and the registry's exit code", { timeout: 60_000 }, async () => {
  const r = await cli([h.paths.b, "--psk-file", pskFile, "call", "fail", '{"code":"BUSY","message":"queue is full"}']);
  assert.equal(r.code, 75);
  assert.match(r.stderr, /queue is full \(BUSY\)/);
  const j = await cli([h.paths.b, "--psk-file", pskFile, "--json", "call", "fail", '{"code":"NOT_FOUND"}']);
  assert.equal(j.code, 66);
  assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, "NOT_FOUND");
});

test("hello and ping", { timeout: 60_000 }, async () => {
  const hello = await cli([h.paths.b, "--psk-file", pskFile, "hello"]);
  assert.equal(hello.code, 0, hello.stderr);
  assert.match(hello.stdout, /authenticated: protocol 1, box takes 1024-byte payloads/);
  const ping = await cli([h.paths.b, "--psk-file", pskFile, "--json", "ping"]);
  assert.equal(ping.code, 0, ping.stderr);
  assert.equal(typeof (JSON.parse(ping.stdout) as { result: { rttMs: number } }).result.rttMs, "number");
});

test("shell runs one call per line and keeps going after an error", { timeout: 60_000 }, async () => {
  const r = await cli([h.paths.b, "--psk-file", pskFile, "--json", "shell"], 'echo {"a":1}\n# a comment\nnope\necho "b"\nquit\n');
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines[0], { result: { a: 1 } });
  assert.equal((lines[1]!.error as { code: string }).code, "NOT_FOUND");
  assert.deepEqual(lines[2], { result: "b" });
  assert.equal(r.code, 0);
});

test("a wrong key exits 77 (UNAUTHENTICATED) and is audited; after the backoff the right key works; bad usage exits 64, a missing port 74", { timeout: 60_000 }, async () => {
  const r = await cli([h.paths.b, "--psk-file", wrongPskFile, "call", "echo"]);
  assert.equal(r.code, 77, r.stderr);
  assert.match(r.stderr, /UNAUTHENTICATED/);
  assert.ok(h.audit.events.some((e) => e.action === "serial.auth" && e.outcome === "refused"));
  await new Promise((res) => setTimeout(res, 100));
  const ok = await cli([h.paths.b, "--psk-file", pskFile, "call", "echo", "1"]);
  assert.equal(ok.code, 0, ok.stderr);
  for (const args of [[h.paths.b, "call", "echo"], [h.paths.b, "--psk-file", pskFile], [h.paths.b, "--psk-file", pskFile, "call", "echo", "{bad"], [h.paths.b, "--psk-file", pskFile, "--baud", "fast", "ping"], ["--bogus"]]) {
    const u = await cli(args);
    assert.equal(u.code, 64, `${args.join(" ")}: ${u.stderr}`);
  }
  const missing = await cli([join(dir, "no-such-tty"), "--psk-file", pskFile, "ping"]);
  assert.equal(missing.code, 74, missing.stderr);
  assert.match(missing.stderr, /SERIAL_ERROR/);
});
