// The audit log for console commands that change the state directory
// directly (model import/remove, authority add/remove): the box's own ledger
// opened with the box's own key, closed when the command ends. The ledger and
// key store are loaded when needed, so `sealbox model sign` and `authority
// keygen` (run on the authority's offline machine, which has no ledger) never touch them.

import { SealboxError } from "../errors.js";
import type { Signer } from "../keys/signer.js";
import type { AuditLog } from "../ledger/types.js";

export interface CliAudit {
  audit: AuditLog;
  close(): Promise<void>;
}

interface LedgerModule {
  openLedger(options: { stateDir: string; signer: Signer }): Promise<AuditLog & { close(): Promise<void> | void }>;
}
interface KeyStoreModule {
  openSigner(stateDir: string): Promise<Signer>;
}

// Computed specifiers: the ledger is another part of the box, built beside this one.
const LEDGER_MODULE = "../ledger/ledger.js";
const KEY_STORE_MODULE = "../keys/key-store.js";

export type OpenCliAudit = (stateDir: string) => Promise<CliAudit>;

export const openCliAudit: OpenCliAudit = async (stateDir) => {
  let ledgerMod: LedgerModule;
  let keyMod: KeyStoreModule;
  try {
    ledgerMod = (await import(LEDGER_MODULE)) as LedgerModule;
    keyMod = (await import(KEY_STORE_MODULE)) as KeyStoreModule;
  } catch (e) {
    throw new SealboxError("UNSUPPORTED", `this sealbox has no ledger to audit the change with (${(e as Error).message}); nothing was changed`, { cause: e });
  }
  const signer = await keyMod.openSigner(stateDir);
  try {
    const ledger = await ledgerMod.openLedger({ stateDir, signer });
    return {
      audit: ledger,
      async close() {
        try {
          await ledger.close();
        } finally {
          signer.close();
        }
      },
    };
  } catch (e) {
    signer.close();
    throw e;
  }
};
