// The appliance image (image/build-image.sh): built twice → byte-identical;
// holds what it should (the package, enabled units, firewall, tty1 console,
// read-only-root fstab) and nothing it should not (remote-login servers,
// unlocked accounts). Slow (two debootstraps): runs with SEALBOX_SLOW_TESTS=1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../../daemon/config.js";
import { repoRoot, slowApplianceSkipReason } from "../../helpers/rootfs.js";

const skip = slowApplianceSkipReason() ?? (spawnSync("sh", ["-c", "command -v mksquashfs"]).status === 0 ? false : "mksquashfs is not installed");
const EPOCH = "1700000000";

function build(out: string, deb?: string): string {
  const args = [join(repoRoot, "image/build-image.sh"), "--out", out, "--diode", "192.0.2.10:9740", "--address", "192.0.2.20/24", ...(deb ? ["--deb", deb] : [])];
  execFileSync("bash", args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH }, timeout: 30 * 60_000 });
  return join(out, "sealbox-rootfs.squashfs");
}

test("the image: reproducible, and holds exactly what a sealed box needs", { skip, timeout: 60 * 60_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), "sealbox-image-"));
  const mnt = join(work, "mnt");
  // One hook, in order: node:test runs after-hooks first-registered first, and the image must be unmounted before rm.
  t.after(() => {
    spawnSync("umount", [mnt]);
    rmSync(work, { recursive: true, force: true });
  });
  const deb = execFileSync("bash", [join(repoRoot, "image/build-deb.sh"), "--out", join(work, "deb")], { encoding: "utf8", env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH }, stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").pop()!;
  const a = build(join(work, "a"), deb);
  const b = build(join(work, "b"), deb);
  const sha = (p: string) => readFileSync(p + ".sha256", "utf8").trim();
  assert.match(sha(a), /^[0-9a-f]{64}$/);
  assert.equal(sha(b), sha(a), "two builds with the same SOURCE_DATE_EPOCH are byte-identical");
  assert.equal(execFileSync("cmp", [a, b]).length, 0);

  mkdirSync(mnt);
  execFileSync("mount", ["-t", "squashfs", "-o", "loop,ro", a, mnt]);
  const at = (p: string) => join(mnt, p);
  const text = (p: string) => readFileSync(at(p), "utf8");

  // The package and its units.
  for (const f of ["usr/bin/sealbox", "usr/bin/sealboxd", "usr/lib/sealbox/node/bin/node", "usr/lib/systemd/system/sealbox.service", "usr/libexec/sealbox-console"]) assert.ok(existsSync(at(f)), f);
  assert.match(readlinkSync(at("etc/systemd/system/multi-user.target.wants/sealbox.service")), /sealbox\.service$/);
  // Enablement links point at /lib/systemd/system inside the image: read them, do not follow them.
  assert.match(readlinkSync(at("etc/systemd/system/sysinit.target.wants/nftables.service")), /nftables\.service$/, "nftables enabled");
  assert.match(text("etc/systemd/system/sealbox.service.d/diode.conf"), /^IPAddressAllow=192\.0\.2\.10$/m);
  const cfg = await loadConfig(at("etc/sealbox/sealbox.toml"));
  assert.equal(cfg.diode.enabled, true);
  assert.deepEqual(cfg.diode.udp, { host: "192.0.2.10", port: 9740, mtuBytes: 1400 });

  // Firewall: drop in, drop out except the diode; nft itself accepts the file.
  const nft = text("etc/nftables.conf");
  assert.match(nft, /chain input \{\s*type filter hook input priority filter; policy drop;/);
  assert.match(nft, /chain output \{\s*type filter hook output priority filter; policy drop;/);
  assert.match(nft, /ip daddr 192\.0\.2\.10 udp dport 9740 accept/);
  assert.equal((nft.match(/ accept/g) ?? []).length, 5, "lo in/out, ND in/out, the diode: nothing else");
  const check = spawnSync("unshare", ["-n", "chroot", mnt, "/usr/sbin/nft", "-c", "-f", "/etc/nftables.conf"], { encoding: "utf8" });
  assert.equal(check.status, 0, `nft -c: ${check.stderr}`);

  // No remote login, every account locked, one console on tty1 running sealbox chat.
  const servers = spawnSync("find", [at("usr"), at("etc/systemd"), "-name", "sshd*", "-o", "-name", "dropbear*", "-o", "-name", "*telnetd*", "-o", "-name", "*rlogind*", "-o", "-name", "xrdp*", "-o", "-name", "*vncserver*"], { encoding: "utf8" });
  assert.equal(servers.stdout.trim(), "", "no remote-login server");
  const shadow = text("etc/shadow").trim().split("\n").map((l) => l.split(":"));
  for (const [user, pw] of shadow) assert.ok(pw!.startsWith("!") || pw === "*" || pw === "!*", `${user} is locked (${pw})`);
  for (const masked of ["serial-getty@.service", "autovt@.service", "console-getty.service", "apt-daily.timer", "apt-daily-upgrade.timer"]) assert.equal(readlinkSync(at(`etc/systemd/system/${masked}`)), "/dev/null", masked);
  assert.match(text("etc/systemd/system/getty@tty1.service.d/sealbox-console.conf"), /--autologin sealbox-console/);
  assert.match(text("etc/passwd"), /^sealbox-console:x:\d+:\d+:[^:]*:\/:\/usr\/libexec\/sealbox-console$/m);
  const consoleGroups = text("etc/group").split("\n").filter((l) => l.split(":")[3]?.split(",").includes("sealbox-console")).map((l) => l.split(":")[0]);
  assert.deepEqual(consoleGroups, ["sealbox-operator"]);
  assert.match(text("usr/libexec/sealbox-console"), /sealbox chat --socket \/run\/sealbox\/operator\.sock/);

  // Read-only root: the state partition and tmpfs /var; nothing per-build left.
  assert.match(text("etc/fstab"), /^PARTLABEL=sealbox-state\s+\/var\/lib\/sealbox\s+ext4\s+\S*x-systemd\.makefs/m);
  assert.equal(statSync(at("etc/machine-id")).size, 0);
  for (const gone of ["var/lib/apt/lists/lock", "var/log/dpkg.log", "var/lib/systemd/random-seed", "etc/passwd-"]) assert.ok(!existsSync(at(gone)), gone);
});
