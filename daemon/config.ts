// The daemon's one configuration file (TOML, /etc/sealbox/sealbox.toml by
// default). validateConfig is pure: a parsed object in, a complete Config out,
// or one BAD_CONFIG error listing every problem with its dotted key. Unknown
// keys are errors. docs/configuration.md documents every key; a unit test
// checks that the two agree.

import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parse, TomlError } from "smol-toml";
import { SealboxError } from "./errors.js";
import { ROLES, type Role } from "./rpc/types.js";
import type { LogLevel } from "./log.js";
import { describe, isTable, TableReader, type Problems } from "./config/reader.js";
import {
  FHS_CONFIG_DIR,
  FHS_RUN_DIR,
  FHS_STATE_DIR,
  type Config,
  type ConfigOverrides,
  type DiodeConfig,
  type SerialPortConfig,
  type SocketConfig,
} from "./config/types.js";

export * from "./config/types.js";

const MIB = 1024 * 1024;
const MAX_CONTEXTS = 64;
const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "notice", "warn", "error"];
const BOX_ID = { pattern: /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, what: "1–64 letters, digits, '.', '_' or '-'" };
const GROUP = { pattern: /^[a-z_][a-z0-9_-]{0,31}$/, what: "a Unix group name" };
const TPM_SPEC = { pattern: /^[a-z-]+:\S+$/, what: 'a TPM spec such as "device:/dev/tpmrm0"' };
// The diode address must be an IP literal: the box resolves no names (no DNS),
// and the same literal goes into IPAddressAllow= and the nftables rule.
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:]+$/;

export interface ValidateOptions {
  /** Directory that relative paths in the file resolve against (the config file's). Without it relative paths are refused. */
  baseDir?: string;
  /** Called with every key the validator knows as it reads it (for tests and docs). */
  onKey?: (dottedKey: string) => void;
}

/** paths.run follows paths.state unless the state is the FHS default (shared convention: STATE/run). */
function defaultRunDir(stateDir: string): string {
  return stateDir === FHS_STATE_DIR ? FHS_RUN_DIR : join(stateDir, "run");
}

function readSocket(r: TableReader, role: Role, runDir: string): SocketConfig {
  const enabled = r.bool("enabled", true);
  const path = r.filePath("path", join(runDir, `${role}.sock`));
  const group = r.string("group", `sealbox-${role}`, GROUP);
  const mode = r.int("mode", 0o660, { min: 0, max: 0o777 });
  r.finish();
  return { enabled, path, group, mode };
}

function readSerialPort(r: TableReader): SerialPortConfig | undefined {
  if (!r.has("path")) r.problem("path", "required (the serial device, e.g. \"/dev/ttyS0\")");
  if (!r.has("psk_file")) r.problem("psk_file", "required (a file holding this port's pre-shared key)");
  const path = r.filePath("path", "");
  const baudRate = r.int("baud", 115200, { min: 50, max: 4_000_000 });
  const parity = r.oneOf("parity", ["none", "even", "odd"] as const, "none");
  const dataBits = r.intOneOf("data_bits", [5, 6, 7, 8] as const, 8);
  const stopBits = r.intOneOf("stop_bits", [1, 2] as const, 1);
  const pskFile = r.filePath("psk_file", "");
  const role = r.oneOf("role", ROLES, "integrator");
  r.finish();
  if (path === "" || pskFile === "") return undefined;
  return { path, baudRate, parity, dataBits, stopBits, pskFile, role };
}

function readDiode(r: TableReader): DiodeConfig {
  const enabled = r.bool("enabled", false);
  let udp: DiodeConfig["udp"];
  if (r.has("udp")) {
    const u = r.section("udp");
    if (!u.has("host")) u.problem("host", "required (the receiver's IP address)");
    if (!u.has("port")) u.problem("port", "required (the receiver's UDP port)");
    const host = u.string("host", "", { pattern: new RegExp(`${IPV4.source}|${IPV6.source}`), what: "an IPv4 or IPv6 address (no names: the box has no DNS)" });
    const port = u.int("port", 0, { min: 1, max: 65535 });
    const mtuBytes = u.int("mtu_bytes", 1400, { min: 576, max: 65507 });
    u.finish();
    if (host !== "" && port !== 0) udp = { host, port, mtuBytes };
  }
  let serial: DiodeConfig["serial"];
  if (r.has("serial")) {
    const s = r.section("serial");
    if (!s.has("path")) s.problem("path", "required (the TX-only serial device)");
    const path = s.filePath("path", "");
    const baudRate = s.int("baud", 115200, { min: 50, max: 4_000_000 });
    s.finish();
    if (path !== "") serial = { path, baudRate };
  }
  const rateBytesPerS = r.int("rate_bytes_per_s", 12_500_000, { min: 1000 });
  const repairRatio = r.number("repair_ratio", 0.1, { min: 0, max: 4 });
  r.finish();
  if (enabled && !r.has("udp") && !r.has("serial")) r.problem("enabled", "the diode is enabled but neither [diode.udp] nor [diode.serial] is configured");
  return { enabled, udp, serial, rateBytesPerS, repairRatio };
}

/** Checks a parsed TOML document and fills in every default. Throws BAD_CONFIG naming each problem. */
export function validateConfig(object: unknown, options: ValidateOptions = {}): Config {
  const problems: Problems = [];
  if (!isTable(object)) throw new SealboxError("BAD_CONFIG", `configuration: expected a table, got ${describe(object)}`, { details: { problems: ["expected a table"] } });
  const top = new TableReader(object, "", problems, options.baseDir, options.onKey);

  const boxR = top.section("box");
  const box = { id: boxR.optionalString("id", BOX_ID) };
  boxR.finish();

  const pathsR = top.section("paths");
  const config = pathsR.filePath("config", options.baseDir ?? FHS_CONFIG_DIR);
  const state = pathsR.filePath("state", FHS_STATE_DIR);
  const run = pathsR.filePath("run", defaultRunDir(state));
  pathsR.finish();

  const logR = top.section("log");
  const log = { level: logR.oneOf("level", LOG_LEVELS, "info") };
  logR.finish();

  const keysR = top.section("keys");
  const keys = {
    origin: keysR.oneOf("origin", ["tpm", "software"] as const, "tpm"),
    tpm: keysR.string("tpm", "device:/dev/tpmrm0", TPM_SPEC),
    pcrs: keysR.intList("pcrs", [7], { min: 0, max: 23 }),
  };
  keysR.finish();

  const ledgerR = top.section("ledger");
  const ledger = {
    mapSizeBytes: ledgerR.int("map_size_mib", 4096, { min: 1, max: 1024 * 1024 }) * MIB,
    checkpointEpochMinutes: ledgerR.int("checkpoint_epoch_minutes", 60, { min: 1, max: 7 * 24 * 60 }),
  };
  ledgerR.finish();

  const infR = top.section("inference");
  const sequences = infR.int("sequences", 4, { min: 1, max: 256 });
  // One context per sequence measured best on the CPU and on the GPU alike (docs/performance.md),
  // and the cores shared between them: more llama.cpp threads than cores made decoding slower.
  const contexts = infR.int("contexts", Math.min(sequences, MAX_CONTEXTS), { min: 1, max: MAX_CONTEXTS });
  const inference = {
    mode: infR.oneOf("mode", ["cuda", "cpu"] as const, "cuda"),
    threads: infR.int("threads", Math.max(1, Math.floor(availableParallelism() / contexts)), { min: 1 }),
    model: infR.optionalString("model"),
    sequences,
    contexts,
    queueDepth: infR.int("queue_depth", 32, { min: 0, max: 100_000 }),
    contextTokens: infR.int("context_tokens", 4096, { min: 64, max: 1_048_576 }),
    maxTokens: infR.int("max_tokens", 1024, { min: 1, max: 1_048_576 }),
    deadlineMs: infR.int("deadline_ms", 120_000, { min: 100 }),
    storeText: infR.bool("store_text", false),
    kernelSelfTestTimeoutMs: infR.int("kernel_self_test_timeout_ms", 180_000, { min: 1_000, max: 3_600_000 }),
  };
  infR.finish();

  const hR = top.section("health");
  const health = {
    intervalMs: hR.int("interval_ms", 10_000, { min: 100 }),
    nvidiaSmiTimeoutMs: hR.int("nvidia_smi_timeout_ms", 5_000, { min: 100 }),
    gpuTempDegradedC: hR.int("gpu_temp_degraded_c", 83, { min: 0, max: 150 }),
    gpuTempCriticalC: hR.int("gpu_temp_critical_c", 90, { min: 0, max: 150 }),
    gpuMemoryDegradedPct: hR.int("gpu_memory_degraded_pct", 95, { min: 1, max: 100 }),
    diskFreeDegradedBytes: hR.int("disk_free_degraded_mib", 2048, { min: 0 }) * MIB,
    diskFreeCriticalBytes: hR.int("disk_free_critical_mib", 256, { min: 0 }) * MIB,
    memoryAvailableCriticalBytes: hR.int("memory_available_critical_mib", 512, { min: 0 }) * MIB,
    cpuFallback: hR.bool("cpu_fallback", false),
  };
  if (health.gpuTempCriticalC < health.gpuTempDegradedC) hR.problem("gpu_temp_critical_c", `must be ≥ health.gpu_temp_degraded_c (${health.gpuTempDegradedC}), got ${health.gpuTempCriticalC}`);
  if (health.diskFreeCriticalBytes > health.diskFreeDegradedBytes) hR.problem("disk_free_critical_mib", `must be ≤ health.disk_free_degraded_mib (${health.diskFreeDegradedBytes / MIB}), got ${health.diskFreeCriticalBytes / MIB}`);
  hR.finish();

  const sockR = top.section("socket");
  const socket = {} as Record<Role, SocketConfig>;
  for (const role of ROLES) socket[role] = readSocket(sockR.section(role), role, run);
  sockR.finish();
  const socketPaths = new Map<string, Role>();
  for (const role of ROLES) {
    const other = socketPaths.get(socket[role].path);
    if (socket[role].enabled && other) problems.push(`socket.${role}.path: the same path as socket.${other}.path (${socket[role].path})`);
    if (socket[role].enabled) socketPaths.set(socket[role].path, role);
  }

  const serR = top.section("serial");
  const ports = serR.tables("ports").flatMap((p) => readSerialPort(p) ?? []);
  serR.finish();
  const seenPorts = new Set<string>();
  for (const p of ports) {
    if (seenPorts.has(p.path)) problems.push(`serial.ports: ${p.path} is listed twice`);
    seenPorts.add(p.path);
  }

  const diode = readDiode(top.section("diode"));
  if (diode.serial && seenPorts.has(diode.serial.path)) problems.push(`diode.serial.path: ${diode.serial.path} is also an integrator port in serial.ports`);

  top.finish();
  if (problems.length > 0) {
    const text = problems.length === 1 ? problems[0]! : `${problems.length} problems:\n  ${problems.join("\n  ")}`;
    throw new SealboxError("BAD_CONFIG", text, { details: { problems } });
  }
  return { box, paths: { config, state, run }, log, keys, ledger, inference, health, socket, serial: { ports }, diode };
}

/**
 * Every default, with overrides applied section by section. Overriding paths.state
 * moves paths.run and the sockets with it unless they are overridden too.
 */
export function defaultConfig(overrides: ConfigOverrides = {}): Config {
  const p = overrides.paths ?? {};
  const base = validateConfig({ paths: { ...(p.config ? { config: resolve(p.config) } : {}), ...(p.state ? { state: resolve(p.state) } : {}), ...(p.run ? { run: resolve(p.run) } : {}) } });
  const socket = { ...base.socket };
  for (const role of ROLES) socket[role] = { ...base.socket[role], ...(overrides.socket?.[role] ?? {}) };
  return {
    box: { ...base.box, ...overrides.box },
    paths: base.paths,
    log: { ...base.log, ...overrides.log },
    keys: { ...base.keys, ...overrides.keys },
    ledger: { ...base.ledger, ...overrides.ledger },
    inference: { ...base.inference, ...overrides.inference },
    health: { ...base.health, ...overrides.health },
    socket,
    serial: { ...base.serial, ...overrides.serial },
    diode: { ...base.diode, ...overrides.diode },
  };
}

export interface ParseOptions extends ValidateOptions {
  /** Names the text in messages (the file path). */
  source?: string;
  /** Replaces paths.state (sealboxd --state DIR); paths.run and the sockets follow unless the file sets them. */
  stateDir?: string;
}

/** Parses TOML text; syntax errors become BAD_CONFIG with the line and column. */
export function parseConfigText(text: string, options: ParseOptions = {}): Config {
  let object: unknown;
  try {
    object = parse(text, { maxDepth: 16 });
  } catch (e) {
    const where = e instanceof TomlError ? `:${e.line}:${e.column}` : "";
    const first = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new SealboxError("BAD_CONFIG", `${options.source ?? "configuration"}${where}: not valid TOML: ${first}`, { cause: e });
  }
  if (options.stateDir !== undefined && isTable(object)) {
    const paths = isTable(object.paths) ? object.paths : {};
    object = { ...object, paths: { ...paths, state: resolve(options.stateDir) } };
  }
  return validateConfig(object, options);
}

/** The largest config file accepted; a real one is a few KiB. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Reads, parses and validates a config file. Relative paths in it resolve against its directory. */
export async function loadConfig(path: string, options: { stateDir?: string } = {}): Promise<Config> {
  const file = resolve(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SealboxError("BAD_CONFIG", `${file}: cannot read the configuration file (${code ?? String(e)})`, { cause: e });
  }
  if (bytes.length > MAX_CONFIG_BYTES) throw new SealboxError("BAD_CONFIG", `${file}: the configuration file is ${bytes.length} bytes, more than the ${MAX_CONFIG_BYTES}-byte limit`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    throw new SealboxError("BAD_CONFIG", `${file}: the configuration file is not UTF-8`, { cause: e });
  }
  try {
    return parseConfigText(text, { baseDir: dirname(file), source: file, ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }) });
  } catch (e) {
    if (e instanceof SealboxError && !e.message.startsWith(file)) {
      throw new SealboxError("BAD_CONFIG", `${file}: ${e.message}`, { cause: e.cause, details: e.details as Record<string, unknown> });
    }
    throw e;
  }
}
