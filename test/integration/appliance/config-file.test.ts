// loadConfig and `--check-config` against real files: missing, unreadable,
// oversized, not UTF-8, truncated at every byte, hostile.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, parseConfigText, MAX_CONFIG_BYTES } from "../../../daemon/config.js";
import { checkConfigCommand, loadDaemonConfig, parseDaemonConfigArgs } from "../../../daemon/config/daemon-config.js";
import { isSealboxError } from "../../../daemon/errors.js";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "sealbox-config-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function capture(): { out: string[]; err: string[]; io: { out: (s: string) => void; err: (s: string) => void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s) => out.push(s), err: (s) => err.push(s) } };
}

const rejects = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (e: unknown) => isSealboxError(e, "BAD_CONFIG") && re.test(e.message));

test("the packaged /etc/sealbox/sealbox.toml is valid and all defaults", async () => {
  const c = await loadConfig(join(repo, "image/sealbox.toml"));
  assert.equal(c.paths.state, "/var/lib/sealbox");
  assert.equal(c.keys.origin, "tpm");
});

test("files that cannot be a config are BAD_CONFIG naming the file", async (t) => {
  const dir = tempDir(t);
  await rejects(loadConfig(join(dir, "absent.toml")), /absent\.toml: cannot read the configuration file \(ENOENT\)/);
  await rejects(loadConfig(dir), /cannot read the configuration file \(EISDIR\)/);
  writeFileSync(join(dir, "big.toml"), "# " + "x".repeat(MAX_CONFIG_BYTES));
  await rejects(loadConfig(join(dir, "big.toml")), /more than the 1048576-byte limit/);
  writeFileSync(join(dir, "latin1.toml"), Buffer.from([0x5b, 0x62, 0x6f, 0x78, 0x5d, 0x0a, 0x69, 0x64, 0x3d, 0x22, 0xe9, 0x22, 0x0a]));
  await rejects(loadConfig(join(dir, "latin1.toml")), /is not UTF-8/);
  writeFileSync(join(dir, "garbage.toml"), Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256)));
  await rejects(loadConfig(join(dir, "garbage.toml")), /garbage\.toml/);
  writeFileSync(join(dir, "bad.toml"), '[inference]\nthreads = "four"\n');
  await rejects(loadConfig(join(dir, "bad.toml")), /bad\.toml: inference\.threads: expected an integer ≥ 1, got "four"$/);
});

test("the documented example, cut at every byte offset, is either valid or a clean BAD_CONFIG", () => {
  const doc = readFileSync(join(repo, "docs/configuration.md"), "utf8");
  const example = /```toml\n([\s\S]*?)```/.exec(doc)![1]!;
  let valid = 0;
  for (let i = 0; i <= example.length; i++) {
    try {
      parseConfigText(example.slice(0, i));
      valid++;
    } catch (e) {
      assert.ok(isSealboxError(e, "BAD_CONFIG"), `offset ${i}: ${String(e)}`);
    }
  }
  assert.ok(valid > 0 && valid < example.length, `some prefixes validate, most do not (${valid})`);
});

test("relative paths resolve against the file's directory; --state moves run and sockets", async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, "etc"));
  writeFileSync(join(dir, "etc/sealbox.toml"), '[paths]\nstate = "../var"\n[[serial.ports]]\npath = "/dev/ttyS1"\npsk_file = "s1.psk"\n');
  const c = await loadConfig(join(dir, "etc/sealbox.toml"));
  assert.equal(c.paths.state, join(dir, "var"));
  assert.equal(c.paths.config, join(dir, "etc"));
  assert.equal(c.serial.ports[0]!.pskFile, join(dir, "etc/s1.psk"));
  const d = await loadConfig(join(dir, "etc/sealbox.toml"), { stateDir: join(dir, "other") });
  assert.equal(d.paths.state, join(dir, "other"));
  assert.equal(d.socket.operator.path, join(dir, "other/run/operator.sock"));
});

test("sealboxd argument parsing: --config, --state, --check-config, = forms", () => {
  const a = parseDaemonConfigArgs(["--state", "/s", "--check-config", "--config=/c.toml", "--demo-model"]);
  assert.equal(a.configPath, "/c.toml");
  assert.equal(a.stateDir, "/s");
  assert.equal(a.checkConfig, true);
  assert.equal(parseDaemonConfigArgs([]).checkConfig, false);
  assert.throws(() => parseDaemonConfigArgs(["--config"]), (e: unknown) => isSealboxError(e, "BAD_ARGUMENT"));
});

test("--check-config: 0 with a summary, 78 with every problem", async (t) => {
  const dir = tempDir(t);
  const good = join(dir, "good.toml");
  writeFileSync(good, '[keys]\norigin = "software"\n[diode]\nenabled = true\n[diode.udp]\nhost = "192.0.2.10"\nport = 9740\n');
  const a = capture();
  assert.equal(await checkConfigCommand(["--check-config", "--config", good], a.io), 0);
  assert.match(a.out.join(""), /^configuration OK \(.*good\.toml\)\n/);
  assert.match(a.out.join(""), /diode: +udp 192\.0\.2\.10:9740/);
  assert.match(a.out.join(""), /key: +software \(development only\)/);

  const bad = join(dir, "bad.toml");
  writeFileSync(bad, '[inference]\nthreads = "four"\nmodee = 1\n');
  const b = capture();
  assert.equal(await checkConfigCommand(["--check-config", "--config", bad], b.io), 78);
  assert.match(b.err.join(""), /inference\.threads: expected an integer ≥ 1, got "four"/);
  assert.match(b.err.join(""), /inference\.modee: unknown key/);

  const c = capture();
  assert.equal(await checkConfigCommand(["--check-config", "--config", join(dir, "nope.toml")], c.io), 78);
  assert.equal(await checkConfigCommand(["--state", dir], c.io), undefined, "not asked to check: main.ts carries on");

  // No --config and no FHS file: the embedded defaults are checked.
  const d = capture();
  assert.equal(await checkConfigCommand(["--check-config", "--state", dir], d.io, join(dir, "no-such-default.toml")), 0);
  assert.match(d.out.join(""), /embedded defaults/);
  const { config } = await loadDaemonConfig(["--state", dir], join(dir, "no-such-default.toml"));
  assert.equal(config.paths.run, join(dir, "run"));
});
