// The daemon's side of the config: `--config PATH`, `--check-config`, and
// which file applies when none is named. Kept out of daemon/main.ts so that
// main.ts needs only two small calls:
//
//   const checked = await checkConfigCommand(argv);          // first line of main
//   if (checked !== undefined) return checked;                 // exit 0 or 78
//   const { config } = await loadDaemonConfig(argv);           // then use config.*
//
// Without --config the FHS file /etc/sealbox/sealbox.toml is read when it
// exists; when it does not, the embedded defaults apply (a development box).

import { access } from "node:fs/promises";
import { ERRORS, SealboxError, toSealboxError } from "../errors.js";
import { defaultConfig, loadConfig } from "../config.js";
import { DEFAULT_CONFIG_FILE, type Config } from "./types.js";
import { parseTransportSpec } from "../../hal/tpm/transport/spec.js";

export interface DaemonConfigArgs {
  /** --config PATH; undefined when not given. */
  configPath: string | undefined;
  /** --state DIR; overrides paths.state. */
  stateDir: string | undefined;
  /** --tpm SPEC; overrides keys.tpm (docs/tpm.md lists the specs). */
  tpm: string | undefined;
  checkConfig: boolean;
}

/** Reads the config-related options out of sealboxd's argv (other options are left for main.ts). */
export function parseDaemonConfigArgs(argv: readonly string[]): DaemonConfigArgs {
  const args: DaemonConfigArgs = { configPath: undefined, stateDir: undefined, tpm: undefined, checkConfig: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf("=");
    const name = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith("--") && eq > 0 ? a.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new SealboxError("BAD_ARGUMENT", `${name} needs a value`);
      return v;
    };
    if (name === "--config") args.configPath = value();
    else if (name === "--state") args.stateDir = value();
    else if (name === "--tpm") args.tpm = value();
    else if (name === "--check-config") args.checkConfig = true;
  }
  return args;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The configuration sealboxd runs on, and where it came from ("embedded defaults" or the file). */
export async function loadDaemonConfig(argv: readonly string[], defaultFile = DEFAULT_CONFIG_FILE): Promise<{ config: Config; source: string }> {
  const args = parseDaemonConfigArgs(argv);
  const loaded = await loadConfigFor(args, defaultFile);
  if (args.tpm === undefined) return loaded;
  parseTransportSpec(args.tpm); // a bad --tpm SPEC is BAD_ARGUMENT naming it, before anything opens
  return { ...loaded, config: { ...loaded.config, keys: { ...loaded.config.keys, tpm: args.tpm } } };
}

async function loadConfigFor(args: DaemonConfigArgs, defaultFile: string): Promise<{ config: Config; source: string }> {
  const stateOpt = args.stateDir === undefined ? {} : { stateDir: args.stateDir };
  if (args.configPath !== undefined) return { config: await loadConfig(args.configPath, stateOpt), source: args.configPath };
  if (await exists(defaultFile)) return { config: await loadConfig(defaultFile, stateOpt), source: defaultFile };
  const config = defaultConfig(args.stateDir === undefined ? {} : { paths: { state: args.stateDir } });
  return { config, source: "embedded defaults" };
}

/** A few lines a technician reads after `sealboxd --check-config`. */
export function summarizeConfig(config: Config, source: string): string {
  const sockets = Object.entries(config.socket)
    .filter(([, s]) => s.enabled)
    .map(([role, s]) => `${role}=${s.path}`)
    .join(" ");
  const diode = !config.diode.enabled
    ? "off"
    : [config.diode.udp ? `udp ${config.diode.udp.host}:${config.diode.udp.port}` : "", config.diode.serial ? `serial ${config.diode.serial.path}` : ""].filter(Boolean).join(", ");
  return [
    `configuration OK (${source})`,
    `  state:     ${config.paths.state}`,
    `  run:       ${config.paths.run}`,
    `  key:       ${config.keys.origin}${config.keys.origin === "tpm" ? ` via ${config.keys.tpm}, PCRs ${config.keys.pcrs.join(",")}` : " (development only)"}`,
    `  inference: ${config.inference.mode}, ${config.inference.threads} threads, model ${config.inference.model ?? "none"}`,
    `  sockets:   ${sockets || "none"}`,
    `  serial:    ${config.serial.ports.map((p) => p.path).join(" ") || "none"}`,
    `  diode:     ${diode}`,
  ].join("\n");
}

/**
 * `sealboxd --check-config [--config PATH] [--state DIR]`: validates and returns
 * the exit code (0, or 78 = EX_CONFIG with every problem on stderr). Returns
 * undefined when --check-config is not among the arguments.
 */
export async function checkConfigCommand(
  argv: readonly string[],
  io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) },
  defaultFile = DEFAULT_CONFIG_FILE,
): Promise<number | undefined> {
  let args: DaemonConfigArgs;
  try {
    args = parseDaemonConfigArgs(argv);
  } catch (e) {
    const err = toSealboxError(e, "BAD_ARGUMENT");
    io.err(`sealboxd: ${err.message}\n`);
    return err.spec.exitCode;
  }
  if (!args.checkConfig) return undefined;
  try {
    const { config, source } = await loadDaemonConfig(argv, defaultFile);
    io.out(summarizeConfig(config, source) + "\n");
    return 0;
  } catch (e) {
    const err = toSealboxError(e, "BAD_CONFIG");
    io.err(`sealboxd: ${err.message}\n`);
    return err.code === "BAD_CONFIG" ? ERRORS.BAD_CONFIG.exitCode : err.spec.exitCode;
  }
}
