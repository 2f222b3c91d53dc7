// The interfaces over the real ledger (LMDB, a software key, signed
// checkpoints): every call recorded with role, transport and peer; an
// annotation's proof fetched over the socket verifies offline against the
// box's public key with the ledger's own verifier (C2SP tlog-proof,
// RFC 9162 inclusion, C2SP signed note).

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { openSigner, provisionSoftwareKey } from "../../../daemon/keys/key-store.js";
import { parseCheckpoint } from "../../../daemon/ledger/checkpoint.js";
import { openLedger, type Ledger } from "../../../daemon/ledger/ledger.js";
import { leafHash, verifyInclusion } from "../../../daemon/ledger/merkle.js";
import { ed25519Verifier, verifyNote } from "../../../daemon/ledger/note.js";
import { parseTlogProof } from "../../../daemon/ledger/tlog-proof.js";
import { Lifecycle } from "../../../daemon/lifecycle.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { createBoxMetrics, timedAuditLog } from "../../../daemon/transports/box-metrics.js";
import { startInterfaces } from "../../../daemon/transports/start-interfaces.js";
import { request } from "../../helpers/http-box.js";

describe("interfaces over the real ledger", () => {
  let dir: string;
  let lifecycle: Lifecycle;
  let ledger: Ledger;
  const sock = (role: string): string => join(dir, "run", `${role}.sock`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sealbox-ifs-ledger-"));
    await provisionSoftwareKey(dir);
    lifecycle = new Lifecycle();
    const signer = lifecycle.add("key", await openSigner(dir));
    ledger = lifecycle.add("ledger", await openLedger({ stateDir: dir, signer }));
    const metrics = createBoxMetrics();
    await startInterfaces({
      stateDir: dir,
      audit: timedAuditLog(ledger, metrics),
      ledger,
      lifecycle,
      log: createMemoryLogger(),
      metrics,
      box: { boxId: ledger.boxId, version: "0.1.0", startedAt: new Date().toISOString(), key: { name: signer.name, origin: signer.origin, keyId: "-" } },
    });
  });

  after(async () => {
    await lifecycle.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("notarises a site event: the proof fetched over the socket verifies offline", async () => {
    const a = await request(sock("technician"), "POST", "/sealbox/v1/audit/annotate", { text: "breaker 4 opened for maintenance", target: "breaker-4" });
    assert.equal(a.status, 200, a.text);
    const seq: number = a.json().seq;

    const p = await request(sock("integrator"), "GET", `/sealbox/v1/audit/proof/${seq}`);
    assert.equal(p.status, 200, p.text);
    const excerpt = parseTlogProof(p.json().tlogProof);
    assert.equal(excerpt.index, seq);
    // The signature: the checkpoint is signed by the box's key.
    const signer = ledger.signer;
    verifyNote(excerpt.checkpoint, [ed25519Verifier(signer.name, signer.publicKey)]);
    // The inclusion: the record's bytes are leaf `seq` of the signed tree.
    const cp = parseCheckpoint(excerpt.checkpoint.slice(0, excerpt.checkpoint.indexOf("\n\n") + 1));
    verifyInclusion(seq, cp.size, leafHash(excerpt.extra!), excerpt.proof, cp.rootHash);
    const record = JSON.parse(Buffer.from(excerpt.extra!).toString("utf8"));
    assert.equal(record.category, "site");
    assert.equal(record.details.text, "breaker 4 opened for maintenance");
    assert.equal(record.actor.role, "technician");
    assert.equal(record.actor.transport, "http-socket");
    assert.equal(record.actor.peer, `uid=${process.getuid!()},pid=${process.pid}`);
  });

  it("records refused and malformed calls in the ledger too", async () => {
    const before = ledger.size();
    assert.equal((await request(sock("operator"), "GET", "/sealbox/v1/audit/records")).status, 403);
    assert.equal((await request(sock("technician"), "POST", "/sealbox/v1/audit/annotate", "{not json")).status, 400);
    const refused = ledger.record(before)!;
    assert.equal(refused.outcome, "refused");
    assert.equal(refused.action, "audit.records");
    assert.equal(refused.actor.role, "operator");
    const malformed = ledger.record(before + 1)!;
    assert.equal(malformed.outcome, "failure");
    assert.equal(malformed.action, "audit.annotate");
    assert.equal(malformed.details?.code, "BAD_REQUEST");
  });

  it("audit records and consistency proofs read the real log", async () => {
    const recs = (await request(sock("technician"), "GET", "/sealbox/v1/audit/records?from=0&count=3")).json();
    assert.deepEqual(recs.records.map((r: { seq: number }) => r.seq), [0, 1, 2]);
    const cons = await request(sock("integrator"), "GET", "/sealbox/v1/audit/consistency?from=1");
    assert.equal(cons.status, 200, cons.text);
    assert.ok(cons.json().to > 1);
    const st = (await request(sock("operator"), "GET", "/sealbox/v1/status")).json();
    assert.equal(st.ledger.size, ledger.size() - 1); // the status read's own record follows it
    assert.equal(st.key.origin, "software");
  });
});
