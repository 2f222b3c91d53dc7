// docs/formats.md is enough to verify the box's exports: a verifier written
// from it alone (test/helpers/independent-verifier.ts) agrees with
// `sealbox verify` on real bundles, partial ones, trusted checkpoints,
// single-record proofs, and on every tampered variant.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openLedger } from "../../../daemon/ledger/ledger.js";
import { openLedgerReader } from "../../../daemon/ledger/reader.js";
import { exportBundle } from "../../../daemon/ledger/export.js";
import { verifyBundle } from "../../../daemon/ledger/verify.js";
import { formatTlogProof } from "../../../daemon/ledger/tlog-proof.js";
import { independentVerify, independentVerifyProof } from "../../helpers/independent-verifier.js";
import { event, tempState, type TempState } from "../../helpers/ledger-harness.js";

let s: TempState;
after(async () => s?.cleanup());

test("the independent verifier and sealbox verify agree, on good and tampered bundles", async () => {
  s = await tempState();
  const ledger = await openLedger({ stateDir: s.dir, signer: s.signer });
  for (let i = 1; i < 21; i++) await ledger.append(event(i, { details: { i, text: "é\u2028😀\"\\" } }));
  await ledger.close();
  const trustedAt21 = (await openLedgerReader(s.dir).then(async (r) => [r.latestCheckpoint()!, await r.close()]))[0] as string;
  const l2 = await openLedger({ stateDir: s.dir, signer: s.signer });
  for (let i = 21; i < 45; i++) await l2.append(event(i));
  await l2.close();

  const reader = await openLedgerReader(s.dir);
  const root = join(s.dir, "..");
  const bundles: { dir: string; trusted: boolean }[] = [];
  let k = 0;
  for (const [from, to, withTrusted] of [
    [0, 45, false],
    [0, 45, true],
    [0, 10, true],
    [13, 29, true],
    [21, 45, true],
    [44, 45, false],
    [7, 7, false],
  ] as const) {
    const dir = join(root, `b${k++}`);
    await exportBundle(reader, dir, { vkey: s.vkey, from, to, ...(withTrusted ? { trustedCheckpoint: trustedAt21 } : {}) });
    bundles.push({ dir, trusted: withTrusted });
  }
  // Single-record proofs.
  const size = reader.size();
  for (const seq of [0, 1, 20, 44]) {
    const text = formatTlogProof({ extra: reader.recordBytes(seq)!, index: seq, proof: reader.inclusionProof(seq, size), checkpoint: reader.latestCheckpoint()! });
    assert.equal(independentVerifyProof(text, s.vkey), seq);
    assert.throws(() => independentVerifyProof(text.replace(/^index \d+/m, `index ${seq === 0 ? 1 : 0}`), s.vkey));
  }
  await reader.close();

  let tampered = 0;
  let refusedByBoth = 0;
  for (const { dir, trusted } of bundles) {
    const trustedNote = trusted ? trustedAt21 : undefined;
    const ours = await verifyBundle(dir, { key: s.vkey, ...(trustedNote ? { trusted: trustedNote } : {}) });
    const theirs = independentVerify(dir, s.vkey, trustedNote);
    assert.equal(theirs.size, ours.treeSize);
    assert.equal(theirs.records, ours.records);
    // Tampered copies: both must refuse.
    const lines = (await readFile(join(dir, "records.jsonl"), "utf8")).split("\n").slice(0, -1);
    const manifest = await readFile(join(dir, "bundle.json"), "utf8");
    const variants: [string, (d: string) => Promise<void>][] = [
      ["records.jsonl", async (d) => void (lines.length && (await writeFile(join(d, "records.jsonl"), [lines[0]!.replace('"box":"', '"box":"x'), ...lines.slice(1)].map((l) => l + "\n").join(""))))],
      ["bundle.json left", async (d) => void (await writeFile(join(d, "bundle.json"), manifest.replace(/"left": \[\n\s+"(.)/, (m, c: string) => m.slice(0, -1) + (c === "A" ? "B" : "A"))))],
      ["bundle.json right", async (d) => void (await writeFile(join(d, "bundle.json"), manifest.replace(/"right": \[\n\s+"(.)/, (m, c: string) => m.slice(0, -1) + (c === "A" ? "B" : "A"))))],
    ];
    for (const [what, edit] of variants) {
      const copy = join(root, `t${tampered++}`);
      await mkdir(copy);
      await cp(dir, copy, { recursive: true });
      await edit(copy);
      const changed = (await readFile(join(copy, "records.jsonl"), "utf8")) !== lines.map((l) => l + "\n").join("") || (await readFile(join(copy, "bundle.json"), "utf8")) !== manifest;
      if (!changed) continue; // nothing to change here (an empty records file, no left/right hashes): counted below
      await assert.rejects(verifyBundle(copy, { key: s.vkey, ...(trustedNote ? { trusted: trustedNote } : {}) }), `sealbox verify: ${what} in ${dir}`);
      assert.throws(() => independentVerify(copy, s.vkey, trustedNote), `independent: ${what} in ${dir}`);
      refusedByBoth++;
    }
  }
  assert.ok(refusedByBoth >= 12, `only ${refusedByBoth} tampered variants were checked`);
});
