// The interfaces over the real inference engine on the generated demo model
// (CPU, one thread): readiness while it loads, real streamed answers with
// their provenance records, JSON-schema answers, embeddings, cancellation.
// The ledger here is the in-memory one; the whole daemon with the real
// ledger is tested in test/integration/http/daemon.test.ts.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";
import { after, before, describe, it } from "node:test";

import { Lifecycle } from "../../../daemon/lifecycle.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { prepareDemoModel } from "../../../daemon/rpc/demo-model.js";
import { createBoxMetrics, timedAuditLog } from "../../../daemon/transports/box-metrics.js";
import { startInterfaces, type Interfaces } from "../../../daemon/transports/start-interfaces.js";
import { parseSse, request } from "../../helpers/http-box.js";
import { createMemoryLedger, type MemoryLedger } from "../../helpers/memory-ledger.js";

describe("interfaces over the real engine and the demo model", () => {
  let dir: string;
  let lifecycle: Lifecycle;
  let ledger: MemoryLedger;
  let ifs: Interfaces;
  let logLines: string[];
  const sock = (role: string): string => join(dir, "run", `${role}.sock`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sealbox-engine-"));
    lifecycle = new Lifecycle();
    ledger = createMemoryLedger();
    const log = createMemoryLogger();
    logLines = log.lines;
    const metrics = createBoxMetrics();
    const model = await prepareDemoModel(dir, log);
    ifs = await startInterfaces({
      stateDir: dir,
      audit: timedAuditLog(ledger, metrics),
      ledger,
      lifecycle,
      log,
      metrics,
      box: { boxId: "box-e", version: "0.1.0", startedAt: new Date().toISOString() },
      model,
      engine: { sequences: 2, contextSize: 1024 },
    });
  });

  after(async () => {
    await lifecycle.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("is not ready while the model loads, then ready; the log and status say the demo model is noise", async () => {
    const early = await request(sock("operator"), "GET", "/readyz");
    assert.equal(early.status, 503, "expected the model to be still loading right after start");
    assert.match(early.json().reasons.join(), /model loading/);
    const refused = await request(sock("operator"), "POST", "/sealbox/v1/ask", { prompt: "hi" });
    assert.equal(refused.status, 503);
    assert.equal(refused.json().error.code, "MODEL_UNAVAILABLE");
    assert.match(String(refused.headers["retry-after"]), /^\d+$/);
    await ifs.modelLoaded;
    const ready = await request(sock("operator"), "GET", "/readyz");
    assert.equal(ready.status, 200, ready.text);
    assert.ok(logLines.some((l) => /DEMO MODEL: .*answers are noise/.test(l)));
    const st = (await request(sock("operator"), "GET", "/sealbox/v1/status")).json();
    assert.match(st.inference.banner, /answers are noise/);
    assert.equal(st.inference.state, "ready");
    assert.equal(st.inference.mode, "cpu");
  });

  it("answers a chat with the engine's provenance records, as the operator", async () => {
    const r = await request(sock("operator"), "POST", "/v1/chat/completions", { messages: [{ role: "user", content: "Is pump 3 ok?" }], max_tokens: 16, seed: 1, temperature: 0 });
    assert.equal(r.status, 200, r.text);
    const b = r.json();
    assert.equal(b.model, "demo");
    assert.equal(b.sealbox.model_sha256, ifs.slot!.model.sha256);
    const [reqSeq, outSeq] = b.sealbox.audit_seq;
    const requestRecord = ledger.record(reqSeq)!;
    const outcomeRecord = ledger.record(outSeq)!;
    assert.equal(requestRecord.category, "inference");
    assert.equal(requestRecord.outcome, "requested");
    assert.deepEqual(requestRecord.actor.role, "operator");
    assert.equal(requestRecord.actor.transport, "http-socket");
    assert.equal(outcomeRecord.outcome, "success");
    assert.ok(b.usage.completion_tokens >= 1 && b.usage.completion_tokens <= 16);
  });

  it("streams tokens as SSE and ends with [DONE]", async () => {
    const r = await request(sock("integrator"), "POST", "/v1/chat/completions", { messages: [{ role: "user", content: "Count to ten" }], max_tokens: 24, stream: true, seed: 2 });
    assert.equal(r.status, 200);
    const events = parseSse(r.text);
    assert.equal(events.at(-1)!.data, "[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    assert.ok(chunks.length >= 3);
    assert.equal(chunks.at(-1).sealbox.audit_seq.length, 2);
    assert.equal(r.headers["x-sealbox-audit-seq"], String(chunks.at(-1).sealbox.audit_seq[0]));
  });

  it("constrains the answer to a JSON schema", async () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] };
    const r = await request(sock("operator"), "POST", "/v1/chat/completions", {
      messages: [{ role: "user", content: "Is it ok? Answer in JSON." }],
      max_tokens: 40,
      response_format: { type: "json_schema", json_schema: { name: "ok", schema } },
    });
    assert.equal(r.status, 200, r.text);
    const content = r.json().choices[0].message.content;
    if (r.json().choices[0].finish_reason === "stop") {
      const parsed = JSON.parse(content);
      assert.equal(typeof parsed.ok, "boolean");
    } else {
      // A random-weight model may run out of tokens inside the JSON; what it wrote still follows the grammar.
      assert.match(content, /^\s*\{/);
    }
  });

  it("embeds texts", async () => {
    const r = await request(sock("operator"), "POST", "/v1/embeddings", { input: ["pump", "valve"] });
    assert.equal(r.status, 200, r.text);
    const data = r.json().data;
    assert.equal(data.length, 2);
    assert.ok(data[0].embedding.length > 8);
    assert.ok(data[0].embedding.every((x: unknown) => typeof x === "number"));
  });

  it("closing the connection mid-stream cancels the answer; it is recorded as cancelled", async () => {
    const before = ledger.records.length;
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ socketPath: sock("operator"), method: "POST", path: "/v1/completions", agent: false }, (res) => {
        let n = 0;
        res.on("data", () => {
          if (++n === 2) {
            req.destroy();
            resolve();
          }
        });
        res.on("end", () => reject(new Error("the answer ended before it could be cancelled")));
      });
      req.on("error", () => undefined);
      req.end(JSON.stringify({ prompt: "Once upon a time", max_tokens: 400, stream: true }));
    });
    let outcome;
    for (let i = 0; i < 100 && !outcome; i++) {
      outcome = ledger.records.slice(before).find((r) => r.category === "inference" && r.outcome !== "requested");
      if (!outcome) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(outcome, "no outcome record");
    assert.match(JSON.stringify(outcome.details), /cancel/);
  });

  it("shows time to first token, tokens/s, queue depth and append latency in /metrics", async () => {
    const m = (await request(sock("operator"), "GET", "/metrics")).text;
    const count = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(m)?.[1] ?? NaN);
    assert.ok(count("sealbox_inference_time_to_first_token_seconds_count") >= 2);
    assert.ok(count("sealbox_inference_tokens_per_second_count") >= 1);
    assert.ok(count("sealbox_ledger_append_duration_seconds_count") >= 4);
    assert.equal(count("sealbox_inference_queue_depth"), 0);
    assert.match(m, /^sealbox_model_loaded\{sha256="[0-9a-f]{64}",state="ready"\} 1$/m);
  });

  it("a health monitor attached later gates answers (HEALTH_CRITICAL) and shows in status and metrics", async () => {
    const { SealboxError } = await import("../../../daemon/errors.js");
    let critical = true;
    ifs.attach({
      health: {
        status: () => ({ state: critical ? "critical" : "ok", reasons: critical ? [{ code: "gpu.fault.gpu-lost", severity: "critical", source: "gpu", message: "GPU is lost" }] : [], gpu: { gpus: [], faults: critical ? [{ message: "GPU is lost" }] : [] } }),
        check: () => {
          if (critical) throw new SealboxError("HEALTH_CRITICAL", "the box's health is critical: GPU is lost");
          return { state: "ok", cpuFallback: false };
        },
      },
      diode: { status: () => ({ enabled: true, running: true, head: 5 }) },
    });
    const refused = await request(sock("operator"), "POST", "/sealbox/v1/ask", { prompt: "hi", maxTokens: 4 });
    assert.equal(refused.status, 503);
    assert.equal(refused.json().error.code, "HEALTH_CRITICAL");
    const st = (await request(sock("operator"), "GET", "/sealbox/v1/status")).json();
    assert.equal(st.health.state, "critical");
    assert.equal(st.diode.head, 5);
    const m = (await request(sock("operator"), "GET", "/metrics")).text;
    assert.match(m, /^sealbox_health_state\{state="critical"\} 1$/m);
    assert.match(m, /^sealbox_gpu_health 0$/m);
    critical = false;
    const ok = await request(sock("operator"), "POST", "/sealbox/v1/ask", { prompt: "hi", maxTokens: 4 });
    assert.equal(ok.status, 200, ok.text);
  });
});
