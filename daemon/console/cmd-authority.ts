// `sealbox authority …`: site authority keys.
//   keygen --out KEY              on the authority's offline machine: a new Ed25519 key pair
//   add PUB --state DIR [--name]  on a box: trust an authority (audited)
//   remove NAME --state DIR       on a box: stop trusting it (audited; its models are refused from then on)
//   list --state DIR              the authorities a box trusts

import { constants } from "node:fs";
import { mkdir, open, readFile, rename, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { randomBytes } from "node:crypto";
import { SealboxError } from "../errors.js";
import { FHS_STATE_DIR } from "../config/types.js";
import type { Actor } from "../ledger/types.js";
import { AUTHORITY_NAME, authoritiesDir, loadAuthorities, parseAuthorityPublicKey, writeAuthorityKey } from "../inference/authority.js";
import { recordOutcome, syncDir, unlinkIfThere } from "../inference/models.js";
import { report } from "./console-common.js";
import { defaultStateDir, openCliAudit, type OpenCliAudit } from "./model-ledger.js";

export interface CommandDeps {
  openAudit: OpenCliAudit;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
}

const USAGE = `usage:
  sealbox authority keygen --out KEY [--json]
  sealbox authority add PUBKEY [--name NAME] [--state DIR] [--json]
  sealbox authority remove NAME [--state DIR] [--json]
  sealbox authority list [--state DIR] [--json]

keygen makes an Ed25519 key pair for a site authority, on its own offline
machine: KEY (PKCS#8 PEM, mode 0600) and KEY.pub (SubjectPublicKeyInfo PEM).
The .pub file goes to each box with 'authority add'; KEY signs model
manifests with 'sealbox model sign'. --state defaults to $SEALBOX_STATE, else
${FHS_STATE_DIR}. add and remove write the box's ledger, so the daemon must be
stopped (they refuse while it runs).
`;

export function cliActor(): Actor {
  return { role: "admin", transport: "cli", peer: `uid=${process.getuid?.() ?? "?"}` };
}

const EXTRA = { json: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;

export function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...options, ...EXTRA }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new SealboxError("BAD_ARGUMENT", (e as Error).message.replace(/^TypeError \[\w+\]: /, ""), { cause: e });
  }
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new SealboxError("BAD_ARGUMENT", `expected one ${what}, got ${positionals.length} (see: sealbox authority --help)`);
  return positionals[0]!;
}

/** What a `sealbox authority|model` run starts with: the subcommand, its arguments, --json output, and --help. */
export interface CommandGroup {
  sub: string | undefined;
  rest: string[];
  /** Set again from each subcommand's parsed options. */
  json: boolean;
  out(human: string, machine: unknown): void;
  /** The exit code when --help (or nothing) was asked for and the usage is printed; undefined otherwise. */
  helpExit: number | undefined;
}

export function startCommandGroup(argv: string[], deps: CommandDeps, usage: string): CommandGroup {
  const [sub, ...rest] = argv;
  const g: CommandGroup = {
    sub,
    rest,
    json: rest.includes("--json"),
    out: (human, machine) => void deps.stdout.write(g.json ? JSON.stringify(machine) + "\n" : human),
    helpExit: undefined,
  };
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help" || rest.includes("--help") || rest.includes("-h")) {
    deps.stdout.write(usage);
    g.helpExit = sub === undefined ? 64 : 0;
  }
  return g;
}

export async function run(argv: string[], deps: CommandDeps): Promise<number> {
  const g = startCommandGroup(argv, deps, USAGE);
  if (g.helpExit !== undefined) return g.helpExit;
  const { sub, rest, out } = g;
  try {
    if (sub === "keygen") {
      const { values, positionals } = parseCommand(rest, { out: { type: "string" } });
      g.json = values.json === true;
      if (!values.out || positionals.length > 0) throw new SealboxError("BAD_ARGUMENT", "authority keygen needs --out KEY and nothing else (see: sealbox authority --help)");
      const k = await writeAuthorityKey(values.out);
      out(
        `authority key: ${k.privateKeyPath} (mode 0600: keep it on this offline machine)\npublic key:    ${k.publicKeyPath} (install on each box: sealbox authority add ${basename(k.publicKeyPath)})\nkey id:        ${k.keyId}\n\n${k.publicKeyPem}`,
        { privateKeyPath: k.privateKeyPath, publicKeyPath: k.publicKeyPath, keyId: k.keyId, publicKeyPem: k.publicKeyPem },
      );
      return 0;
    }
    if (sub === "list") {
      const { values, positionals } = parseCommand(rest, { state: { type: "string" } });
      g.json = values.json === true;
      if (positionals.length > 0) throw new SealboxError("BAD_ARGUMENT", "authority list takes no arguments");
      const list = await loadAuthorities(defaultStateDir(values.state, FHS_STATE_DIR).stateDir);
      out(list.length === 0 ? "no trusted authorities (add one with: sealbox authority add KEY.pub)\n" : list.map((a) => `${a.name.padEnd(24)} ${a.keyId}\n`).join(""), {
        authorities: list.map((a) => ({ name: a.name, keyId: a.keyId })),
      });
      return 0;
    }
    if (sub === "add") {
      const { values, positionals } = parseCommand(rest, { state: { type: "string" }, name: { type: "string" } });
      g.json = values.json === true;
      const pubPath = one(positionals, "public key file");
      const { stateDir, given } = defaultStateDir(values.state, FHS_STATE_DIR);
      const name = values.name ?? basename(pubPath).replace(/\.key\.pub$|\.pub$/, "");
      if (!AUTHORITY_NAME.test(name)) throw new SealboxError("BAD_ARGUMENT", `authority name ${JSON.stringify(name)}: use 1–64 letters, digits, '.', '_' or '-' (--name)`);
      const bytes = await readFile(pubPath).catch((e: Error) => {
        throw new SealboxError("NOT_FOUND", `cannot read ${pubPath}: ${e.message}`, { cause: e });
      });
      if (bytes.length > 16 * 1024) throw new SealboxError("BAD_FORMAT", `${pubPath} is too large to be a public key`);
      const authority = parseAuthorityPublicKey(bytes, name, pubPath);
      const existing = await loadAuthorities(stateDir);
      const same = existing.find((a) => a.keyId === authority.keyId);
      if (same) throw new SealboxError("KEY_EXISTS", `this key is already trusted as ${same.name}`);
      if (existing.some((a) => a.name === name)) throw new SealboxError("KEY_EXISTS", `an authority named ${name} is already trusted (choose another --name)`);
      const r = await changeAudited(deps, stateDir, given, "authority.add", name, { keyId: authority.keyId }, async () => {
        const dir = authoritiesDir(stateDir);
        await mkdir(dir, { recursive: true, mode: 0o755 });
        const tmp = join(dir, `.add-${process.pid}-${randomBytes(4).toString("hex")}`);
        const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o444);
        try {
          await fh.writeFile(authority.publicKey.export({ format: "pem", type: "spki" }) as string);
          await fh.sync();
        } finally {
          await fh.close();
        }
        try {
          await rename(tmp, join(dir, `${name}.pub`));
          await syncDir(dir);
        } catch (e) {
          await unlinkIfThere(tmp);
          throw e;
        }
      });
      out(`trusted authority ${name} (${authority.keyId}); audit record #${r.seq}\n`, { name, keyId: authority.keyId, seq: r.seq });
      return 0;
    }
    if (sub === "remove") {
      const { values, positionals } = parseCommand(rest, { state: { type: "string" } });
      g.json = values.json === true;
      const name = one(positionals, "authority name");
      const { stateDir, given } = defaultStateDir(values.state, FHS_STATE_DIR);
      if (!AUTHORITY_NAME.test(name)) throw new SealboxError("BAD_ARGUMENT", `not an authority name: ${JSON.stringify(name)}`);
      const path = join(authoritiesDir(stateDir), `${name}.pub`);
      if (!(await stat(path).catch(() => undefined))?.isFile()) throw new SealboxError("NOT_FOUND", `no trusted authority named ${name} (see: sealbox authority list)`);
      const r = await changeAudited(deps, stateDir, given, "authority.remove", name, {}, async () => {
        await unlinkIfThere(path);
        await syncDir(authoritiesDir(stateDir));
      });
      out(`no longer trusting ${name}; models it signed are refused from now on; audit record #${r.seq}\n`, { name, seq: r.seq });
      return 0;
    }
    throw new SealboxError("BAD_ARGUMENT", `unknown authority command '${sub}' (see: sealbox authority --help)`);
  } catch (e) {
    return report(e, g.json, deps.stdout, deps.stderr);
  }
}

/** Runs a change to the box's trust with a write-ahead record and an outcome record. */
async function changeAudited(deps: CommandDeps, stateDir: string, given: string | undefined, action: string, target: string, details: { [k: string]: string }, change: () => Promise<void>): Promise<{ seq: number }> {
  const { audit, close } = await deps.openAudit(stateDir, given);
  try {
    const actor = cliActor();
    await audit.append({ actor, category: "site", action, target, outcome: "requested", details });
    try {
      await change();
    } catch (e) {
      const auditError = await recordOutcome(audit, { actor, category: "site", action, target, outcome: "failure", details: { ...details, error: (e as Error).message } });
      throw new SealboxError("INTERNAL", `${action} failed: ${(e as Error).message}`, { cause: e, details: auditError ? { auditError } : {} });
    }
    const r = await audit.append({ actor, category: "site", action, target, outcome: "success", details });
    return { seq: r.seq };
  } finally {
    await close();
  }
}

export async function main(argv: string[]): Promise<number> {
  return run(argv, { openAudit: openCliAudit, stdout: process.stdout, stderr: process.stderr });
}
