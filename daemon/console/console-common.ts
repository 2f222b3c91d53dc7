// What the console commands that talk to the daemon share: the common
// options (--state, --socket, --role, --json, --help), finding the socket,
// and reporting an error the same way everywhere — a sentence and its code
// on stderr (or one JSON object on stdout with --json), and the registry's
// exit code (docs/http-api.md lists them).

import { parseArgs, type ParseArgsConfig } from "node:util";
import { ERRORS, SealboxError, toSealboxError } from "../errors.js";
import { isRole } from "../rpc/roles.js";
import type { Role } from "../rpc/types.js";
import { resolveSocket, SealboxClient } from "./client.js";

export interface CommonOptions {
  json: boolean;
  role: Role;
  socketPath: string;
}

export const COMMON_OPTIONS = {
  state: { type: "string" },
  socket: { type: "string" },
  role: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const satisfies ParseArgsConfig["options"];

export const COMMON_HELP = [
  "  --state DIR     the daemon's state directory (its sockets are DIR/run/<role>.sock)",
  "  --socket PATH   the socket to use (overrides --state and the role)",
  "  --role ROLE     operator, technician, integrator or admin (which socket)",
  "  --json          machine-readable output: one JSON object (or one per line)",
].join("\n");

/** Exit status when a person interrupts with Ctrl-C (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;

export function parse<O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals, strict: true });
  } catch (e) {
    throw new SealboxError("BAD_ARGUMENT", (e as Error).message.replace(/^TypeError \[\w+\]: /, ""), { cause: e });
  }
}

export function common(values: { state?: string | undefined; socket?: string | undefined; role?: string | undefined; json?: boolean | undefined }, defaultRole: Role): CommonOptions {
  const role = values.role ?? defaultRole;
  if (!isRole(role)) throw new SealboxError("BAD_ARGUMENT", `--role: expected operator, technician, integrator or admin, got '${role}'`);
  return {
    json: values.json ?? false,
    role,
    socketPath: resolveSocket({ role, ...(values.socket ? { socket: values.socket } : {}), ...(values.state ? { state: values.state } : {}) }),
  };
}

export function client(o: CommonOptions): SealboxClient {
  return new SealboxClient(o.socketPath);
}

/** Reports an error and returns the exit code for it. */
export function report(e: unknown, json: boolean, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  const se = toSealboxError(e);
  const spec = ERRORS[se.code];
  if (json) {
    out.write(JSON.stringify({ error: { code: se.code, message: se.message, retryable: spec.retryable, ...(se.details ? { details: se.details } : {}) } }) + "\n");
  } else {
    let hint = "";
    const retryAfterMs = se.details?.retryAfterMs;
    if (se.code === "BUSY") hint = typeof retryAfterMs === "number" ? ` — try again in ${Math.ceil(retryAfterMs / 1000)} s` : " — try again shortly";
    err.write(`sealbox: ${se.message}${hint} (${se.code})\n`);
  }
  return spec.exitCode;
}

export function writeJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

/** Whether the terminal should get colour and dim lines. */
export function tty(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && process.env.NO_COLOR === undefined;
}

export function dim(text: string, on: boolean): string {
  return on ? `\x1b[2m${text}\x1b[0m` : text;
}

export function bold(text: string, on: boolean): string {
  return on ? `\x1b[1m${text}\x1b[0m` : text;
}

/** --max-tokens, --temperature, --seed: shared by ask and chat. */
export const SAMPLING_OPTIONS = {
  "max-tokens": { type: "string" },
  temperature: { type: "string" },
  seed: { type: "string" },
} as const satisfies ParseArgsConfig["options"];

function numberFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value)) throw new SealboxError("BAD_ARGUMENT", `--${flag}: expected a number, got '${value}'`);
  return Number(value);
}

/** The method params for the sampling flags given. */
export function samplingParams(values: { "max-tokens"?: string | undefined; temperature?: string | undefined; seed?: string | undefined }): Record<string, number> {
  const out: Record<string, number> = {};
  const maxTokens = numberFlag(values["max-tokens"], "max-tokens");
  if (maxTokens !== undefined) out.maxTokens = maxTokens;
  const temperature = numberFlag(values.temperature, "temperature");
  if (temperature !== undefined) out.temperature = temperature;
  const seed = numberFlag(values.seed, "seed");
  if (seed !== undefined) out.seed = seed;
  return out;
}
