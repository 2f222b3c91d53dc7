// The units as systemd itself reads them: `systemd-analyze verify` with empty
// stderr (it exits 0 on warnings, FACTS), `systemd-analyze security --offline`
// at most 2.0, and sysusers.d/tmpfiles.d applied by the real tools to a
// scratch root.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const UNITS = ["sealbox.service", "sealbox-diode-receiver.service"];
const MAX_EXPOSURE = 2.0;

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** The unit with its /usr/bin paths pointed at this checkout's bin/, so verify can check the commands exist. */
function stageUnit(dir: string, name: string): string {
  const text = readFileSync(join(repo, "systemd", name), "utf8").replace(/\/usr\/bin\/(sealboxd?)\b/g, `${repo}bin/$1`);
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const skipAnalyze = have("systemd-analyze") ? false : "systemd-analyze is not installed (apt-get install systemd)";

for (const name of UNITS) {
  test(`${name}: systemd-analyze verify says nothing`, { skip: skipAnalyze }, (t) => {
    const dir = mkdtempSync(join(tmpdir(), "sealbox-units-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = spawnSync("systemd-analyze", ["verify", stageUnit(dir, name)], { encoding: "utf8" });
    assert.equal(r.stderr, "", `systemd-analyze verify printed:\n${r.stderr}`);
    assert.equal(r.status, 0);
  });

  test(`${name}: systemd-analyze security exposure ≤ ${MAX_EXPOSURE}`, { skip: skipAnalyze }, (t) => {
    const dir = mkdtempSync(join(tmpdir(), "sealbox-units-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const unit = stageUnit(dir, name);
    const json = JSON.parse(execFileSync("systemd-analyze", ["security", "--offline=true", "--json=short", unit], { encoding: "utf8" })) as { name: string; set: boolean; exposure: string | null }[];
    assert.ok(json.length > 50, "systemd-analyze returned its list of checks");
    // Each item's exposure is rounded up to 0.1, so their sum bounds the overall score from above.
    const exposed = json.filter((x) => x.exposure !== null && Number(x.exposure) > 0);
    const sum = exposed.reduce((s, x) => s + Number(x.exposure), 0);
    assert.ok(sum <= MAX_EXPOSURE + 1e-9, `sum of exposures ${sum.toFixed(1)} > ${MAX_EXPOSURE}: ${exposed.map((x) => `${x.name} ${x.exposure}`).join(", ")}`);
    // And systemd's own overall figure (threshold is in tenths).
    const r = spawnSync("systemd-analyze", ["security", "--offline=true", `--threshold=${MAX_EXPOSURE * 10}`, unit], { encoding: "utf8" });
    const overall = /Overall exposure level for \S+: (\d+\.\d)/.exec(r.stdout);
    assert.ok(overall, r.stdout.slice(-400));
    assert.ok(Number(overall[1]) <= MAX_EXPOSURE, `overall exposure ${overall[1]}`);
    assert.equal(r.status, 0);
    // The properties the issue names are really set.
    const set = new Map(json.map((x) => [x.name, x]));
    const musts = ["NoNewPrivileges=", "ProtectSystem=", "IPAddressDeny=", "RestrictNamespaces=~user", "CapabilityBoundingSet=~CAP_SYS_ADMIN", "User=/DynamicUser="];
    musts.push(...["@module", "@reboot", "@raw-io", "@mount", "@clock", "@swap", "@debug", "@obsolete"].map((g) => `SystemCallFilter=~${g}`));
    // sealboxd chgrp's each role socket to its role's group, and chown is in @privileged.
    if (name !== "sealbox.service") musts.push("SystemCallFilter=~@privileged");
    for (const must of musts) assert.equal(set.get(must)?.set, true, `${must} is set`);
  });
}

test("sealbox.service keeps what the daemon needs and what the issue asks", () => {
  const u = readFileSync(join(repo, "systemd/sealbox.service"), "utf8");
  const lines = new Set(u.split("\n").map((l) => l.trim()));
  for (const l of [
    "Type=notify",
    "NotifyAccess=main",
    "ProtectSystem=strict",
    "NoNewPrivileges=yes",
    "SystemCallFilter=@system-service",
    "IPAddressDeny=any",
    "DeviceAllow=/dev/tpmrm0 rw",
    "DeviceAllow=char-nvidia* rw",
    "StateDirectory=sealbox",
    "RuntimeDirectory=sealbox",
    "User=sealbox",
    // Node's JIT: MemoryDenyWriteExecute=yes kills it with SIGTRAP (FACTS).
    "MemoryDenyWriteExecute=no",
  ]) assert.ok(lines.has(l), `missing: ${l}`);
  assert.match(u, /^WatchdogSec=\d+s$/m);
  assert.doesNotMatch(u, /DeviceAllow=\/dev\/nvidia\*/, "/dev/nvidia* is not a glob; char-nvidia* is");
  assert.doesNotMatch(u, /^PrivateDevices=yes/m, "PrivateDevices would hide the TPM and GPU");
  // getLlama spawns a child node: nothing may forbid fork/exec of the runtime.
  assert.doesNotMatch(u, /^(NoExecPaths|RestrictFileSystems)=/m);
});

const skipSysusers = have("systemd-sysusers") && have("systemd-tmpfiles") ? false : "systemd-sysusers/systemd-tmpfiles are not installed";

test("sysusers.d and tmpfiles.d apply cleanly to a scratch root", { skip: skipSysusers }, (t) => {
  const root = mkdtempSync(join(tmpdir(), "sealbox-root-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, "etc"));
  // A base-passwd-like start: dialout exists on every Debian system.
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\ndialout:x:20:\n");
  const su = spawnSync("systemd-sysusers", [`--root=${root}`, join(repo, "systemd/sysusers.d/sealbox.conf")], { encoding: "utf8" });
  assert.equal(su.status, 0, su.stderr);
  const passwd = readFileSync(join(root, "etc/passwd"), "utf8");
  const group = readFileSync(join(root, "etc/group"), "utf8");
  assert.match(passwd, /^sealbox:x:\d+:\d+:sealbox appliance daemon:\/var\/lib\/sealbox:\/usr\/sbin\/nologin$/m);
  for (const g of ["sealbox-operator", "sealbox-technician", "sealbox-integrator", "sealbox-admin", "tss"]) assert.match(group, new RegExp(`^${g}:x:\\d+:sealbox$`, "m"), g);
  assert.match(group, /^dialout:x:20:sealbox$/m);
  const tf = spawnSync("systemd-tmpfiles", ["--create", `--root=${root}`, join(repo, "systemd/tmpfiles.d/sealbox.conf")], { encoding: "utf8" });
  assert.equal(tf.status, 0, tf.stderr);
  const st = statSync(join(root, "var/lib/sealbox"));
  assert.equal(st.mode & 0o777, 0o700);
  const uid = Number(/^sealbox:x:(\d+):/m.exec(passwd)![1]);
  assert.equal(st.uid, uid, "the state directory belongs to the sealbox user");
  assert.equal(statSync(join(root, "etc/sealbox")).mode & 0o777, 0o750);
});
