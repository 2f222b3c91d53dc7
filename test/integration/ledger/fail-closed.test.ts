// No audit, no action: when the ledger cannot write, append() rejects with a
// documented code, nothing half-written is left, and the log stays verifiable.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { isSealboxError } from "../../../daemon/errors.js";
import { openLedger } from "../../../daemon/ledger/ledger.js";
import { openLedgerReader } from "../../../daemon/ledger/reader.js";
import { exportBundle } from "../../../daemon/ledger/export.js";
import { verifyBundle } from "../../../daemon/ledger/verify.js";
import { event, tempState } from "../../helpers/ledger-harness.js";

async function exportAndVerify(stateDir: string, out: string, vkey: string): Promise<number> {
  const reader = await openLedgerReader(stateDir);
  try {
    await exportBundle(reader, out, { vkey });
  } finally {
    await reader.close();
  }
  return (await verifyBundle(out, { key: vkey })).treeSize;
}

test("with a tiny map, appends reject with LEDGER_FULL and the ledger stays verifiable", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const mapSizeBytes = 256 * 1024;
  const ledger = await openLedger({ stateDir: s.dir, signer: s.signer, mapSizeBytes });
  let accepted = 0;
  let full: unknown;
  for (let round = 0; round < 1000 && full === undefined; round++) {
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => ledger.append(event(round * 20 + i, { details: { pad: "p".repeat(500) } }))));
    for (const r of results) {
      if (r.status === "fulfilled") accepted++;
      else full ??= r.reason;
    }
  }
  assert.ok(isSealboxError(full, "LEDGER_FULL"), `expected LEDGER_FULL, got ${String(full)}`);
  assert.match((full as Error).message, /the action was not performed/);
  assert.ok(accepted > 50, `only ${accepted} appends fit`);
  const size = ledger.size();
  assert.equal(size, accepted + 1, "every resolved append is in the log, nothing else is");
  // It keeps refusing, and refusing does not change the log.
  await assert.rejects(ledger.append(event(-1, { details: { pad: "p".repeat(20_000) } })), (e: unknown) => isSealboxError(e, "LEDGER_FULL"));
  assert.equal(ledger.size(), size);
  assert.ok(ledger.stats().usedBytes <= mapSizeBytes, "the file stayed under the cap");
  await ledger.close();

  assert.equal(await exportAndVerify(s.dir, join(s.dir, "..", "out1"), s.vkey), size);

  // Given room again (a larger cap), the same log carries on.
  const bigger = await openLedger({ stateDir: s.dir, signer: s.signer, mapSizeBytes: 16 * 1024 * 1024 });
  const r = await bigger.append(event(5000));
  assert.equal(r.seq, size);
  await bigger.close();
  assert.equal(await exportAndVerify(s.dir, join(s.dir, "..", "out2"), s.vkey), size + 1);
});

test("a cap too small for even the first record fails the open, cleanly", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  await assert.rejects(openLedger({ stateDir: s.dir, signer: s.signer, mapSizeBytes: 8 * 1024 }), (e: unknown) => isSealboxError(e, "LEDGER_FULL"));
  // Nothing was acknowledged, and a later open with room works from record 0.
  const ledger = await openLedger({ stateDir: s.dir, signer: s.signer, mapSizeBytes: 1024 * 1024 });
  assert.equal(ledger.record(0)!.action, "ledger.create");
  await ledger.close();
});
