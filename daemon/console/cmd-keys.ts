// `sealbox keys provision|show`: the box's signing key.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { SealboxError } from "../errors.js";
import { SOFTWARE_KEY_FILE, provisionSoftwareKey, showKey } from "../keys/key-store.js";
import { report } from "./console-common.js";
import { parseCommand, requireState } from "./ledger-args.js";

const HELP = `usage:
  sealbox keys provision --state DIR --software [--force] [--name NAME] [--json]
  sealbox keys provision --state DIR --tpm …     (see sealbox keys provision --tpm --help)
  sealbox keys show --state DIR [--tpm SPEC] [--json]
  sealbox keys acknowledge-rollback --state DIR --tpm SPEC --by NAME [--note TEXT]

provision  creates the box's Ed25519 signing key (and DIR/box.json if absent).
           --software keeps the private key in DIR/keys (mode 0600): for
           development only; the ledger records that its key is a software key.
show       prints the key's C2SP verifier key (vkey) on a line of its own, its
           key id and where it lives. Give the vkey to auditors: sealbox verify --key.
`;

async function provision(argv: string[]): Promise<number> {
  if (argv.includes("--tpm")) {
    // The TPM-sealed key has its own command module (it needs a TPM transport).
    const tpmModule = "./cmd-keys-tpm.js";
    if (!existsSync(fileURLToPath(new URL(tpmModule, import.meta.url)))) {
      process.stderr.write("sealbox: TPM provisioning is not available in this build (UNSUPPORTED)\n");
      return 69;
    }
    return ((await import(tpmModule)) as { main(a: string[]): Promise<number> }).main(argv);
  }
  const { values } = parseCommand(argv, { software: { type: "boolean", default: false }, force: { type: "boolean", default: false }, name: { type: "string" } }, false);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const json = values.json === true;
  try {
    const stateDir = requireState(values.state);
    if (!values.software) throw new SealboxError("BAD_ARGUMENT", "say which key: --software (development) or --tpm");
    const { info, replaced } = await provisionSoftwareKey(stateDir, { force: values.force, ...(values.name !== undefined ? { name: values.name } : {}) });
    if (json) {
      process.stdout.write(JSON.stringify({ origin: info.origin, name: info.name, key_id: info.key_id, vkey: info.vkey, public_key: info.public_key, replaced: replaced?.key_id ?? null }) + "\n");
    } else {
      process.stdout.write(
        [
          "provisioned a SOFTWARE signing key (development only: the private key is a file, not sealed in a TPM)",
          `  private key: ${stateDir}/keys/${SOFTWARE_KEY_FILE} (mode 0600)`,
          replaced ? `  replaced key ${replaced.name}+${replaced.key_id}` : undefined,
          "vkey (give this to auditors):",
          info.vkey,
        ]
          .filter((l) => l !== undefined)
          .join("\n") + "\n",
      );
    }
    return 0;
  } catch (e) {
    return report(e, json);
  }
}

async function show(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { tpm: { type: "string" } }, false);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const json = values.json === true;
  try {
    const info = await showKey(requireState(values.state));
    // A TPM key also has a PCR policy, an NV counter index and value: its module prints those.
    if (info.origin === "tpm") return ((await import("./cmd-keys-tpm.js")) as { show(a: string[]): Promise<number> }).show(argv);
    if (json) {
      process.stdout.write(JSON.stringify(info) + "\n");
    } else {
      const where = info.origin === "software" ? "software (development only: the private key is a file on disk)" : "tpm (the seed is sealed in the TPM)";
      process.stdout.write(`vkey:\n${info.vkey}\nkey id: ${info.key_id}\norigin: ${where}\nname:   ${info.name}\ncreated: ${info.created}\n`);
    }
    return 0;
  } catch (e) {
    return report(e, json);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "provision") return provision(rest);
  if (sub === "show") return show(rest);
  if (sub === "acknowledge-rollback") return ((await import("./cmd-keys-tpm.js")) as { acknowledgeRollback(a: string[]): Promise<number> }).acknowledgeRollback(rest);
  if (sub === "--help" || sub === "-h" || sub === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  process.stderr.write(HELP);
  return 64;
}
