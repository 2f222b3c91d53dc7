#!/usr/bin/env node
// The `sealbox` command: a table of command groups, each in its own module
// exporting `main(argv): Promise<number>` (the exit code).

import { SealboxError, toSealboxError } from "../errors.js";

const GROUPS: Record<string, { module: string; summary: string }> = {
  keys: { module: "./cmd-keys.js", summary: "provision and show the box's signing key" },
  audit: { module: "./cmd-audit.js", summary: "show, prove, export and follow the audit log" },
  verify: { module: "./cmd-verify.js", summary: "verify an exported audit bundle offline" },
  model: { module: "./cmd-model.js", summary: "import, sign, list and remove models" },
  authority: { module: "./cmd-authority.js", summary: "create a site authority key (offline machine)" },
  diode: { module: "./cmd-diode.js", summary: "diode sender status and the high-side receiver" },
  ask: { module: "./cmd-ask.js", summary: "ask the box a question and stream the answer" },
  chat: { module: "./cmd-chat.js", summary: "interactive chat with the box" },
  status: { module: "./cmd-status.js", summary: "one-screen health of the box" },
  "serial-client": { module: "./cmd-serial-client.js", summary: "reference client for the serial protocol" },
};

function usage(): string {
  const lines = ["usage: sealbox COMMAND [ARGS…]", "", "commands:"];
  for (const [name, g] of Object.entries(GROUPS)) lines.push(`  ${name.padEnd(14)} ${g.summary}`);
  lines.push("", "sealbox COMMAND --help for a command's options; --version prints the version.");
  return lines.join("\n");
}

async function version(): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  const pkg = JSON.parse(await readFile(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage() + "\n");
    return name === undefined ? 64 : 0;
  }
  if (name === "--version") {
    process.stdout.write(`sealbox ${await version()}\n`);
    return 0;
  }
  const group = GROUPS[name];
  if (!group) {
    process.stderr.write(`sealbox: unknown command '${name}'\n\n${usage()}\n`);
    return 64;
  }
  const mod = (await import(group.module)) as { main(argv: string[]): Promise<number> };
  return mod.main(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const err = toSealboxError(e);
    process.stderr.write(`sealbox: ${err.message}${err instanceof SealboxError && err.code !== "INTERNAL" ? ` (${err.code})` : ""}\n`);
    process.exitCode = err.spec.exitCode;
  },
);
