// The real sealboxd under a real NOTIFY_SOCKET (what systemd gives a
// Type=notify service): STATUS while starting, READY once key and ledger are
// up, WATCHDOG pings, SIGHUP → RELOADING/READY with the new log level applied
// and other changes named, SIGTERM → STOPPING and a clean exit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openNotifySocket } from "../../helpers/notify-socket.js";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));

test("sealboxd speaks sd_notify: STATUS, READY, WATCHDOG, RELOADING on SIGHUP, STOPPING", { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sealbox-dn-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, "state");
  execFileSync(process.execPath, [join(repo, "dist/daemon/console/cli.js"), "keys", "provision", "--state", state, "--software"], { stdio: "ignore" });
  const config = join(dir, "sealbox.toml");
  // Socket groups must exist when a config file is used: this process's own group does.
  const group = execFileSync("id", ["-gn"], { encoding: "utf8" }).trim();
  const sockets = ["operator", "technician", "integrator", "admin"].map((r) => `[socket.${r}]\ngroup = "${group}"\n`).join("");
  const write = (body: string) => writeFileSync(config, body + sockets);
  write('[keys]\norigin = "software"\n[log]\nlevel = "info"\n[inference]\nmode = "cpu"\nthreads = 1\n');
  const sock = openNotifySocket(dir);
  t.after(() => sock.close());
  const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: "2000000" };
  delete env.SEALBOX_LOG_LEVEL;
  delete env.JOURNAL_STREAM;
  const proc = spawn(process.execPath, [join(repo, "dist/daemon/main.js"), "--config", config, "--state", state], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  t.after(() => {
    if (proc.exitCode === null) proc.kill("SIGKILL");
  });
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));
  const why = () => `stderr:\n${stderr}\nnotify: ${JSON.stringify(sock.messages.map((m) => m.text))}`;

  const early = exited.then((code) => assert.fail(`sealboxd exited (${code}) before READY\n${why()}`));
  early.catch(() => undefined); // only the race below cares

  const ready = await Promise.race([sock.waitFor((m) => m.fields.READY === "1", 60_000), early]).catch((e: Error) => assert.fail(`${e.message}\n${why()}`));
  assert.match(ready.fields.STATUS ?? "", /^ready: \d+ records — SOFTWARE key/, why());
  const before = sock.messages.slice(0, sock.messages.indexOf(ready));
  assert.ok(before.some((m) => m.fields.STATUS === "starting: opening the signing key"), why());
  assert.ok(before.some((m) => m.fields.STATUS === "starting: opening the ledger"), why());
  await sock.waitFor(() => sock.messages.filter((m) => m.fields.WATCHDOG === "1").length >= 3, 30_000);

  // SIGHUP: debug lines start to appear; a changed thread count is named as needing a restart.
  write('[keys]\norigin = "software"\n[log]\nlevel = "debug"\n[inference]\nmode = "cpu"\nthreads = 2\n');
  const mark = sock.messages.length;
  proc.kill("SIGHUP");
  await sock.waitFor((m) => sock.messages.indexOf(m) >= mark && m.fields.RELOADING === "1", 30_000);
  const again = await sock.waitFor((m) => sock.messages.indexOf(m) >= mark && m.fields.READY === "1", 30_000);
  assert.match(again.fields.STATUS ?? "", /^ready: /);
  await new Promise((r) => setTimeout(r, 200));
  assert.match(stderr, /configuration changed: takes effect at the next restart .*key=inference\.threads/, why());
  assert.match(stderr, /configuration reloaded .*applied=log\.level/, why());
  assert.equal(proc.exitCode, null, "SIGHUP does not kill the daemon");

  // An invalid file is refused; the daemon keeps running.
  writeFileSync(config, '[inference]\nthreads = "four"\n');
  const mark2 = sock.messages.length;
  proc.kill("SIGHUP");
  await sock.waitFor((m) => sock.messages.indexOf(m) >= mark2 && m.fields.READY === "1", 30_000);
  assert.match(stderr, /configuration reload refused.*inference\.threads: expected an integer ≥ 1/, why());

  proc.kill("SIGTERM");
  const stopping = await sock.waitFor((m) => m.fields.STOPPING === "1", 30_000);
  assert.match(stopping.fields.STATUS ?? "", /stopping \(SIGTERM\)/);
  assert.equal(await exited, 0, why());
});
