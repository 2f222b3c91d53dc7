// The ledger over real LMDB in a temporary directory.

import { test } from "node:test";
import assert from "node:assert/strict";
import { open as openLmdb } from "lmdb";
import { join } from "node:path";
import { SealboxError, isSealboxError } from "../../../daemon/errors.js";
import { openLedger } from "../../../daemon/ledger/ledger.js";
import { openLedgerReader } from "../../../daemon/ledger/reader.js";
import { openCheckpoint } from "../../../daemon/ledger/checkpoint.js";
import { leafHash, verifyConsistency, verifyInclusion } from "../../../daemon/ledger/merkle.js";
import { parseVkey } from "../../../daemon/ledger/note.js";
import { generateSeed, softwareSignerFromSeed } from "../../../daemon/keys/software-key.js";
import { nodeKey, seqKey } from "../../../daemon/ledger/store.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { event, tempState } from "../../helpers/ledger-harness.js";

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isSealboxError(e), `not a SealboxError: ${String(e)}`);
    assert.equal((e as { code: string }).code, code, (e as Error).message);
    return true;
  });
}

test("a new ledger starts with a record naming its origin and its software key", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const ledger = await openLedger({ stateDir: s.dir, signer: s.signer });
  t.after(() => ledger.close());
  assert.equal(ledger.size(), 1);
  const first = ledger.record(0)!;
  assert.equal(first.action, "ledger.create");
  assert.equal(first.seq, 0);
  const key = first.details!.key as Record<string, string>;
  assert.equal(key.origin, "software");
  assert.equal(key.vkey, s.vkey);
  assert.match(String(first.details!.warning), /software key/);
  assert.match(ledger.origin, /\/software$/, "the origin says software too");
  const cp = openCheckpoint(ledger.latestCheckpoint()!, [parseVkey(s.vkey)], ledger.origin);
  assert.equal(cp.size, 1);
});

test("concurrent appends share batches, and every receipt's checkpoint proves its record", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const ledger = await openLedger({ stateDir: s.dir, signer: s.signer });
  t.after(() => ledger.close());
  const seen: { size: number; note: string }[] = [];
  const off = ledger.onCheckpoint((size, note) => seen.push({ size, note }));
  const before = ledger.stats().batches;
  const receipts = await Promise.all(Array.from({ length: 500 }, (_, i) => ledger.append(event(i))));
  const batches = ledger.stats().batches - before;
  assert.ok(batches < 50, `500 concurrent appends took ${batches} batches`);
  assert.equal(seen.length, batches, "one checkpoint per batch");
  const verifier = parseVkey(s.vkey);
  const seqs = new Set<number>();
  for (const [i, r] of receipts.entries()) {
    seqs.add(r.seq);
    assert.ok(r.seq < r.treeSize, "the covering checkpoint includes the record");
    const cp = openCheckpoint(r.checkpoint, [verifier], ledger.origin);
    assert.equal(cp.size, r.treeSize);
    const bytes = ledger.recordBytes(r.seq)!;
    assert.equal(ledger.record(r.seq)!.details!.i, i, "appends keep their order within the log");
    verifyInclusion(r.seq, cp.size, leafHash(bytes), ledger.inclusionProof(r.seq, cp.size), cp.rootHash);
  }
  assert.equal(seqs.size, 500);
  // Every earlier checkpoint is consistent with the latest.
  const latest = openCheckpoint(ledger.latestCheckpoint()!, [verifier]);
  for (const { size, note } of seen) {
    const cp = openCheckpoint(note, [verifier]);
    assert.equal(cp.size, size);
    verifyConsistency(size, latest.size, ledger.consistencyProof(size, latest.size), cp.rootHash, latest.rootHash);
  }
  off();
  await ledger.append(event(999));
  assert.equal(seen.length, batches, "unsubscribed listeners hear nothing");
});

test("state survives close and reopen; a read-only reader sees the same log", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const a = await openLedger({ stateDir: s.dir, signer: s.signer });
  for (let i = 0; i < 37; i++) await a.append(event(i));
  const note = a.latestCheckpoint();
  await a.close();
  await a.close(); // idempotent
  await rejectsWith(a.append(event(0)), "LEDGER_CLOSED");

  const reader = await openLedgerReader(s.dir);
  assert.equal(reader.size(), 38);
  assert.equal(reader.latestCheckpoint(), note);
  assert.equal(reader.record(5)!.details!.i, 4);
  assert.equal(reader.recordBytes(38), undefined);
  assert.equal(reader.record(-1), undefined);
  await reader.close();

  const b = await openLedger({ stateDir: s.dir, signer: s.signer });
  t.after(() => b.close());
  assert.equal(b.size(), 38, "no new genesis record on reopen");
  const r = await b.append(event(100));
  assert.equal(r.seq, 38);
  const cp = openCheckpoint(r.checkpoint, [parseVkey(s.vkey)]);
  verifyInclusion(5, cp.size, leafHash(b.recordBytes(5)!), b.inclusionProof(5, cp.size), cp.rootHash);
});

test("a reader in the same process follows the writer", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const ledger = await openLedger({ stateDir: s.dir, signer: s.signer });
  t.after(() => ledger.close());
  const reader = await openLedgerReader(s.dir);
  t.after(() => reader.close());
  await ledger.append(event(1));
  await new Promise((r) => setTimeout(r, 5)); // a new event turn renews the read snapshot
  assert.equal(reader.size(), 2);
  assert.equal(reader.record(1)!.target, "t-1");
});

test("bad events are refused with a code, and the ledger carries on", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const ledger = await openLedger({ stateDir: s.dir, signer: s.signer });
  t.after(() => ledger.close());
  await rejectsWith(ledger.append({ ...event(1), outcome: "maybe" as never }), "RECORD_INVALID");
  await rejectsWith(ledger.append({ ...event(1), details: { n: Number.NaN } }), "RECORD_INVALID");
  await rejectsWith(ledger.append({ ...event(1), details: { pad: "x".repeat(70_000) } }), "RECORD_TOO_LARGE");
  const ok = await ledger.append({ ...event(2), details: { pad: "x".repeat(60_000), ref: "sha256:…" } });
  assert.equal(ok.seq, 1);
  assert.equal(ledger.size(), 2);
});

test("a signer that cannot sign fails the batch with KEY_UNAVAILABLE, and the tree is rolled back", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  let broken = false;
  const flaky = {
    name: s.signer.name,
    origin: s.signer.origin,
    publicKey: s.signer.publicKey,
    sign: (m: Uint8Array): Uint8Array => {
      if (broken) throw new SealboxError("KEY_UNAVAILABLE", "the TPM went away");
      return s.signer.sign(m);
    },
    close: () => undefined,
  };
  const log = createMemoryLogger();
  const ledger = await openLedger({ stateDir: s.dir, signer: flaky, log });
  t.after(() => ledger.close());
  await ledger.append(event(1));
  broken = true;
  const results = await Promise.allSettled([ledger.append(event(2)), ledger.append(event(3))]);
  for (const r of results) {
    assert.equal(r.status, "rejected");
    assert.equal((r as PromiseRejectedResult).reason.code, "KEY_UNAVAILABLE");
  }
  assert.equal(ledger.size(), 2, "nothing of the failed batch is in the log");
  assert.ok(log.lines.some((l) => /must not run/.test(l)), "the failure is logged");
  broken = false;
  const r = await ledger.append(event(4));
  assert.equal(r.seq, 2, "the failed seqs are reused: no hole");
  const cp = openCheckpoint(r.checkpoint, [parseVkey(s.vkey)]);
  verifyInclusion(1, cp.size, leafHash(ledger.recordBytes(1)!), ledger.inclusionProof(1, cp.size), cp.rootHash);
});

test("a read-only ledger refuses appends with LEDGER_READ_ONLY", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const w = await openLedger({ stateDir: s.dir, signer: s.signer });
  await w.close();
  const ro = await openLedger({ stateDir: s.dir, signer: s.signer, readOnly: true });
  t.after(() => ro.close());
  await rejectsWith(ro.append(event(1)), "LEDGER_READ_ONLY");
  assert.equal(ro.size(), 1);
});

test("a different key on reopen is recorded; a foreign box is refused", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const a = await openLedger({ stateDir: s.dir, signer: s.signer });
  await a.close();
  const other = softwareSignerFromSeed("sealbox.local/other-key", generateSeed());
  const b = await openLedger({ stateDir: s.dir, signer: other });
  const rec = b.record(1)!;
  assert.equal(rec.action, "ledger.key-change");
  assert.equal((rec.details!.previous as Record<string, string>).name, s.signer.name);
  assert.equal(b.origin, s.signer.name, "the origin stays the log's");
  await b.close();
  await assert.rejects(openLedger({ stateDir: s.dir, signer: s.signer, boxId: "box-someone-else" }), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
});

test("a tampered store is refused at open with LEDGER_CORRUPT", async (t) => {
  for (const what of ["node", "checkpoint", "extra record"] as const) {
    const s = await tempState();
    t.after(() => s.cleanup());
    const l = await openLedger({ stateDir: s.dir, signer: s.signer });
    for (let i = 0; i < 10; i++) await l.append(event(i));
    await l.close();
    const env = openLmdb({ path: join(s.dir, "ledger", "ledger.mdb"), maxDbs: 4 });
    const opts = { keyEncoding: "binary" as const, encoding: "binary" as const };
    if (what === "node") await env.openDB("nodes", opts).put(nodeKey(3, 0), Buffer.alloc(32, 9));
    if (what === "checkpoint") {
      const meta = env.openDB("meta", opts);
      const note = meta.getBinary(Buffer.from("checkpoint"))!.toString();
      await meta.put(Buffer.from("checkpoint"), Buffer.from(note.replace("\n11\n", "\n12\n")));
    }
    if (what === "extra record") await env.openDB("records", opts).put(seqKey(11), Buffer.from("{}"));
    await env.close();
    await assert.rejects(openLedger({ stateDir: s.dir, signer: s.signer }), (e: unknown) => isSealboxError(e, "LEDGER_CORRUPT"), what);
  }
});

test("a second writer process cannot interleave: the stale writer is refused for good, nothing is lost", async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const stale = await openLedger({ stateDir: s.dir, signer: s.signer });
  t.after(() => stale.close());
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const child = spawn(process.execPath, [fileURLToPath(new URL("../../helpers/ledger-crash-child.js", import.meta.url)), s.dir, "other"], { stdio: ["ignore", "pipe", "inherit"] });
  const acks = await new Promise<number>((resolve) => {
    let buf = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      const n = buf.split("\n").filter((l) => l.startsWith("ack ")).length;
      if (n >= 100) {
        child.kill("SIGKILL");
        resolve(n);
      }
    });
  });
  await new Promise((r) => child.on("close", r));
  assert.ok(acks >= 100);
  const first = await stale.append(event(1)).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isSealboxError(first, "LEDGER_WRITE_FAILED"), `expected a conflict, got ${String(first)}`);
  assert.match((first as Error).message, /another process is writing this ledger/);
  await rejectsWith(stale.append(event(2)), "LEDGER_WRITE_FAILED");
  const reader = await openLedgerReader(s.dir);
  t.after(() => reader.close());
  assert.ok(reader.size() >= acks + 1, "the other writer's records are all there");
  assert.equal(reader.record(1)!.target!.startsWith("other-"), true, "record 1 is the other writer's, not the stale one's");
});
