// Option parsing shared by the ledger's commands (keys, audit, verify): the
// common --state, --json and --help, strict, with BAD_ARGUMENT on misuse.

import { parseArgs, type ParseArgsConfig } from "node:util";
import { SealboxError } from "../errors.js";

export const BASE_OPTIONS = {
  state: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const satisfies ParseArgsConfig["options"];

export function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options: { ...BASE_OPTIONS, ...options }, allowPositionals, strict: true });
  } catch (e) {
    throw new SealboxError("BAD_ARGUMENT", (e as Error).message.replace(/^TypeError \[\w+\]: /, ""), { cause: e });
  }
}

export function requireState(state: string | undefined): string {
  if (state === undefined || state === "") throw new SealboxError("BAD_ARGUMENT", "--state DIR is required");
  return state;
}

/** Parses a non-negative decimal argument (a sequence number or a size). */
export function parseCount(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || !Number.isSafeInteger(Number(text))) throw new SealboxError("BAD_ARGUMENT", `${what} must be a non-negative integer, got '${text}'`);
  return Number(text);
}
