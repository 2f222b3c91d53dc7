// The Debian package, built by image/build-deb.sh and installed with dpkg into
// a fresh debootstrapped bookworm tree (an overlay on the cached one). Part of the
// default run when ./build.sh test could prepare the cached tree and the Node runtime.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, openSync, readSync, closeSync, statSync, copyFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ensureBaseRootfs, nspawnSh, overlayRoot, repoRoot, applianceSkipReason } from "../../helpers/rootfs.js";

const skip = applianceSkipReason() ?? false;
const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
const debName = `sealbox_${version}_amd64.deb`;

function buildDeb(out: string): string {
  execFileSync("bash", [join(repoRoot, "image/build-deb.sh"), "--out", out], { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, SOURCE_DATE_EPOCH: "1700000000" }, timeout: 10 * 60_000 });
  return join(out, debName);
}

function* walk(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/** ELF e_machine of a file, or undefined when it is not ELF. Mach-O and PE are reported by name. */
function binaryKind(path: string): string | undefined {
  const fd = openSync(path, "r");
  const head = Buffer.alloc(20);
  const n = readSync(fd, head, 0, 20, 0);
  closeSync(fd);
  if (n >= 20 && head.readUInt32BE(0) === 0x7f454c46) return `elf-${head.readUInt16LE(18).toString(16)}`; // 0x3e = x86-64
  if (n >= 4 && [0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe].includes(head.readUInt32BE(0))) return "mach-o";
  if (n >= 2 && head.readUInt16BE(0) === 0x4d5a && /\.(node|dll|exe)$/.test(path)) return "pe";
  return undefined;
}

test("the .deb: contents, binaries for x86-64 glibc only, reproducible", { skip, timeout: 20 * 60_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sealbox-deb-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const deb = buildDeb(join(dir, "a"));
  const info = execFileSync("dpkg-deb", ["-f", deb], { encoding: "utf8" });
  assert.match(info, new RegExp(`^Version: ${version.replace(/\./g, "\\.")}$`, "m"));
  assert.match(info, /^Architecture: amd64$/m);
  assert.match(info, /^Depends: .*libsystemd0/m);
  execFileSync("dpkg-deb", ["-x", deb, join(dir, "x")]);
  const root = join(dir, "x");
  for (const f of [
    "usr/bin/sealbox", "usr/bin/sealboxd", "usr/lib/sealbox/node/bin/node", "usr/lib/sealbox/dist/daemon/console/cli.js", "usr/lib/sealbox/package.json",
    "usr/lib/systemd/system/sealbox.service", "usr/lib/systemd/system/sealbox-diode-receiver.service", "usr/lib/sysusers.d/sealbox.conf",
    "usr/lib/tmpfiles.d/sealbox.conf", "etc/sealbox/sealbox.toml", "usr/share/doc/sealbox/configuration.md",
    "usr/lib/sealbox/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node",
    "usr/lib/sealbox/node_modules/@node-llama-cpp/linux-x64-cuda/bins/linux-x64-cuda/llama-addon.node",
    "usr/lib/sealbox/node_modules/@node-llama-cpp/linux-x64-cuda-ext/package.json",
  ]) assert.ok(statSync(join(root, f)).isFile(), f);
  assert.equal(execFileSync(join(root, "usr/lib/sealbox/node/bin/node"), ["--version"], { encoding: "utf8" }).trim(), "v20.20.2");
  const llamaPlatforms = readdirSync(join(root, "usr/lib/sealbox/node_modules/@node-llama-cpp")).sort();
  assert.deepEqual(llamaPlatforms, ["linux-x64", "linux-x64-cuda", "linux-x64-cuda-ext"]);
  const foreign: string[] = [];
  let natives = 0;
  for (const f of walk(join(root, "usr/lib/sealbox"))) {
    const kind = binaryKind(f);
    const rel = relative(root, f);
    if (kind === undefined) continue;
    if (kind !== "elf-3e" || /musl|arm|android|darwin|win32|vulkan/i.test(rel)) foreign.push(`${rel} (${kind})`);
    if (f.endsWith(".node")) natives++;
  }
  assert.deepEqual(foreign, [], "only x86-64 glibc binaries");
  assert.ok(natives >= 5, `native addons present (${natives})`);
  for (const dev of ["typescript", "@types/node"]) assert.throws(() => statSync(join(root, "usr/lib/sealbox/node_modules", dev)), dev);
  // Nothing of the tests, benchmarks or sources.
  assert.throws(() => statSync(join(root, "usr/lib/sealbox/dist/test")));
  assert.equal([...walk(join(root, "usr/lib/sealbox/dist"))].filter((f) => !f.endsWith(".js")).length, 0);

  const again = buildDeb(join(dir, "b"));
  const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
  assert.equal(sha(again), sha(deb), "two builds with the same SOURCE_DATE_EPOCH are byte-identical");
});

test("the .deb installs into a fresh bookworm tree: sealbox --version, sealboxd --check-config, enabled not provisioned", { skip, timeout: 20 * 60_000 }, (t) => {
  const work = mkdtempSync(join(tmpdir(), "sealbox-deb-"));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const deb = buildDeb(work);
  const root = overlayRoot(ensureBaseRootfs());
  t.after(() => root.close());
  mkdirSync(join(root.path, "root/pkg"), { recursive: true });
  copyFileSync(deb, join(root.path, "root/pkg", debName));
  writeFileSync(join(root.path, "root/llama-smoke.mjs"), [
    'const { getLlama } = await import("/usr/lib/sealbox/node_modules/node-llama-cpp/dist/index.js");',
    'const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, maxThreads: 1 });',
    'console.log("llama " + llama.buildType + " gpu=" + llama.gpu);',
    "await llama.dispose();",
  ].join("\n"));
  // Every native module the daemon uses loads from the pruned tree.
  writeFileSync(join(root.path, "root/native-smoke.mjs"), [
    'import { createRequire } from "node:module";',
    'const require = createRequire("/usr/lib/sealbox/package.json");',
    'for (const m of ["lmdb", "serialport", "koffi", "raptorq/raptorq.js", "smol-toml", "systeminformation"]) await import(require.resolve(m));',
    'const { openSdNotify } = await import("/usr/lib/sealbox/dist/daemon/notify.js");',
    'console.log("natives ok, sd_notify without a socket: " + (await openSdNotify()).send("READY=1"));',
  ].join("\n"));

  const install = nspawnSh(root.path, `dpkg -i /root/pkg/${debName}`);
  assert.equal(install.status, 0, install.stdout + install.stderr);

  const v = nspawnSh(root.path, "sealbox --version");
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), `sealbox ${version}`);

  const check = nspawnSh(root.path, "sealboxd --check-config");
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /configuration OK \(\/etc\/sealbox\/sealbox\.toml\)/);
  assert.match(check.stdout, /state: +\/var\/lib\/sealbox/);

  const bad = nspawnSh(root.path, "printf '[inference]\\nthreads = \"four\"\\n' > /root/bad.toml; sealboxd --check-config --config /root/bad.toml || echo exit=$?");
  assert.match(bad.stdout, /exit=78/);
  // nspawn may hand the container's stderr over on its stdout (a pty), so look at both.
  assert.match(bad.stdout + bad.stderr, /inference\.threads: expected an integer ≥ 1, got "four"/);

  const state = nspawnSh(root.path, [
    "id -nG sealbox",
    "systemctl is-enabled sealbox.service",
    "stat -c '%U %a' /var/lib/sealbox /etc/sealbox /etc/sealbox/sealbox.toml",
    "test ! -e /var/lib/sealbox/keys && echo not-provisioned",
    "cd /root && /usr/lib/sealbox/node/bin/node llama-smoke.mjs 2>/dev/null",
    "env -u NOTIFY_SOCKET /usr/lib/sealbox/node/bin/node /root/native-smoke.mjs",
  ].join("\n"));
  assert.equal(state.status, 0, state.stderr);
  const lines = state.stdout.trim().split("\n");
  assert.deepEqual(lines[0]!.split(" ").sort(), ["dialout", "sealbox", "sealbox-admin", "sealbox-integrator", "sealbox-operator", "sealbox-technician", "tss"]);
  assert.equal(lines[1], "enabled");
  assert.deepEqual(lines.slice(2, 5), ["sealbox 700", "root 750", "root 640"]);
  assert.equal(lines[5], "not-provisioned");
  assert.equal(lines[6], "llama prebuilt gpu=false", "the pruned node_modules still loads llama.cpp's CPU build");
  assert.equal(lines[7], "natives ok, sd_notify without a socket: 0");

  const purge = nspawnSh(root.path, "dpkg --purge sealbox >/dev/null; test -d /var/lib/sealbox && echo state-kept; test ! -e /usr/bin/sealboxd && echo removed");
  assert.equal(purge.stdout.trim(), "state-kept\nremoved", purge.stderr);
});
