// Child for the disk-full test, run inside a mount namespace where
// STATE/ledger is a small tmpfs: appends until the disk is full, then
// exports and verifies what was acknowledged (the tmpfs vanishes with the
// namespace, so the checks happen here). Prints one JSON line per event.
// argv: STATE_DIR OUT_DIR VKEY

import { openSigner } from "../../daemon/keys/key-store.js";
import { openLedger } from "../../daemon/ledger/ledger.js";
import { openLedgerReader } from "../../daemon/ledger/reader.js";
import { exportBundle } from "../../daemon/ledger/export.js";
import { verifyBundle } from "../../daemon/ledger/verify.js";
import { toSealboxError } from "../../daemon/errors.js";

const [stateDir, outDir, vkey] = process.argv.slice(2) as [string, string, string];
const say = (o: unknown): void => void process.stdout.write(JSON.stringify(o) + "\n");
const signer = await openSigner(stateDir);
// No cap of our own: only the file system can say no.
const ledger = await openLedger({ stateDir, signer, mapSizeBytes: 64 * 1024 ** 3 });
let acked = 0;
let failure: { code: string; message: string } | undefined;
for (let round = 0; round < 10_000 && !failure; round++) {
  const results = await Promise.allSettled(
    Array.from({ length: 10 }, (_, i) => ledger.append({ actor: { role: "system", transport: "internal", peer: "-" }, category: "test", action: "fill", outcome: "info", details: { n: round * 10 + i, pad: "x".repeat(800) } })),
  );
  for (const r of results) {
    if (r.status === "fulfilled") acked = Math.max(acked, r.value.seq + 1);
    else failure ??= { code: toSealboxError(r.reason).code, message: toSealboxError(r.reason).message };
  }
}
say({ acked, size: ledger.size(), failure });
const again = await ledger.append({ actor: { role: "system", transport: "internal", peer: "-" }, category: "test", action: "again", outcome: "info", details: { pad: "y".repeat(2000) } }).then(
  () => "accepted",
  (e: unknown) => toSealboxError(e).code,
);
say({ again });
await ledger.close();
const reader = await openLedgerReader(stateDir);
await exportBundle(reader, outDir, { vkey });
await reader.close();
const report = await verifyBundle(outDir, { key: vkey });
say({ verified: report.treeSize });
