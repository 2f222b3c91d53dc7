// Real systemd: the packaged unit in a booted bookworm container
// (systemd-nspawn -b on an overlay of the cached debootstrap tree). Shows that
// the unit reaches READY (Type=notify), that a stalled daemon is killed by the
// watchdog and restarted, and that it cannot write outside its state and
// runtime directories. Part of the default run when ./build.sh test could prepare the cached tree.
//
// The daemon under test is the real sealboxd when the build has one that can
// start on a software key; otherwise probe-daemon.mjs (same notify code, same
// unit and sandbox) and the test says so in its name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBaseRootfs, nspawnSh, overlayRoot, repoRoot, applianceSkipReason } from "../../helpers/rootfs.js";

const skip = applianceSkipReason() ?? false;
const realDaemon = existsSync(join(repoRoot, "dist/daemon/main.js")) && existsSync(join(repoRoot, "dist/daemon/keys/key-store.js"));
const mode = process.env.SEALBOX_NSPAWN_MODE ?? (realDaemon ? "real" : "probe");

function parseResults(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

test(`sealbox.service under real systemd (${mode === "real" ? "sealboxd" : "probe daemon: sealboxd cannot start in this build"}): READY, sandbox, watchdog restart, clean stop`, { skip, timeout: 20 * 60_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), "sealbox-nspawn-"));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  execFileSync("bash", [join(repoRoot, "image/build-deb.sh"), "--out", work], { stdio: ["ignore", "ignore", "inherit"], timeout: 10 * 60_000 });
  const deb = join(work, `sealbox_${(JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version}_amd64.deb`);
  const root = overlayRoot(ensureBaseRootfs());
  t.after(() => root.close());
  mkdirSync(join(root.path, "root/pkg"), { recursive: true });
  copyFileSync(deb, join(root.path, "root/pkg/sealbox.deb"));
  const install = nspawnSh(root.path, "dpkg -i /root/pkg/sealbox.deb >/dev/null && rm /root/pkg/sealbox.deb");
  assert.equal(install.status, 0, install.stderr);

  // The driver runs once the container has booted, then powers it off.
  mkdirSync(join(root.path, "opt/sealbox-test"), { recursive: true });
  for (const f of ["nspawn-driver.sh", "probe-daemon.mjs"]) copyFileSync(join(repoRoot, "test/fixtures/appliance", f), join(root.path, "opt/sealbox-test", f));
  execFileSync("chmod", ["0755", join(root.path, "opt/sealbox-test/nspawn-driver.sh")]);
  writeFileSync(join(root.path, "etc/systemd/system/sealbox-test-driver.service"), "[Unit]\nDescription=sealbox nspawn test driver\nAfter=basic.target\n[Service]\nType=oneshot\nExecStart=/opt/sealbox-test/nspawn-driver.sh\n[Install]\nWantedBy=multi-user.target\n");
  mkdirSync(join(root.path, "etc/systemd/system/multi-user.target.wants"), { recursive: true });
  execFileSync("ln", ["-sf", "/etc/systemd/system/sealbox-test-driver.service", join(root.path, "etc/systemd/system/multi-user.target.wants/sealbox-test-driver.service")]);
  const results = join(work, "results");
  mkdirSync(results);
  writeFileSync(join(results, "mode"), mode);

  const boot = spawn("systemd-nspawn", ["--register=no", "--keep-unit", "-q", "--private-network", "-D", root.path, `--bind=${results}:/results`, "-b"], { stdio: ["ignore", "pipe", "pipe"] });
  let consoleText = "";
  boot.stdout.on("data", (d: Buffer) => (consoleText += d.toString()));
  boot.stderr.on("data", (d: Buffer) => (consoleText += d.toString()));
  const killer = setTimeout(() => boot.kill("SIGKILL"), 8 * 60_000);
  t.after(() => {
    clearTimeout(killer);
    if (boot.exitCode === null) boot.kill("SIGKILL");
  });
  await new Promise((r) => boot.on("exit", r));
  clearTimeout(killer);

  const out = existsSync(join(results, "out.txt")) ? readFileSync(join(results, "out.txt"), "utf8") : "";
  const journal = existsSync(join(results, "journal.txt")) ? readFileSync(join(results, "journal.txt"), "utf8") : "";
  const r = parseResults(out);
  const context = `driver output:\n${out}\njournal:\n${journal.slice(-3000)}\nconsole tail:\n${consoleText.slice(-2000)}`;
  assert.equal(r.get("done"), "1", `the driver finished; ${context}`);
  if (mode === "real") assert.equal(r.get("provision_rc"), "0", context);

  // READY: Type=notify start returned success only after READY=1.
  assert.equal(r.get("start_rc"), "0", context);
  assert.equal(r.get("active"), "active", context);
  assert.notEqual(r.get("status_text"), "", `STATUS= reached systemctl; ${context}`);

  // The sandbox: the state and runtime directories and a private /tmp, nothing else.
  for (const dir of ["/etc", "/usr", "/var", "/var/lib", "/opt", "/root"]) assert.equal(r.get(`write_as_service ${dir}`), "denied", `${dir}; ${context}`);
  for (const dir of ["/var/lib/sealbox", "/run/sealbox", "/tmp"]) assert.equal(r.get(`write_as_service ${dir}`), "ok", `${dir}; ${context}`);
  assert.equal(r.get("write_as_root /usr"), "denied", "ProtectSystem=strict: /usr is read-only even for root in the namespace");
  assert.equal(r.get("write_as_root /etc"), "denied");
  assert.equal(r.get("private_tmp"), "private");
  if (mode === "probe") {
    assert.match(journal, /probe write \/etc: EROFS/);
    assert.match(journal, /probe write \/var\/lib\/sealbox: ok/);
    assert.match(journal, /probe write \/root: (EACCES|EROFS|ENOENT)/);
  }

  // The watchdog: SIGSTOP → no pings → killed and restarted, READY again.
  assert.equal(r.get("restarted"), "yes", context);
  assert.ok(Number(r.get("nrestarts")) >= 1, context);
  assert.ok(Number(r.get("watchdog_timeouts")) >= 1, `systemd logged the watchdog timeout; ${context}`);
  assert.notEqual(r.get("pid2"), r.get("pid1"));

  // A clean stop.
  assert.equal(r.get("stop_result"), "success", context);
  assert.equal(r.get("active_after_stop"), "inactive", context);
});
