// The Notifier against a real AF_UNIX datagram socket (what systemd binds for
// NOTIFY_SOCKET), from a child process calling libsystemd's sd_notify via koffi.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openNotifySocket } from "../../helpers/notify-socket.js";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const child = join(repo, "test/fixtures/appliance/notify-child.mjs");
const notifyJs = join(repo, "dist/daemon/notify.js");

test("READY, STATUS, WATCHDOG from the event loop, silence while stalled, STOPPING", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sealbox-notify-"));
  const sock = openNotifySocket(dir);
  t.after(() => {
    sock.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const proc = spawn(process.execPath, [child, notifyJs], {
    env: { ...process.env, NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: "200000", STALL_MS: "1200" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  t.after(() => {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  });
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));

  await sock.waitFor((m) => m.fields.STATUS === "starting");
  const ready = await sock.waitFor((m) => m.fields.READY === "1");
  assert.equal(ready.fields.STATUS, "up");
  // Pings every 100 ms; wait for a few.
  await sock.waitFor(() => sock.messages.filter((m) => m.fields.WATCHDOG === "1").length >= 4);

  proc.kill("SIGUSR1");
  const stalled = await sock.waitFor((m) => m.fields.STATUS === "stalling");
  const recovered = await sock.waitFor((m) => m.fields.STATUS === "recovered");
  // Datagrams arrive in order: any ping between the two status lines was sent during the stall.
  const during = sock.messages.slice(sock.messages.indexOf(stalled), sock.messages.indexOf(recovered)).filter((m) => m.fields.WATCHDOG === "1");
  assert.equal(during.length, 0, "a stalled event loop sends no watchdog pings");
  assert.ok(recovered.atMs - stalled.atMs >= 1000, "the stall lasted past several watchdog intervals");
  const before = sock.messages.length;
  await sock.waitFor(() => sock.messages.slice(before).some((m) => m.fields.WATCHDOG === "1"));

  proc.kill("SIGTERM");
  const stopping = await sock.waitFor((m) => m.fields.STOPPING === "1");
  assert.equal(stopping.fields.STATUS, "bye");
  assert.equal(await exited, 0);
  const afterStop = sock.messages.slice(sock.messages.indexOf(stopping)).filter((m) => m.fields.WATCHDOG === "1");
  assert.equal(afterStop.length, 0);
});

test("no NOTIFY_SOCKET: the same program runs and sends nothing", { timeout: 30_000 }, async (t) => {
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  const proc = spawn(process.execPath, [child, notifyJs], { env, stdio: ["ignore", "inherit", "inherit"] });
  t.after(() => {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(proc.exitCode, null, "still running");
  proc.kill("SIGTERM");
  const code = await new Promise((r) => proc.on("exit", (c) => r(c)));
  assert.equal(code, 0);
});
