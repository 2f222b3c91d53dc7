import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ERRORS, isSealboxError, SealboxError } from "../../../daemon/errors.js";
import type { JsonValue } from "../../../daemon/ledger/types.js";
import { ALL_METHODS, createMethodTable, type CallObservation } from "../../../daemon/rpc/methods.js";
import { forbidden, mayCall } from "../../../daemon/rpc/roles.js";
import { ROLES, type CallContext, type Role } from "../../../daemon/rpc/types.js";
import { createFakeInference } from "../../helpers/fake-inference.js";
import { createMemoryLedger } from "../../helpers/memory-ledger.js";

function ctx(role: Role, extra: Partial<CallContext> = {}): CallContext {
  return { role, transport: "test", peer: "uid=1000", signal: new AbortController().signal, ...extra };
}

function setup() {
  const ledger = createMemoryLedger();
  const inference = createFakeInference({ audit: ledger });
  const observations: CallObservation[] = [];
  const table = createMethodTable({
    services: {
      audit: ledger,
      ledger,
      inference,
      box: { boxId: "box-1", version: "0.1.0", startedAt: new Date().toISOString(), key: { name: "k", origin: "software", keyId: "abcd" } },
    },
    onCall: (o) => observations.push(o),
  });
  return { ledger, inference, table, observations };
}

async function rejects(p: Promise<unknown>, code: string): Promise<SealboxError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isSealboxError(e), `expected a SealboxError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

describe("roles", () => {
  it("admin may call everything, others only what they are listed for", () => {
    for (const m of ALL_METHODS) assert.ok(mayCall("admin", m.roles), m.name);
    assert.equal(mayCall("operator", ["technician"]), false);
    assert.equal(mayCall("technician", ["technician"]), true);
  });

  it("a refusal names the method, the caller's role and the roles needed", () => {
    const e = forbidden("audit.export", "operator", ["technician"]);
    assert.equal(e.code, "FORBIDDEN");
    assert.match(e.message, /audit\.export needs the technician or admin role; this connection has the operator role/);
    assert.deepEqual(e.details?.requiredRoles, ["technician", "admin"]);
  });

  it("every method lists at least one role and a summary, and names are unique", () => {
    const names = new Set<string>();
    for (const m of ALL_METHODS) {
      assert.ok(m.roles.length > 0, m.name);
      assert.ok(m.summary.length > 10, m.name);
      assert.ok(!names.has(m.name), `duplicate ${m.name}`);
      names.add(m.name);
    }
    for (const required of ["ask", "chat", "complete", "embed", "status", "audit.head", "audit.records", "audit.proof", "audit.export", "audit.annotate", "model.list", "model.import", "diode.status"]) {
      assert.ok(names.has(required), `missing ${required}`);
    }
  });
});

describe("method table", () => {
  it("records a refused call with role, transport and peer, and runs nothing", async () => {
    const { table, ledger, inference } = setup();
    const e = await rejects(table.dispatch("audit.records", {}, ctx("operator")), "FORBIDDEN");
    assert.match(e.message, /technician or admin/);
    assert.equal(ledger.records.length, 1);
    const r = ledger.records[0]!;
    assert.equal(r.outcome, "refused");
    assert.equal(r.action, "audit.records");
    assert.deepEqual(r.actor, { role: "operator", transport: "test", peer: "uid=1000" });
    assert.equal(r.details?.code, "FORBIDDEN");
    assert.equal(inference.calls.length, 0);
  });

  it("refuses an integrator's model import and an operator's annotation", async () => {
    const { table } = setup();
    await rejects(table.dispatch("model.import", { path: "/a", manifestPath: "/b" }, ctx("integrator")), "FORBIDDEN");
    await rejects(table.dispatch("audit.annotate", { text: "x" }, ctx("operator")), "FORBIDDEN");
  });

  it("records an unknown method as refused, with a bounded printable name", async () => {
    const { table, ledger } = setup();
    await rejects(table.dispatch("no.such\u0000method" + "x".repeat(500), {}, ctx("admin")), "NOT_FOUND");
    const r = ledger.records[0]!;
    assert.equal(r.action, "rpc.unknown");
    assert.equal(r.outcome, "refused");
    assert.ok(r.target!.length <= 64);
    assert.ok(!r.target!.includes("\u0000"));
  });

  it("answers ask with a streamed text, and the service's audit records", async () => {
    const { table, ledger, inference } = setup();
    const chunks: JsonValue[] = [];
    const result = (await table.dispatch("ask", { prompt: "what?" }, ctx("operator", { onChunk: (c) => chunks.push(c) }))) as Record<string, JsonValue>;
    assert.equal(result.text, "the answer is forty two");
    assert.deepEqual(result.auditSeq, [0, 1]);
    const texts = chunks.filter((c) => typeof c === "object" && c !== null && "text" in c).map((c) => (c as { text: string }).text);
    assert.equal(texts.join(""), "the answer is forty two");
    assert.deepEqual(chunks[0], { auditSeq: 0 });
    // The service's own records carry the caller (the table adds none on success).
    assert.equal(ledger.records.length, 2);
    assert.deepEqual(ledger.records[0]!.actor, { role: "operator", transport: "test", peer: "uid=1000" });
    assert.equal(inference.calls[0]!.options.priority, "high");
  });

  it("gives the operator a higher priority than an integrator", async () => {
    const { table, inference } = setup();
    await table.dispatch("complete", { prompt: "x" }, ctx("integrator"));
    await table.dispatch("complete", { prompt: "x" }, ctx("technician")).catch(() => undefined);
    assert.equal(inference.calls[0]!.options.priority, "low");
  });

  it("rejects wrong parameter types with a message naming the parameter, and records the failure", async () => {
    const { table, ledger } = setup();
    const cases: [string, JsonValue, RegExp][] = [
      ["ask", { prompt: 42 }, /params\.prompt: expected a string, got 42/],
      ["ask", { prompt: "" }, /params\.prompt: expected a non-empty string/],
      ["ask", { prompt: "x", maxTokens: "four" }, /params\.maxTokens: expected an integer from 1 to 65536, got "four"/],
      ["ask", { prompt: "x", temperature: -1 }, /params\.temperature/],
      ["ask", { prompt: "x", promt: "typo" }, /params\.promt: unknown parameter/],
      ["ask", [1, 2] as JsonValue, /params: expected an object/],
      ["chat", { messages: [] }, /params\.messages: expected an array of 1 to 256 messages/],
      ["chat", { messages: [{ role: "wizard", content: "x" }] }, /params\.messages\[0\]\.role/],
      ["chat", { messages: [{ role: "user", content: 5 }] }, /params\.messages\[0\]\.content/],
      ["embed", { input: [] }, /params\.input/],
      ["audit.record", { seq: -1 }, /params\.seq/],
      ["audit.record", { seq: 1.5 }, /params\.seq/],
      ["audit.annotate", { text: "x".repeat(5000) }, /params\.text: expected a string of at most 4096/],
      ["audit.export", { outDir: "relative/dir" }, /absolute path/],
    ];
    for (const [method, params, re] of cases) {
      const e = await rejects(table.dispatch(method, params, ctx("admin")), "BAD_REQUEST");
      assert.match(e.message, re, method);
    }
    assert.equal(ledger.records.length, cases.length);
    assert.ok(ledger.records.every((r) => r.outcome === "failure" && r.details?.code === "BAD_REQUEST"));
  });

  it("fails closed: when the ledger cannot write, a read returns the ledger's error, not the data", async () => {
    const { table, ledger } = setup();
    ledger.failAppends("LEDGER_FULL");
    await rejects(table.dispatch("status", {}, ctx("operator")), "LEDGER_FULL");
    await rejects(table.dispatch("audit.head", {}, ctx("operator")), "LEDGER_FULL");
  });

  it("fails closed: a write-ahead method does not run when its record cannot be written", async () => {
    const ledger = createMemoryLedger();
    let ran = 0;
    const table = createMethodTable({
      services: { audit: ledger, ledger, exporter: { exportBundle: async () => ((ran++), { ok: true }) } },
    });
    ledger.failAppends("LEDGER_WRITE_FAILED");
    await rejects(table.dispatch("audit.export", { outDir: "/tmp/x" }, ctx("technician")), "LEDGER_WRITE_FAILED");
    assert.equal(ran, 0);
    ledger.failAppends(undefined);
    const result = (await table.dispatch("audit.export", { outDir: "/tmp/x" }, ctx("technician"))) as Record<string, JsonValue>;
    assert.equal(ran, 1);
    assert.deepEqual(ledger.records.map((r) => r.outcome), ["requested", "success"]);
    assert.deepEqual(result.auditSeq, [0, 1]);
    assert.equal(ledger.records[0]!.target, "/tmp/x");
  });

  it("keeps a refusal a refusal when the ledger fails, with the ledger's error attached", async () => {
    const { table, ledger } = setup();
    ledger.failAppends("LEDGER_CLOSED");
    const e = await rejects(table.dispatch("audit.records", {}, ctx("operator")), "FORBIDDEN");
    assert.deepEqual((e.details?.auditError as { code: string }).code, "LEDGER_CLOSED");
  });

  it("records a failed self-audited call once more with the error code", async () => {
    const { table, ledger, inference } = setup();
    inference.failNext("BUSY");
    const e = await rejects(table.dispatch("ask", { prompt: "x" }, ctx("operator")), "BUSY");
    assert.equal(ERRORS[e.code].retryable, true);
    assert.equal(ledger.records.length, 1);
    assert.equal(ledger.records[0]!.outcome, "failure");
    assert.equal(ledger.records[0]!.details?.code, "BUSY");
    assert.equal(ledger.records[0]!.category, "inference");
  });

  it("says so when no model is configured or it is still loading", async () => {
    const ledger = createMemoryLedger();
    const bare = createMethodTable({ services: { audit: ledger, ledger } });
    const e = await rejects(bare.dispatch("ask", { prompt: "x" }, ctx("operator")), "MODEL_UNAVAILABLE");
    assert.match(e.message, /--demo-model/);
    const { table, inference } = setup();
    inference.setState("loading");
    await rejects(table.dispatch("ask", { prompt: "x" }, ctx("operator")), "MODEL_UNAVAILABLE");
  });

  it("annotates a site event as its own record, with the caller as actor", async () => {
    const { table, ledger } = setup();
    const result = (await table.dispatch(
      "audit.annotate",
      { text: "breaker 4 opened for maintenance", target: "breaker-4", details: { ticket: "T-17" } },
      ctx("technician"),
    )) as Record<string, JsonValue>;
    assert.equal(ledger.records.length, 1);
    const r = ledger.records[0]!;
    assert.equal(r.category, "site");
    assert.equal(r.action, "annotate");
    assert.equal(r.target, "breaker-4");
    assert.equal(r.outcome, "info");
    assert.deepEqual(r.details, { ticket: "T-17", text: "breaker 4 opened for maintenance" });
    assert.equal(r.actor.role, "technician");
    assert.equal(result.seq, 0);
    assert.deepEqual(result.auditSeq, [0]);
    assert.match(String(result.checkpoint), /^test\.local\/test-box\n1\n/);
  });

  it("reads records, proofs and the head, each read recorded", async () => {
    const { table, ledger } = setup();
    for (let i = 0; i < 5; i++) await table.dispatch("audit.annotate", { text: `event ${i}` }, ctx("technician"));
    const head = (await table.dispatch("audit.head", {}, ctx("operator"))) as Record<string, JsonValue>;
    assert.equal(head.size, 5);
    assert.equal(head.checkpointSize, 5);
    const recs = (await table.dispatch("audit.records", { from: 1, count: 2 }, ctx("technician"))) as { records: { seq: number }[] };
    assert.deepEqual(recs.records.map((r) => r.seq), [1, 2]);
    const proof = (await table.dispatch("audit.proof", { seq: 2 }, ctx("integrator"))) as Record<string, JsonValue>;
    // 5 annotations, then the head read (seq 5) and the records read (seq 6): the checkpoint covers 7.
    assert.equal(proof.treeSize, 7);
    assert.ok(Array.isArray(proof.proof));
    await rejects(table.dispatch("audit.record", { seq: 999 }, ctx("technician")), "NOT_FOUND");
    await rejects(table.dispatch("audit.proof", { seq: 999 }, ctx("technician")), "NOT_FOUND");
    assert.ok(ledger.byAction("audit.head").length === 1);
  });

  it("streams the tail and follows new records until the caller goes away", async () => {
    const { table } = setup();
    for (let i = 0; i < 3; i++) await table.dispatch("audit.annotate", { text: `e${i}` }, ctx("technician"));
    const ac = new AbortController();
    const seen: number[] = [];
    const done = table.dispatch("audit.tail", { from: 0, follow: true }, ctx("technician", {
      signal: ac.signal,
      onChunk: (c) => {
        const rec = (c as { record?: { seq: number } }).record;
        if (rec) seen.push(rec.seq);
      },
    }));
    await new Promise((r) => setTimeout(r, 20));
    await table.dispatch("audit.annotate", { text: "late" }, ctx("technician"));
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    const result = (await done) as Record<string, JsonValue>;
    // 3 annotations, the tail's own write-ahead record, the late annotation.
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    assert.equal(result.sent, 5);
  });

  it("lists its methods with the roles each admits", async () => {
    const { table } = setup();
    const d = (await table.dispatch("rpc.describe", {}, ctx("integrator"))) as { methods: { name: string; roles: string[] }[] };
    const exp = d.methods.find((m) => m.name === "audit.export")!;
    assert.deepEqual(exp.roles, ["technician", "admin"]);
    assert.ok(d.methods.some((m) => m.name === "rpc.describe"));
  });

  it("composes a status even when one part throws", async () => {
    const ledger = createMemoryLedger();
    const table = createMethodTable({
      services: {
        audit: ledger,
        ledger,
        health: {
          status: () => {
            throw new Error("sensor gone");
          },
        },
      },
    });
    const s = (await table.dispatch("status", {}, ctx("operator"))) as Record<string, JsonValue>;
    assert.deepEqual(s.health, { error: "sensor gone" });
    assert.equal((s.ledger as Record<string, JsonValue>).size, 0);
  });

  it("reports each call to onCall, for metrics", async () => {
    const { table, observations } = setup();
    await table.dispatch("status", {}, ctx("operator"));
    await table.dispatch("audit.records", {}, ctx("operator")).catch(() => undefined);
    assert.deepEqual(observations.map((o) => [o.method, o.outcome]), [["status", "success"], ["audit.records", "refused"]]);
  });

  it("every role's call is recorded with that role", async () => {
    const { table, ledger } = setup();
    for (const role of ROLES) await table.dispatch("status", {}, ctx(role));
    assert.deepEqual(ledger.records.map((r) => r.actor.role), [...ROLES]);
  });
});
