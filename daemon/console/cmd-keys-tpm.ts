// `sealbox keys provision --tpm …`, `keys show` of a TPM key and `keys
// acknowledge-rollback`: cmd-keys.ts delegates here. The work is in
// daemon/keys/tpm-cli.ts; this file supplies the box's real ledger, refusing
// while a daemon owns it (one writer per ledger).

import { existsSync } from "node:fs";
import { join } from "node:path";
import { openLedger } from "../ledger/ledger.js";
import { openSigner, readKeyInfo } from "../keys/key-store.js";
import { openTpmSigner } from "../keys/tpm-key.js";
import { type LedgerAccess, acknowledgeRollbackMain, provisionMain, showMain } from "../keys/tpm-cli.js";
import { daemonRunningError, findRunningDaemon } from "./model-ledger.js";

const HELP = `usage:
  sealbox keys provision --state DIR --tpm SPEC [--pcrs 7,…] [--force] [--nv-index 0x01005ea1] [--name NAME] [--json]
  sealbox keys show --state DIR [--tpm SPEC] [--json]
  sealbox keys acknowledge-rollback --state DIR --tpm SPEC --by NAME [--note TEXT]

SPEC: device:/dev/tpmrm0 | swtpm:host=H,port=P | swtpm:path=SOCK | socket:SOCK | swtpm-pipe:DIR
provision  seals a new Ed25519 seed in the TPM to the PCRs (SHA-256 bank, default 7),
           defines the anti-rollback NV counter, prints the vkey for the auditors.
           With --force on a box with a ledger, the change is recorded under the old key.
show       key id, vkey, origin, PCR policy, nv_index, and the counter's value (needs --tpm).
acknowledge-rollback
           after LEDGER_ROLLBACK: records who acknowledged the older ledger, then
           brings the counter and the ledger level (docs/operations.md, "Ledger rollback").
`;

const ledgerAccess: LedgerAccess = {
  exists: async (stateDir) => existsSync(join(stateDir, "ledger")),
  async open(stateDir, signer) {
    const running = await findRunningDaemon(stateDir);
    if (running) throw daemonRunningError(running, "stop it first (systemctl stop sealbox)");
    return openLedger({ stateDir, signer });
  },
  async openCurrentSigner(stateDir, tpm) {
    const info = await readKeyInfo(stateDir);
    return info.origin === "tpm" ? openTpmSigner(stateDir, tpm) : openSigner(stateDir);
  },
};

const io = { out: (t: string) => void process.stdout.write(t), err: (t: string) => void process.stderr.write(t), ledger: ledgerAccess };

/** `keys provision --tpm …` (argv without "provision"). */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(HELP);
    return 0;
  }
  return provisionMain(argv, io);
}

export async function show(argv: string[]): Promise<number> {
  return showMain(argv, io);
}

export async function acknowledgeRollback(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(HELP);
    return 0;
  }
  return acknowledgeRollbackMain(argv, io);
}
