// The inference service end to end on a real generated GGUF: provenance
// records around every answer, limits, the queue, cancellation and deadlines.
// The AuditLog is a plain in-memory object (the real ledger is exercised by
// the replay CLI test).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SealboxError, isSealboxError } from "../../../daemon/errors.js";
import type { InferenceEngine } from "../../../daemon/inference/engine.js";
import { promptSha256, sha256Hex } from "../../../daemon/inference/provenance.js";
import { InferenceService, type InferenceServiceOptions } from "../../../daemon/inference/service.js";
import type { AuditLog } from "../../../daemon/ledger/types.js";
import { createRecordingAuditLog, makeDemoModel, openDemoEngine, type DemoModel, type RecordingAuditLog } from "../../helpers/demo-model.js";

const ask = [{ role: "user" as const, content: "What is the boiler pressure?" }];

describe("InferenceService", () => {
  let model: DemoModel;
  before(async () => (model = await makeDemoModel({ seed: 1, noEndTokens: true })));
  after(() => model.cleanup());

  /** A service on a fresh engine; closed by the test. */
  async function service(opts: Partial<InferenceServiceOptions> & { sequences?: number } = {}): Promise<{ svc: InferenceService; log: RecordingAuditLog; engine: InferenceEngine }> {
    const engine = await openDemoEngine(model, { sequences: opts.sequences ?? 2 });
    const log = createRecordingAuditLog();
    const svc = new InferenceService({ engine, audit: log, ...opts });
    return { svc, log, engine };
  }

  it("answers a chat with its two records: request durable before the first token, outcome after", async () => {
    const { svc, log } = await service();
    await using _ = svc;
    const recordsAtFirstToken: number[] = [];
    const chunks: string[] = [];
    let audited: number | undefined;
    const r = await svc.chat(
      { messages: ask, maxTokens: 20, seed: 9 },
      {
        onToken: (t) => {
          if (chunks.length === 0) recordsAtFirstToken.push(log.records.length);
          chunks.push(t);
        },
        onAudit: (seq) => (audited = seq),
        actor: { role: "operator", transport: "http-socket", peer: "uid=1000" },
        priority: "high",
      },
    );
    assert.deepEqual(recordsAtFirstToken, [1], "the request record existed before the first token, the outcome did not");
    assert.equal(chunks.join(""), r.text);
    assert.equal(r.endedBy, "done");
    assert.equal(r.stopReason, "maxTokens");
    // node-llama-cpp may hold back a last token that could start a stop text: at most maxTokens.
    assert.ok(r.usage.completionTokens > 0 && r.usage.completionTokens <= 20);
    assert.deepEqual(r.audit, { requestSeq: 0, outcomeSeq: 1 });
    assert.equal(audited, 0);
    assert.equal(log.records.length, 2);
    const [req, out] = log.records as [(typeof log.records)[0], (typeof log.records)[0]];
    assert.equal(req.outcome, "requested");
    assert.equal(req.category, "inference");
    assert.equal(req.action, "chat");
    assert.equal(req.target, model.sha256);
    assert.deepEqual(req.actor, { role: "operator", transport: "http-socket", peer: "uid=1000" });
    assert.equal(req.details!.promptSha256, promptSha256("chat", ask));
    assert.equal(req.details!.promptTokens, r.usage.promptTokens);
    assert.equal((req.details!.sampling as { seed: number }).seed, 9);
    assert.equal(req.details!.prompt, undefined, "no text stored by default");
    assert.equal(out.outcome, "success");
    const d = out.details!;
    assert.equal(d.requestSeq, 0);
    assert.equal(d.endedBy, "done");
    assert.equal(d.outputSha256, sha256Hex(r.text));
    assert.equal(d.outputTokens, r.usage.completionTokens);
    assert.equal((d.model as { sha256: string }).sha256, model.sha256);
    assert.equal((d.runtime as { nodeLlamaCpp: string }).nodeLlamaCpp, "3.21.1");
    assert.equal((d.runtime as { mode: string }).mode, "cpu");
    assert.equal(d.output, undefined);
    assert.ok(typeof (d.timings as { totalMs: number }).totalMs === "number");
  });

  it("stores prompt and answer text only when configured", async () => {
    const { svc, log } = await service({ storeText: true });
    await using _ = svc;
    const r = await svc.complete({ prompt: "Valve 7 is", maxTokens: 8 });
    assert.equal(log.records[0]!.details!.prompt, "Valve 7 is");
    assert.equal(log.records[1]!.details!.output, r.text);
    assert.equal((log.records[1]!.details!.outputTokenIds as number[]).length, r.usage.completionTokens);
  });

  it("refuses the request and generates nothing when the ledger refuses the request record", async () => {
    const { svc, engine } = await service();
    await using _ = svc;
    // A plain AuditLog that always refuses, as a full disk would.
    const refusing: AuditLog = { append: () => Promise.reject(new SealboxError("LEDGER_FULL", "the ledger's storage is full")) };
    const svc2 = new InferenceService({ engine, audit: refusing });
    let tokens = 0;
    await assert.rejects(
      svc2.chat({ messages: ask, maxTokens: 50 }, { onToken: () => tokens++ }),
      (e: unknown) => isSealboxError(e, "LEDGER_FULL"),
    );
    assert.equal(tokens, 0, "nothing generated");
    assert.deepEqual(svc2.status().queue, { slots: 2, running: 0, queued: 0, maxQueued: 8, serviceMs: 2000 }, "the slot reserved was given back unused");
    assert.equal(engine.freeSequences, 2);
  });

  it("withholds the answer when the outcome record cannot be written", async () => {
    const log = createRecordingAuditLog();
    const engine = await openDemoEngine(model);
    const appends: string[] = [];
    const audit: AuditLog = {
      append: async (e) => {
        appends.push(e.outcome);
        if (e.outcome !== "requested") throw new SealboxError("LEDGER_WRITE_FAILED", "disk error");
        return log.append(e);
      },
    };
    await using svc = new InferenceService({ engine, audit });
    await assert.rejects(svc.chat({ messages: ask, maxTokens: 5 }), (e: unknown) => isSealboxError(e, "LEDGER_WRITE_FAILED"));
    assert.deepEqual(appends, ["requested", "success"]);
  });

  it("constrains a chat answer to a JSON schema and returns it parsed", async () => {
    const { svc } = await service();
    await using _ = svc;
    const r = await svc.chat({
      messages: [{ role: "user", content: "Is pump 3 running?" }],
      maxTokens: 60,
      jsonSchema: { type: "object", properties: { running: { type: "boolean" } }, required: ["running"] },
    });
    assert.equal(r.stopReason, "grammar");
    assert.equal(typeof (r.json as { running: unknown }).running, "boolean");
  });

  it("embeds one or several texts, with one pair of records", async () => {
    const { svc, log } = await service();
    await using _ = svc;
    const r = await svc.embed({ input: ["pressure", "temperature"] });
    assert.equal(r.vectors.length, 2);
    assert.equal(r.vectors[0]!.length, 64);
    assert.deepEqual(r.audit, { requestSeq: 0, outcomeSeq: 1 });
    assert.equal(log.records[0]!.action, "embed");
    assert.equal(log.records[1]!.details!.vectors, 2);
    const one = await svc.embed({ input: "pressure" });
    assert.deepEqual(one.vectors[0], r.vectors[0]);
  });

  it("cancels mid-stream: the partial answer comes back, recorded as cancelled", async () => {
    const { svc, log } = await service();
    await using _ = svc;
    const ac = new AbortController();
    let n = 0;
    const r = await svc.chat({ messages: ask, maxTokens: 250 }, { signal: ac.signal, onToken: () => ++n === 3 && ac.abort() });
    assert.equal(r.endedBy, "cancelled");
    assert.equal(r.stopReason, "abort");
    assert.ok(r.usage.completionTokens > 0 && r.usage.completionTokens < 250);
    assert.ok(r.text.length > 0);
    const out = log.records[1]!;
    assert.equal(out.outcome, "info");
    assert.equal(out.details!.endedBy, "cancelled");
    assert.equal(out.details!.outputTokens, r.usage.completionTokens);
  });

  it("a consumer whose onToken throws cancels its request", async () => {
    const { svc } = await service();
    await using _ = svc;
    const r = await svc.chat({ messages: ask, maxTokens: 250 }, { onToken: () => { throw new Error("socket gone"); } });
    assert.equal(r.endedBy, "cancelled");
    assert.ok(r.usage.completionTokens < 250);
  });

  it("stops at the deadline with the partial answer, recorded as deadline", async () => {
    const { svc, log } = await service();
    await using _ = svc;
    const r = await svc.chat({ messages: ask, maxTokens: 250, deadlineMs: 20 });
    assert.equal(r.endedBy, "deadline");
    assert.ok(r.usage.completionTokens < 250);
    assert.equal(log.records[1]!.outcome, "failure");
    assert.equal(log.records[1]!.details!.endedBy, "deadline");
  });

  it("refuses over-long prompts and over-large maxTokens with clear errors, recording nothing", async () => {
    const { svc, log } = await service({ maxPromptTokens: 64, maxTokens: 100 });
    await using _ = svc;
    await assert.rejects(svc.complete({ prompt: "word ".repeat(200) }), (e: unknown) => isSealboxError(e, "PROMPT_TOO_LONG") && e.details?.limit === 64);
    await assert.rejects(svc.complete({ prompt: "x".repeat(64 * 16 + 1) }), (e: unknown) => isSealboxError(e, "PROMPT_TOO_LONG") && /bytes/.test(e.message));
    await assert.rejects(svc.complete({ prompt: "x", maxTokens: 101 }), (e: unknown) => isSealboxError(e, "BAD_REQUEST") && /limit of 100/.test(e.message));
    await assert.rejects(svc.chat({ messages: [] }), (e: unknown) => isSealboxError(e, "BAD_REQUEST"));
    await assert.rejects(svc.chat({ messages: ask, jsonSchema: { type: "nope" } }), (e: unknown) => isSealboxError(e, "BAD_REQUEST"));
    await assert.rejects(svc.complete(null as never), (e: unknown) => isSealboxError(e, "BAD_REQUEST"));
    assert.equal(log.records.length, 0);
  });

  it("refuses while the health gate says so, recording nothing", async () => {
    let critical = true;
    const { svc, log } = await service({
      healthGate: () => {
        if (critical) throw new SealboxError("HEALTH_CRITICAL", "GPU at 95 °C");
      },
    });
    await using _ = svc;
    await assert.rejects(svc.chat({ messages: ask, maxTokens: 3 }), (e: unknown) => isSealboxError(e, "HEALTH_CRITICAL"));
    assert.equal(log.records.length, 0);
    critical = false;
    assert.equal((await svc.chat({ messages: ask, maxTokens: 3 })).endedBy, "done");
  });

  it("answers BUSY with a retry hint when the queue is full, and records nothing for it", async () => {
    const { svc, log } = await service({ sequences: 1, maxQueued: 1 });
    await using _ = svc;
    const held = log.hold();
    const first = svc.chat({ messages: ask, maxTokens: 3 });
    const second = svc.chat({ messages: ask, maxTokens: 3 });
    await assert.rejects(svc.chat({ messages: ask, maxTokens: 3 }), (e: unknown) => isSealboxError(e, "BUSY") && (e.details?.retryAfterMs as number) > 0);
    held.release();
    await Promise.all([first, second]);
    assert.equal(log.records.length, 4, "two answered requests, two records each");
  });

  it("serves the console ahead of integrators; a queued caller learns its position", async () => {
    const { svc, log } = await service({ sequences: 1, maxQueued: 8 });
    await using _ = svc;
    const held = log.hold();
    const done: string[] = [];
    const positions: Record<string, number> = {};
    const go = (id: string, priority: "high" | "normal" | "low") =>
      svc.chat({ messages: ask, maxTokens: 4 }, { requestId: id, priority, onQueued: (_id, pos) => (positions[id] = pos) }).then((r) => {
        done.push(id);
        return r;
      });
    const all = [go("running", "low"), go("integrator-1", "low"), go("integrator-2", "normal"), go("console", "high")];
    assert.deepEqual(positions, { running: 0, "integrator-1": 1, "integrator-2": 1, console: 1 });
    assert.deepEqual(["running", "console", "integrator-2", "integrator-1"].map((id) => svc.queuePosition(id)), [0, 1, 2, 3]);
    assert.equal(svc.queuePosition("nobody"), undefined);
    held.release();
    await Promise.all(all);
    assert.deepEqual(done, ["running", "console", "integrator-2", "integrator-1"]);
  });

  it("runs requests in parallel on its sequences", async () => {
    const { svc } = await service({ sequences: 2 });
    await using _ = svc;
    let both = false;
    const check = () => (both ||= svc.status().queue.running === 2);
    const rs = await Promise.all([svc.complete({ prompt: "a", maxTokens: 30 }, { onToken: check }), svc.complete({ prompt: "b", maxTokens: 30 }, { onToken: check })]);
    assert.ok(both, "two running at once");
    assert.ok(rs.every((r) => r.endedBy === "done"));
  });

  it("close() stops the running request (recorded cancelled), refuses the waiting one (recorded refused) and later calls", async () => {
    const { svc, log } = await service({ sequences: 1 });
    let closing: Promise<void> | undefined;
    const running = svc.chat({ messages: ask, maxTokens: 250 }, { onToken: () => (closing ??= svc.close()) });
    const waiting = svc.chat({ messages: ask, maxTokens: 5 });
    const r = await running;
    assert.equal(r.endedBy, "cancelled");
    await assert.rejects(waiting, (e: unknown) => isSealboxError(e, "MODEL_UNAVAILABLE") && typeof e.details?.outcomeSeq === "number");
    await closing;
    await svc.close();
    await assert.rejects(svc.chat({ messages: ask }), (e: unknown) => isSealboxError(e, "MODEL_UNAVAILABLE"));
    const outcomes = log.records.filter((x) => x.outcome !== "requested").map((x) => x.details!.endedBy).sort();
    assert.deepEqual(outcomes, ["cancelled", "refused"]);
    assert.equal(svc.status().closed, true);
  });
});
