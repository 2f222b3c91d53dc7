import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parse } from "smol-toml";
import { defaultConfig, parseConfigText, validateConfig, type Config } from "../../../daemon/config.js";
import { isSealboxError, SealboxError, ERRORS } from "../../../daemon/errors.js";

const repo = new URL("../../../../", import.meta.url);
const docText = readFileSync(new URL("docs/configuration.md", repo), "utf8");

/** The problems BAD_CONFIG reported for a TOML text (fails the test if it validated). */
function problemsOf(text: string, baseDir?: string): string[] {
  try {
    parseConfigText(text, baseDir === undefined ? {} : { baseDir });
  } catch (e) {
    assert.ok(isSealboxError(e, "BAD_CONFIG"), `expected BAD_CONFIG, got ${String(e)}`);
    return ((e as SealboxError).details?.problems as string[] | undefined) ?? [(e as Error).message];
  }
  assert.fail(`expected the config to be rejected:\n${text}`);
}

test("an empty file gives the FHS defaults", () => {
  const c = validateConfig({});
  assert.equal(c.paths.config, "/etc/sealbox");
  assert.equal(c.paths.state, "/var/lib/sealbox");
  assert.equal(c.paths.run, "/run/sealbox");
  assert.equal(c.socket.operator.path, "/run/sealbox/operator.sock");
  assert.equal(c.socket.admin.group, "sealbox-admin");
  assert.equal(c.keys.origin, "tpm");
  assert.equal(c.keys.tpm, "device:/dev/tpmrm0");
  assert.deepEqual(c.keys.pcrs, [7]);
  assert.equal(c.inference.mode, "cuda");
  assert.equal(c.inference.model, undefined);
  assert.equal(c.inference.sequences, 4);
  assert.equal(c.inference.contexts, 4, "one context per sequence unless configured");
  assert.equal(c.inference.threads, Math.max(1, Math.floor(availableParallelism() / 4)), "the cores shared between the contexts");
  assert.equal(c.ledger.mapSizeBytes, 4096 * 1024 * 1024);
  assert.equal(c.diode.enabled, false);
  assert.deepEqual(c.serial.ports, []);
  assert.equal(c.box.id, undefined);
});

test("inference.contexts follows inference.sequences by default, up to 64, and can be set lower", () => {
  assert.equal(validateConfig({ inference: { sequences: 2 } }).inference.contexts, 2);
  assert.equal(validateConfig({ inference: { sequences: 200 } }).inference.contexts, 64);
  assert.equal(validateConfig({ inference: { sequences: 8, contexts: 1 } }).inference.contexts, 1);
  assert.equal(validateConfig({ inference: { sequences: 8, contexts: 1 } }).inference.threads, availableParallelism());
  assert.equal(validateConfig({ inference: { contexts: 2, threads: 3 } }).inference.threads, 3);
  assert.ok(problemsOf("[inference]\ncontexts = 65\n").some((p) => p.includes("inference.contexts")));
});

test("inference.kernel_self_test_timeout_ms: 3 minutes unless set, within 1 s to 1 h", () => {
  assert.equal(validateConfig({}).inference.kernelSelfTestTimeoutMs, 180_000);
  assert.equal(validateConfig({ inference: { kernel_self_test_timeout_ms: 600_000 } }).inference.kernelSelfTestTimeoutMs, 600_000);
  for (const bad of ["999", "3600001", '"3m"']) {
    assert.ok(problemsOf(`[inference]\nkernel_self_test_timeout_ms = ${bad}\n`).some((p) => p.includes("inference.kernel_self_test_timeout_ms")), bad);
  }
});

test("the message names the key and the problem, as the issue asks", () => {
  assert.deepEqual(problemsOf('[inference]\nthreads = "four"\n'), ['inference.threads: expected an integer ≥ 1, got "four"']);
  assert.deepEqual(problemsOf("[inference]\nthreads = 0\n"), ["inference.threads: expected an integer ≥ 1, got 0"]);
});

test("every problem is reported at once, unknown keys included", () => {
  const problems = problemsOf(`
    bogus = 1
    [inference]
    mode = "vulkan"
    treads = 4
    store_text = "yes"
    [keys]
    pcrs = [7, 7]
    [nonsense]
    x = 1
  `);
  assert.deepEqual(problems.sort(), [
    "bogus: unknown key",
    'inference.mode: expected one of "cuda", "cpu", got "vulkan"',
    'inference.store_text: expected true or false, got "yes"',
    "inference.treads: unknown key",
    "keys.pcrs: expected distinct integers, got [7, 7]",
    "nonsense: unknown key",
  ]);
});

test("a single problem is the whole message; several are listed under a count", () => {
  assert.throws(() => parseConfigText("[log]\nlevel = 3\n"), (e: unknown) => isSealboxError(e, "BAD_CONFIG") && e.message === 'log.level: expected one of "debug", "info", "notice", "warn", "error", got 3');
  assert.throws(() => parseConfigText("a = 1\nb = 2\n"), (e: unknown) => isSealboxError(e, "BAD_CONFIG") && e.message.startsWith("2 problems:\n  a: unknown key\n  b: unknown key"));
  assert.equal(ERRORS.BAD_CONFIG.exitCode, 78);
});

test("paths: relative ones resolve against the config directory, or are refused without one", () => {
  const c = parseConfigText('[paths]\nstate = "var"\n', { baseDir: "/etc/sb" });
  assert.equal(c.paths.state, "/etc/sb/var");
  assert.equal(c.paths.run, "/etc/sb/var/run", "run follows a non-default state");
  assert.equal(c.paths.config, "/etc/sb");
  assert.equal(c.socket.integrator.path, "/etc/sb/var/run/integrator.sock");
  assert.deepEqual(problemsOf('[paths]\nstate = "var"\n'), ['paths.state: expected an absolute path, got "var"']);
  assert.deepEqual(problemsOf('[paths]\nrun = ""\n'), ['paths.run: expected a path, got ""']);
  const d = validateConfig({ paths: { state: "/srv/sb", run: "/run/x" } });
  assert.equal(d.socket.operator.path, "/run/x/operator.sock");
});

test("types: tables where values belong and values where tables belong are refused", () => {
  assert.deepEqual(problemsOf('inference = "fast"\n'), ['inference: expected a table, got "fast"']);
  assert.deepEqual(problemsOf("[inference]\nmode = { a = 1 }\n"), ['inference.mode: expected one of "cuda", "cpu", got a table']);
  assert.deepEqual(problemsOf("[ledger]\nmap_size_mib = 1.5\n"), ["ledger.map_size_mib: expected an integer from 1 to 1048576, got 1.5"]);
  assert.deepEqual(problemsOf("[ledger]\nmap_size_mib = 1979-05-27\n"), ["ledger.map_size_mib: expected an integer from 1 to 1048576, got a date"]);
  assert.deepEqual(problemsOf("[keys]\npcrs = [7, 24]\n"), ["keys.pcrs: expected an array of integers from 0 to 23, got [7, 24]"]);
  assert.deepEqual(problemsOf('[keys]\npcrs = "7"\n'), ['keys.pcrs: expected an array of integers from 0 to 23, got "7"']);
  assert.deepEqual(problemsOf('[box]\nid = "has space"\n'), ["box.id: expected 1–64 letters, digits, '.', '_' or '-', got \"has space\""]);
  assert.deepEqual(problemsOf('[keys]\ntpm = "/dev/tpmrm0"\n'), ['keys.tpm: expected a TPM spec such as "device:/dev/tpmrm0", got "/dev/tpmrm0"']);
  assert.deepEqual(problemsOf("[health]\ngpu_temp_degraded_c = 95\n"), ["health.gpu_temp_critical_c: must be ≥ health.gpu_temp_degraded_c (95), got 90"]);
  assert.deepEqual(problemsOf("[health]\ndisk_free_critical_mib = 4096\n"), ["health.disk_free_critical_mib: must be ≤ health.disk_free_degraded_mib (2048), got 4096"]);
});

test("sockets: per-role tables, unknown roles and clashing paths refused", () => {
  const c = validateConfig({ socket: { operator: { path: "/tmp/op.sock", mode: 0o600, group: "wheel" }, admin: { enabled: false } } });
  assert.deepEqual(c.socket.operator, { enabled: true, path: "/tmp/op.sock", group: "wheel", mode: 0o600 });
  assert.equal(c.socket.admin.enabled, false);
  assert.deepEqual(problemsOf("[socket.root]\npath = \"/x\"\n"), ["socket.root: unknown key"]);
  assert.deepEqual(problemsOf('[socket.operator]\npath = "/s"\n[socket.admin]\npath = "/s"\n'), ["socket.admin.path: the same path as socket.operator.path (/s)"]);
  assert.doesNotThrow(() => parseConfigText('[socket.operator]\npath = "/s"\n[socket.admin]\npath = "/s"\nenabled = false\n'));
  assert.deepEqual(problemsOf("[socket.operator]\nmode = 0o1777\n"), ["socket.operator.mode: expected an integer from 0 to 511, got 1023"]);
  assert.deepEqual(problemsOf('[socket.operator]\ngroup = "Bad Group"\n'), ['socket.operator.group: expected a Unix group name, got "Bad Group"']);
});

test("serial ports: required keys, enumerations, duplicates", () => {
  const c = parseConfigText('[[serial.ports]]\npath = "/dev/ttyS1"\npsk_file = "psk/s1"\nparity = "even"\ndata_bits = 7\nstop_bits = 2\n', { baseDir: "/etc/sealbox" });
  assert.deepEqual(c.serial.ports, [{ path: "/dev/ttyS1", baudRate: 115200, parity: "even", dataBits: 7, stopBits: 2, pskFile: "/etc/sealbox/psk/s1", role: "integrator" }]);
  assert.deepEqual(problemsOf('[[serial.ports]]\nbaud = 9600\n'), [
    'serial.ports[0].path: required (the serial device, e.g. "/dev/ttyS0")',
    "serial.ports[0].psk_file: required (a file holding this port's pre-shared key)",
  ]);
  assert.deepEqual(problemsOf('[[serial.ports]]\npath = "/dev/a"\npsk_file = "/p"\ndata_bits = 9\nparity = "mark"\nrole = "root"\n'), [
    "serial.ports[0].parity: expected one of \"none\", \"even\", \"odd\", got \"mark\"",
    "serial.ports[0].data_bits: expected one of 5, 6, 7, 8, got 9",
    'serial.ports[0].role: expected one of "operator", "technician", "integrator", "admin", got "root"',
  ]);
  assert.deepEqual(problemsOf('[[serial.ports]]\npath = "/dev/a"\npsk_file = "/p"\n[[serial.ports]]\npath = "/dev/a"\npsk_file = "/q"\n'), ["serial.ports: /dev/a is listed twice"]);
  assert.deepEqual(problemsOf("[serial]\nports = 3\n"), ["serial.ports: expected an array of tables ([[serial.ports]]), got 3"]);
  assert.deepEqual(problemsOf("[serial]\nports = [1]\n"), ["serial.ports[0]: expected a table, got 1"]);
});

test("diode: an address, not a name; enabled needs a link; serial not shared with integrators", () => {
  const c = validateConfig({ diode: { enabled: true, udp: { host: "192.0.2.10", port: 9740 } } });
  assert.deepEqual(c.diode.udp, { host: "192.0.2.10", port: 9740, mtuBytes: 1400 });
  assert.equal(validateConfig({ diode: { udp: { host: "fd00::10", port: 1 } } }).diode.udp?.host, "fd00::10");
  assert.deepEqual(problemsOf('[diode.udp]\nhost = "receiver.example"\nport = 9740\n'), [
    'diode.udp.host: expected an IPv4 or IPv6 address (no names: the box has no DNS), got "receiver.example"',
  ]);
  assert.deepEqual(problemsOf('[diode.udp]\nhost = "256.1.1.1"\nport = 0\n'), [
    'diode.udp.host: expected an IPv4 or IPv6 address (no names: the box has no DNS), got "256.1.1.1"',
    "diode.udp.port: expected an integer from 1 to 65535, got 0",
  ]);
  assert.deepEqual(problemsOf("[diode]\nenabled = true\n"), ["diode.enabled: the diode is enabled but neither [diode.udp] nor [diode.serial] is configured"]);
  assert.deepEqual(problemsOf('[diode.udp]\nport = 5\n'), ["diode.udp.host: required (the receiver's IP address)"]);
  assert.deepEqual(problemsOf('[diode.serial]\npath = "/dev/ttyS1"\n[[serial.ports]]\npath = "/dev/ttyS1"\npsk_file = "/p"\n'), [
    "diode.serial.path: /dev/ttyS1 is also an integrator port in serial.ports",
  ]);
  assert.deepEqual(problemsOf("[diode]\nrepair_ratio = -0.5\n"), ["diode.repair_ratio: expected a number from 0 to 4, got -0.5"]);
});

test("TOML syntax errors are BAD_CONFIG with line and column", () => {
  assert.throws(() => parseConfigText("[inference\nthreads = 2\n", { source: "x.toml" }), (e: unknown) => isSealboxError(e, "BAD_CONFIG") && /^x\.toml:1:\d+: not valid TOML/.test(e.message));
  assert.throws(() => parseConfigText("a = 1\na = 2\n"), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
  // Hostile nesting is bounded by the parser's depth limit, not the stack.
  assert.throws(() => parseConfigText("a = " + "[".repeat(5000) + "]".repeat(5000)), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
});

test("hostile values: prototype keys are unknown keys, not prototype pollution", () => {
  const problems = problemsOf('["__proto__"]\npolluted = true\n[inference]\nconstructor = 1\n');
  assert.ok(problems.includes("__proto__: unknown key"), problems.join("\n"));
  assert.ok(problems.includes("inference.constructor: unknown key"), problems.join("\n"));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.throws(() => validateConfig(null), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
  assert.throws(() => validateConfig([1]), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
});

test("defaultConfig: overrides by section; a test state dir moves run and sockets with it", () => {
  const c: Config = defaultConfig({ paths: { state: "/tmp/box" }, inference: { mode: "cpu", threads: 1 }, socket: { operator: { mode: 0o600 } } });
  assert.equal(c.paths.state, "/tmp/box");
  assert.equal(c.paths.run, "/tmp/box/run");
  assert.equal(c.socket.operator.path, "/tmp/box/run/operator.sock");
  assert.equal(c.socket.operator.mode, 0o600);
  assert.equal(c.socket.technician.mode, 0o660);
  assert.equal(c.inference.mode, "cpu");
  assert.equal(c.inference.threads, 1);
  assert.equal(c.inference.sequences, 4);
  assert.deepEqual(defaultConfig(), validateConfig({}));
});

// docs/configuration.md and the validator must agree: the example block lists
// every key the validator knows, and every key it documents in a table exists.
function docExample(): string {
  const m = /## A complete file[\s\S]*?```toml\n([\s\S]*?)```/.exec(docText);
  assert.ok(m, "docs/configuration.md has a ```toml example under 'A complete file'");
  return m[1]!;
}

test("docs: the complete example validates, and names every key the validator knows", () => {
  const seen = new Set<string>();
  const c = validateConfig(parse(docExample()), { onKey: (k) => seen.add(k) });
  assert.equal(c.diode.enabled, true);
  const leaves = [...seen].filter((k) => ![...seen].some((o) => o.startsWith(k + ".") || o.startsWith(k + "[]")));
  const inExample = new Set<string>();
  const ex = parse(docExample()) as Record<string, unknown>;
  const walk = (v: unknown, p: string): void => {
    if (Array.isArray(v) && v.every((x) => typeof x === "object" && x !== null)) for (const x of v) walk(x, p + "[]");
    else if (typeof v === "object" && v !== null && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, p === "" ? k : `${p}.${k}`);
    else inExample.add(p);
  };
  walk(ex, "");
  assert.deepEqual([...inExample].sort(), leaves.sort());
});

test("docs: every key in the tables is a real key and every real key has a row", () => {
  const rows = new Set([...docText.matchAll(/^\| `([a-z_.[\]A-Z]+)` \|/gm)].map((m) => m[1]!));
  const seen = new Set<string>();
  validateConfig(parse(docExample()), { onKey: (k) => seen.add(k) });
  const leaves = [...seen].filter((k) => ![...seen].some((o) => o.startsWith(k + ".") || o.startsWith(k + "[]")));
  const documented = new Set([...rows].flatMap((k) => (k.includes("ROLE") ? ["operator", "technician", "integrator", "admin"].map((r) => k.replace("ROLE", r)) : [k])));
  assert.deepEqual([...documented].sort(), leaves.sort());
});
