// Anti-rollback end to end: a real swtpm NV counter and the real LMDB ledger.
// An operator copies the ledger, the box goes on (records, increments), the
// copy is restored: the start check sees the TPM ahead of the ledger and
// refuses (LEDGER_ROLLBACK) until a technician acknowledges.

import assert from "node:assert/strict";
import { cp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ensureBox } from "../../../daemon/box.js";
import { isSealboxError } from "../../../daemon/errors.js";
import { AntiRollback, COUNTER_ACTION, ROLLBACK_ACK_ACTION, lastRecordedCounter } from "../../../daemon/keys/anti-rollback.js";
import { certifyCounter, verifyCounterCertificate } from "../../../daemon/keys/counter-certificate.js";
import { verifyCounterEvidence } from "../../../daemon/keys/counter-evidence.js";
import { type OpenedTpmKey, openTpmKey } from "../../../daemon/keys/tpm-open.js";
import { provisionTpmKey } from "../../../daemon/keys/tpm-key.js";
import { openLedger, type Ledger } from "../../../daemon/ledger/ledger.js";
import { openTpmTransport } from "../../../hal/tpm/transport/open.js";
import { makeTempDir } from "../../helpers/swtpm.js";

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let box: string;
let spec: string;

before(async () => {
  tmp = await makeTempDir();
  box = join(tmp.dir, "box");
  spec = `swtpm-pipe:${join(tmp.dir, "tpm")}`;
  const info = await ensureBox(box);
  const t = await openTpmTransport(spec);
  try {
    await provisionTpmKey(box, t, { name: `sealbox.local/${info.box_id}` });
  } finally {
    await t.close();
  }
});
after(async () => tmp.cleanup());

/** One "run" of the box: key, ledger, anti-rollback; fn does the work; everything is closed after. */
async function run<T>(fn: (ctx: { key: OpenedTpmKey; ledger: Ledger; ar: AntiRollback }) => Promise<T>): Promise<T> {
  const key = await openTpmKey(box, spec);
  try {
    const ledger = await openLedger({ stateDir: box, signer: key.signer });
    try {
      const ar = new AntiRollback({ counter: key.counter, audit: ledger, ledger, baseline: BigInt(key.signer.meta.nv_baseline), epochMinutes: 60 });
      try {
        return await fn({ key, ledger, ar });
      } finally {
        await ar.close();
      }
    } finally {
      await ledger.close();
    }
  } finally {
    await key.close();
  }
}

const chat = { actor: { role: "user", transport: "http", peer: "1000" }, category: "inference", action: "chat", outcome: "success" as const };

test("in step across clean runs: each shutdown bump is recorded before it happens and checked at the next start", async () => {
  for (let i = 0; i < 3; i++) {
    await run(async ({ ledger, ar }) => {
      assert.equal((await ar.check()).state, "in-step");
      await ledger.append(chat);
      await ar.bump("shutdown");
    });
  }
  await run(async ({ ledger, key }) => {
    const last = lastRecordedCounter(ledger)!;
    assert.equal(last.value, await key.counter.read());
    assert.equal(ledger.record(last.seq!)!.outcome, "success");
  });
});

test("a restored older copy of the ledger is detected at start; acknowledged, it is recorded and the box can start again", async () => {
  const backup = join(tmp.dir, "ledger-backup");
  await cp(join(box, "ledger"), backup, { recursive: true }); // the operator's copy (box stopped)
  await run(async ({ ledger, ar }) => {
    await ledger.append(chat);
    await ar.bump("export");
    await ledger.append(chat);
    await ar.bump("shutdown");
  });
  await rm(join(box, "ledger"), { recursive: true });
  await cp(backup, join(box, "ledger"), { recursive: true }); // …restored

  await run(async ({ ar }) => {
    await assert.rejects(ar.check(), (e) => {
      assert.ok(isSealboxError(e, "LEDGER_ROLLBACK"), String(e));
      assert.match((e as Error).message, /The ledger is older than the TPM: the TPM NV counter 0x01005ea1 is at \d+, but the newest counter value the ledger recorded is \d+ \(ledger record #\d+\)/);
      return true;
    });
  });
  // Still refused on the next start: nothing changes until someone acknowledges.
  await run(async ({ ar }) => assert.rejects(ar.check(), (e) => isSealboxError(e, "LEDGER_ROLLBACK")));
  await run(async ({ ar, ledger }) => {
    const r = await ar.acknowledge("J. Technician", "restored from backup");
    assert.equal(r.tpm - r.ledger, 2n, "two increments were lost with the restored copy");
    const acks = Array.from({ length: ledger.size() }, (_, i) => ledger.record(i)!).filter((x) => x.action === ROLLBACK_ACK_ACTION);
    assert.equal(acks.length, 1);
  });
  await run(async ({ ar }) => assert.equal((await ar.check()).state, "in-step"));
});

test("a counter certificate binds the TPM's counter to the ledger's current checkpoint", async () => {
  await run(async ({ key, ledger, ar }) => {
    const value = await ar.bump("export");
    const note = ledger.latestCheckpoint()!;
    const cert = await certifyCounter(key.tpm, key.signer.meta, note);
    assert.equal(verifyCounterCertificate(cert, note, key.signer.meta.attestation_key), value);
    // The checkpoint covers the success record of that very value.
    const last = lastRecordedCounter(ledger)!;
    assert.equal(last.value, value);
    assert.ok(last.seq! < ledger.size());
    assert.equal(ledger.record(last.seq!)!.action, COUNTER_ACTION);

    // As it travels in a bundle: the checkpoint it carries must be signed by the box's key.
    const vkey = key.signer.meta.vkey;
    const ev = verifyCounterEvidence(JSON.stringify(cert), vkey);
    assert.equal(ev.counter, value);
    assert.equal(ev.treeSize, ledger.size());
    const other = "sealbox.local/other+" + vkey.split("+").slice(1).join("+");
    assert.throws(() => verifyCounterEvidence(JSON.stringify(cert), other), (e) => isSealboxError(e, "VERIFY_FAILED"));
    const forged = { ...cert, checkpoint: cert.checkpoint.replace(/\n\d+\n/, "\n999\n") };
    assert.throws(() => verifyCounterEvidence(JSON.stringify(forged), vkey), (e) => isSealboxError(e, "VERIFY_FAILED") && /not signed by the box's key/.test((e as Error).message));
    for (const text of ["{", "null", "[]", JSON.stringify({ ...cert, checkpoint: 5 }), " ".repeat(70_000)]) {
      assert.throws(() => verifyCounterEvidence(text, vkey), (e) => isSealboxError(e, "VERIFY_FAILED"), text.slice(0, 20));
    }
  });
});
