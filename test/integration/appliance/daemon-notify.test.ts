// The real sealboxd under a real NOTIFY_SOCKET (what systemd gives a
// Type=notify service): STATUS while starting, READY once key and ledger are
// up, WATCHDOG pings, SIGHUP → RELOADING/READY with the new log level and
// [health] limits applied (the recorded nvidia-smi on PATH: a lowered GPU
// temperature limit turns the idle H200 critical, audited) and other changes
// named, SIGTERM → STOPPING and a clean exit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openNotifySocket } from "../../helpers/notify-socket.js";
import { fakeNvidiaSmiEnv, waitFor } from "../../helpers/fake-nvidia-smi.js";
import { allRecords } from "../../helpers/ledger-harness.js";

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
  // "cuda" with no model configured: no engine opens, and health polls the recorded nvidia-smi
  // (an idle H200 at 39 °C). Low host limits so this machine's own disk never decides the state.
  const host = "disk_free_degraded_mib = 1\ndisk_free_critical_mib = 1\nmemory_available_critical_mib = 1\n";
  write(`[keys]\norigin = "software"\n[log]\nlevel = "info"\n[inference]\nmode = "cuda"\nthreads = 1\n[health]\n${host}`);
  const sock = openNotifySocket(dir);
  t.after(() => sock.close());
  const env: NodeJS.ProcessEnv = { ...fakeNvidiaSmiEnv({ mode: "ok" }), NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: "2000000" };
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

  // SIGHUP: debug lines start to appear and the GPU temperature limits drop below the recorded 39 °C;
  // a changed thread count and health poll interval are named as needing a restart.
  write(`[keys]\norigin = "software"\n[log]\nlevel = "debug"\n[inference]\nmode = "cuda"\nthreads = 2\n[health]\n${host}gpu_temp_degraded_c = 30\ngpu_temp_critical_c = 35\ninterval_ms = 5000\n`);
  const mark = sock.messages.length;
  proc.kill("SIGHUP");
  await sock.waitFor((m) => sock.messages.indexOf(m) >= mark && m.fields.RELOADING === "1", 30_000);
  const again = await sock.waitFor((m) => sock.messages.indexOf(m) >= mark && m.fields.READY === "1", 30_000);
  assert.match(again.fields.STATUS ?? "", /^ready: /);
  await new Promise((r) => setTimeout(r, 200));
  assert.match(stderr, /configuration changed: takes effect at the next restart .*key=inference\.threads/, why());
  assert.match(stderr, /configuration reloaded .*applied="log\.level,health\.gpu_temp_degraded_c,health\.gpu_temp_critical_c"/, why());
  assert.match(stderr, /configuration changed: takes effect at the next restart .*key=health\.interval_ms/, why());
  assert.doesNotMatch(stderr, /takes effect at the next restart .*key=health\.gpu_temp/, why());
  assert.match(stderr, /health thresholds changed changed="gpuTempDegradedC:83→30,gpuTempCriticalC:90→35"/, why());
  // The daemon polls at once after new limits: the idle GPU is now critical.
  assert.ok(await waitFor(() => /health \S+ → critical reasons="?\S*gpu\.temperature/.test(stderr), 30_000), `no change to critical\n${why()}`);
  assert.equal(proc.exitCode, null, "SIGHUP does not kill the daemon");

  // An invalid file is refused; the daemon keeps running.
  writeFileSync(config, '[inference]\nthreads = "four"\n');
  const mark2 = sock.messages.length;
  proc.kill("SIGHUP");
  await sock.waitFor((m) => sock.messages.indexOf(m) >= mark2 && m.fields.READY === "1", 30_000);
  // The journal line may reach this pipe just after READY reaches the notify socket.
  assert.ok(await waitFor(() => /configuration reload refused.*inference\.threads: expected an integer ≥ 1/.test(stderr), 10_000), why());

  proc.kill("SIGTERM");
  const stopping = await sock.waitFor((m) => m.fields.STOPPING === "1", 30_000);
  assert.match(stopping.fields.STATUS ?? "", /stopping \(SIGTERM\)/);
  assert.equal(await exited, 0, why());

  // The ledger holds the change of limits (old and new values), then the change of state it caused.
  const records = await allRecords(state);
  const limits = records.filter((r) => r.action === "health.thresholds");
  assert.equal(limits.length, 1, JSON.stringify(limits));
  assert.equal(limits[0]!.category, "health");
  assert.deepEqual(limits[0]!.details?.changed, { gpuTempDegradedC: { from: 83, to: 30 }, gpuTempCriticalC: { from: 90, to: 35 } });
  assert.equal(limits[0]!.details?.reason, "configuration reloaded (SIGHUP)");
  const critical = records.find((r) => r.action === "health.state" && r.details?.to === "critical");
  assert.ok(critical, JSON.stringify(records.filter((r) => r.category === "health")));
  assert.ok(critical.seq > limits[0]!.seq, "the state changed after the limits were recorded");
  assert.ok((critical.details?.reasons as { code: string }[]).some((r) => r.code === "gpu.temperature"));
  assert.ok(!records.some((r) => r.action === "health.state" && r.details?.to === "critical" && r.seq < limits[0]!.seq), "not critical before the reload");
});
