// The audit log for console commands that change the state directory
// directly (model import/remove, authority add/remove): the box's own ledger
// opened with the box's own key (software or TPM-sealed), closed when the
// command ends. The ledger and key modules are loaded only here, so `sealbox
// model sign` and `authority keygen` (on the authority's offline machine,
// which has no ledger) never load them.
//
// Only one process may write a ledger: while the daemon runs it owns it, and
// a second writer would break its log. So these commands first look for a
// running daemon and refuse (DAEMON_RUNNING) when one answers; `model import`
// then goes through the daemon's model.import method instead.

import { connect } from "node:net";
import { SealboxError } from "../errors.js";
import { ROLES, type Role } from "../rpc/types.js";
import type { AuditLog } from "../ledger/types.js";
import { resolveSocket } from "./client.js";

export interface CliAudit {
  audit: AuditLog;
  close(): Promise<void>;
}

/** stateDir: the directory to use; given: what the user passed (undefined: the default), to find a running daemon. */
export type OpenCliAudit = (stateDir: string, given: string | undefined) => Promise<CliAudit>;

/** --state's default: $SEALBOX_STATE, else the FHS /var/lib/sealbox. */
export function defaultStateDir(given: string | undefined, fhs: string): { stateDir: string; given: string | undefined } {
  const g = given ?? process.env.SEALBOX_STATE;
  return { stateDir: g ?? fhs, given: g };
}

/** Whether something accepts connections on a unix socket (EACCES counts: a daemon may own it). */
function answers(path: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    s.once("connect", () => done(true));
    s.once("error", (e: NodeJS.ErrnoException) => done(e.code === "EACCES" || e.code === "EPERM"));
  });
}

/**
 * The socket of a daemon running on this state directory, if one answers.
 * stateDir undefined means the FHS default (sockets in /run/sealbox).
 */
export async function findRunningDaemon(stateDir: string | undefined, role: Role = "technician"): Promise<string | undefined> {
  const roles = [role, ...ROLES.filter((r) => r !== role)];
  for (const r of roles) {
    const path = resolveSocket({ role: r, ...(stateDir ? { state: stateDir } : {}) }, {});
    if (await answers(path)) return resolveSocket({ role, ...(stateDir ? { state: stateDir } : {}) }, {});
  }
  return undefined;
}

export function daemonRunningError(socket: string, what: string): SealboxError {
  return new SealboxError("DAEMON_RUNNING", `the sealbox daemon is running (it answers on ${socket}) and owns the ledger: ${what}`, { details: { socket } });
}

/**
 * Opens the box's ledger for one command. `given` is the --state the user
 * passed (undefined: the FHS default), used to find a running daemon.
 */
export async function openBoxAudit(stateDir: string, given: string | undefined): Promise<CliAudit> {
  const running = await findRunningDaemon(given);
  if (running) throw daemonRunningError(running, "stop it first (systemctl stop sealbox), or make this change through it");
  let ledgerMod: typeof import("../ledger/ledger.js");
  let keyMod: typeof import("../keys/key-store.js");
  try {
    ledgerMod = await import("../ledger/ledger.js");
    keyMod = await import("../keys/key-store.js");
  } catch (e) {
    throw new SealboxError("UNSUPPORTED", `this sealbox has no ledger to audit the change with (${(e as Error).message}); nothing was changed`, { cause: e });
  }
  const info = await keyMod.readKeyInfo(stateDir);
  let signer: import("../keys/signer.js").Signer;
  let closeKey: () => Promise<void>;
  if (info.origin === "tpm") {
    // The key is sealed in the TPM: unseal it there (SEALBOX_TPM names another TPM, as keys.tpm does in the config).
    const { openTpmKey } = await import("../keys/tpm-open.js");
    const opened = await openTpmKey(stateDir, process.env.SEALBOX_TPM ?? "device:/dev/tpmrm0");
    signer = opened.signer;
    closeKey = () => opened.close();
  } else {
    const s = await keyMod.openSigner(stateDir);
    signer = s;
    closeKey = async () => s.close();
  }
  try {
    const ledger = await ledgerMod.openLedger({ stateDir, signer });
    return {
      audit: ledger,
      async close() {
        try {
          await ledger.close();
        } finally {
          await closeKey();
        }
      },
    };
  } catch (e) {
    await closeKey();
    throw e;
  }
}

export const openCliAudit: OpenCliAudit = openBoxAudit;
