// The daemon's side of anti-rollback, for daemon/main.ts: check the TPM
// counter against the ledger before anything else is appended (a rolled-back
// ledger must not be served, nor written to, until a technician acknowledges),
// start the epoch timer, have the TPM certify the counter after each increment
// (DIR/keys/counter-certificate.json), and bump on clean shutdown — registered
// right after the ledger, so it runs before the ledger closes.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Lifecycle } from "../lifecycle.js";
import type { ExportPort } from "../rpc/ports.js";
import type { Logger } from "../log.js";
import type { AuditLog } from "../ledger/types.js";
import { AntiRollback, type CounterLedgerView } from "./anti-rollback.js";
import { COUNTER_CERT_FILE, certifyCounter, readCounterCertificate, writeCounterCertificate } from "./counter-certificate.js";
import type { OpenedTpmKey } from "./tpm-open.js";

export interface StartAntiRollbackOptions {
  stateDir: string;
  key: OpenedTpmKey;
  ledger: AuditLog & CounterLedgerView & { latestCheckpoint(): string | undefined };
  /** [ledger] checkpoint_epoch_minutes. */
  epochMinutes: number;
  lifecycle: Lifecycle;
  log?: Logger;
  /** Write a counter certificate after each increment. Defaults to true when the key has an attestation key. */
  certify?: boolean;
}

/** Throws LEDGER_ROLLBACK when the TPM counter is ahead of the ledger. */
export async function startAntiRollback(o: StartAntiRollbackOptions): Promise<AntiRollback> {
  const meta = o.key.signer.meta;
  const certify = o.certify ?? meta.attestation_key !== undefined;
  const ar = new AntiRollback({
    counter: o.key.counter,
    audit: o.ledger,
    ledger: o.ledger,
    baseline: BigInt(meta.nv_baseline),
    epochMinutes: o.epochMinutes,
    ...(o.log ? { log: o.log } : {}),
    ...(certify
      ? {
          onIncremented: async () => {
            const note = o.ledger.latestCheckpoint();
            if (note !== undefined) await writeCounterCertificate(o.stateDir, await certifyCounter(o.key.tpm, meta, note));
          },
        }
      : {}),
  });
  const r = await ar.check();
  o.log?.info("anti-rollback check passed", { counter: r.tpm.toString(), ledger: r.expected.value.toString(), state: r.state });
  ar.start();
  o.lifecycle.onClose("anti-rollback", async () => {
    await ar.close();
    await ar.bump("shutdown");
  });
  return ar;
}

/**
 * An export through the daemon bumps the counter first (recorded, then
 * incremented: "on every export"), and puts the fresh counter certificate
 * into the bundle, where `sealbox verify` checks it.
 */
export function exportWithCounter(inner: ExportPort, ar: AntiRollback, stateDir: string): ExportPort {
  return {
    async exportBundle(req, actor) {
      const counter = await ar.bump("export");
      const result = await inner.exportBundle(req, actor);
      const cert = await readCounterCertificate(stateDir);
      if (cert !== undefined) await writeFile(join(req.outDir, COUNTER_CERT_FILE), JSON.stringify(cert, null, 2) + "\n", { mode: 0o644, flag: "wx" });
      return { ...result, counter: counter.toString(), counter_certificate: cert !== undefined };
    },
  };
}
