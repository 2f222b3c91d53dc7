// audit.export over the socket: the ledger's own bundle writer
// (daemon/ledger/export.ts) on a read-only handle of the running ledger, so
// a technician can export without stopping the daemon. The bundle is written
// by the daemon's user, into a directory its sandbox allows (the state
// directory, or removable media the unit grants).

import { exportBundle } from "../ledger/export.js";
import { openLedgerReader } from "../ledger/reader.js";
import { readKeyInfo } from "../keys/key-store.js";
import type { ExportPort, JsonObject } from "./ports.js";

export function createExportPort(stateDir: string): ExportPort {
  return {
    async exportBundle(req): Promise<JsonObject> {
      const key = await readKeyInfo(stateDir);
      const reader = await openLedgerReader(stateDir);
      try {
        const r = await exportBundle(reader, req.outDir, { vkey: key.vkey, ...(req.from !== undefined ? { from: req.from } : {}), ...(req.to !== undefined ? { to: req.to } : {}) });
        return { outDir: req.outDir, treeSize: r.treeSize, from: r.from, to: r.to, records: r.records, bytes: r.bytes, vkey: key.vkey, verify: `sealbox verify ${req.outDir} --key '${key.vkey}'` };
      } finally {
        await reader.close();
      }
    },
  };
}
