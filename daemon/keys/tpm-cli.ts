// The TPM side of `sealbox keys`: provision, show, acknowledge-rollback.
// daemon/console/cmd-keys.ts delegates here when --tpm is given (or the key
// in DIR is a TPM key). The ledger is reached through LedgerAccess, which
// cmd-keys supplies, so this file does not depend on how the ledger opens.

import { parseArgs } from "node:util";
import { ERRORS, SealboxError, isSealboxError, toSealboxError } from "../errors.js";
import type { AuditLog } from "../ledger/types.js";
import { ensureBox } from "../box.js";
import { AntiRollback, type CounterLedgerView } from "./anti-rollback.js";
import type { Signer } from "./signer.js";
import { openTpmKey } from "./tpm-open.js";
import { DEFAULT_PCRS, provisionTpmKey, showTpmKey } from "./tpm-key.js";
import { readTpmKey } from "./tpm-key-file.js";
import { openTpmTransport } from "../../hal/tpm/transport/open.js";
import type { TpmTransport } from "../../hal/index.js";

export interface OpenedLedger extends AuditLog, CounterLedgerView {
  close(): Promise<void>;
}

export interface LedgerAccess {
  /** Whether DIR has a ledger already (re-provisioning is audited only then). */
  exists(stateDir: string): Promise<boolean>;
  /** Opens the box's ledger signing with `signer`. */
  open(stateDir: string, signer: Signer): Promise<OpenedLedger>;
  /** Opens the signer the box has now (any origin; a TPM key through `tpm`), to record a re-provisioning under the old key. */
  openCurrentSigner(stateDir: string, tpm: TpmTransport): Promise<Signer>;
}

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  ledger?: LedgerAccess;
}

const defaultIo: CliIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) };

function fail(io: CliIo, e: unknown): number {
  // node:util parseArgs reports unknown or malformed options as TypeErrors with an ERR_PARSE_ARGS_* code.
  const code = (e as { code?: unknown } | undefined)?.code;
  const err = typeof code === "string" && code.startsWith("ERR_PARSE_ARGS") ? new SealboxError("BAD_ARGUMENT", (e as Error).message) : toSealboxError(e);
  io.err(`sealbox keys: ${err.message}${err.code !== "INTERNAL" ? ` (${err.code})` : ""}\n`);
  return ERRORS[err.code].exitCode;
}

function parsePcrs(text: string | undefined): number[] {
  if (text === undefined) return [...DEFAULT_PCRS];
  if (!/^\d{1,2}(,\d{1,2})*$/.test(text)) throw new SealboxError("BAD_ARGUMENT", `--pcrs takes PCR indices like 7 or 0,2,7, got '${text}'`);
  return text.split(",").map(Number);
}

function parseNvIndex(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^(0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(text)) throw new SealboxError("BAD_ARGUMENT", `--nv-index takes a handle like 0x01005ea1, got '${text}'`);
  return Number(text);
}

function required(v: string | undefined, flag: string): string {
  if (v === undefined || v === "") throw new SealboxError("BAD_ARGUMENT", `${flag} is required`);
  return v;
}

/** sealbox keys provision --state DIR --tpm SPEC [--pcrs 7,…] [--force] [--nv-index H] [--name NAME] [--json] */
export async function provisionMain(argv: string[], io: CliIo = defaultIo): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { state: { type: "string" }, tpm: { type: "string" }, pcrs: { type: "string" }, force: { type: "boolean" }, "nv-index": { type: "string" }, name: { type: "string" }, json: { type: "boolean" } },
      strict: true,
    });
    const stateDir = required(values.state, "--state DIR");
    const spec = required(values.tpm, "--tpm SPEC");
    const pcrs = parsePcrs(values.pcrs);
    const nvIndex = parseNvIndex(values["nv-index"]);
    const box = await ensureBox(stateDir);
    const name = values.name ?? `sealbox.local/${box.box_id}`;

    const transport = await openTpmTransport(spec);
    // Re-provisioning a box that has a ledger is recorded in it, signed by the key being replaced.
    let ledger: OpenedLedger | undefined;
    let oldSigner: Signer | undefined;
    try {
      if (values.force && io.ledger && (await io.ledger.exists(stateDir))) {
        try {
          oldSigner = await io.ledger.openCurrentSigner(stateDir, transport);
        } catch (e) {
          // The usual reason to re-provision: the old key no longer unseals (firmware update → PCR_MISMATCH).
          // Then the change cannot be signed by the old key; the ledger records it (ledger.key-change) at the next start, under the new key.
          if (!isSealboxError(e, "PCR_MISMATCH") && !isSealboxError(e, "KEY_UNAVAILABLE")) throw e;
          io.err(`sealbox keys: the current key cannot sign (${toSealboxError(e).code}); the key change will be recorded at the next start under the new key\n`);
        }
        if (oldSigner) ledger = await io.ledger.open(stateDir, oldSigner);
      }
      const r = await provisionTpmKey(stateDir, transport, { pcrs, force: values.force ?? false, nvIndex, name, ...(ledger ? { audit: ledger } : {}) });
      if (values.json) {
        io.out(JSON.stringify({ origin: "tpm", name: r.meta.name, key_id: r.keyId, vkey: r.vkey, pcrs: r.meta.pcrs, pcr_bank: r.meta.pcr_bank, nv_index: r.meta.nv_index, counter: r.counter.toString(), replaced: r.replaced }) + "\n");
      } else {
        io.out(
          `${r.replaced ? "replaced the key: " : ""}TPM key provisioned in ${stateDir}/keys\n` +
            `  sealed to ${r.meta.pcr_bank} PCRs ${r.meta.pcrs.join(",")}; anti-rollback counter 0x${r.meta.nv_index.toString(16).padStart(8, "0")} = ${r.counter}\n` +
            `  key id ${r.keyId}\n` +
            `give this verifier key to the auditors:\n${r.vkey}\n`,
        );
      }
      return 0;
    } finally {
      await ledger?.close();
      oldSigner?.close();
      await transport.close();
    }
  } catch (e) {
    return fail(io, e);
  }
}

/** sealbox keys show --state DIR [--tpm SPEC] [--json] for a TPM key (the counter's value needs --tpm). */
export async function showMain(argv: string[], io: CliIo = defaultIo): Promise<number> {
  try {
    const { values } = parseArgs({ args: argv, options: { state: { type: "string" }, tpm: { type: "string" }, json: { type: "boolean" } }, strict: true });
    const stateDir = required(values.state, "--state DIR");
    const transport = values.tpm ? await openTpmTransport(values.tpm) : undefined;
    try {
      const s = await showTpmKey(stateDir, transport);
      if (values.json) {
        io.out(JSON.stringify(s) + "\n");
      } else {
        io.out(
          `origin     tpm (sealed Ed25519 seed)\n` +
            `name       ${s.name}\n` +
            `key id     ${s.key_id}\n` +
            `policy     PolicyPCR ${s.pcr_bank}:${s.pcrs.join(",")} (digest ${s.policy_digest})\n` +
            `nv_index   0x${s.nv_index.toString(16).padStart(8, "0")}\n` +
            `counter    ${s.counter ?? "(give --tpm SPEC to read it)"}\n` +
            `created    ${s.created}\n` +
            `vkey:\n${s.vkey}\n`,
        );
      }
      return 0;
    } finally {
      await transport?.close();
    }
  } catch (e) {
    return fail(io, e);
  }
}

/** sealbox keys acknowledge-rollback --state DIR --tpm SPEC --by NAME [--note TEXT] */
export async function acknowledgeRollbackMain(argv: string[], io: CliIo = defaultIo): Promise<number> {
  try {
    const { values } = parseArgs({ args: argv, options: { state: { type: "string" }, tpm: { type: "string" }, by: { type: "string" }, note: { type: "string" } }, strict: true });
    const stateDir = required(values.state, "--state DIR");
    const spec = required(values.tpm, "--tpm SPEC");
    const by = required(values.by, "--by NAME");
    if (!io.ledger) throw new SealboxError("UNSUPPORTED", "this build has no ledger access for acknowledge-rollback");
    const { meta } = await readTpmKey(stateDir);
    const key = await openTpmKey(stateDir, spec);
    try {
      const ledger = await io.ledger.open(stateDir, key.signer);
      try {
        const ar = new AntiRollback({ counter: key.counter, audit: ledger, ledger, baseline: BigInt(meta.nv_baseline), actor: { role: "admin", transport: "cli", peer: by } });
        const r = await ar.acknowledge(by, values.note ?? "");
        io.out(`rollback acknowledged by ${by}: the TPM counter was at ${r.tpm}, the ledger's newest value ${r.ledger}; recorded, and the counter is now ${r.now}.\n`);
        return 0;
      } finally {
        await ledger.close();
      }
    } finally {
      await key.close();
    }
  } catch (e) {
    return fail(io, e);
  }
}
