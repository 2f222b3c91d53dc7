// Every endpoint of the HTTP socket, with node:http as the client library,
// over real unix sockets, through the real method table.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { parseSse, request, startTestBox, type TestBox } from "../../helpers/http-box.js";

describe("HTTP socket API", () => {
  let box: TestBox;
  before(async () => {
    box = await startTestBox({ services: { exporter: { exportBundle: async (req) => ({ outDir: req.outDir, records: 3 }) }, diode: { status: () => ({ enabled: true, sentEntries: 7 }) } } });
  });
  after(async () => {
    await box.close();
  });

  it("POST /v1/chat/completions answers in OpenAI's shape with the audit sequence numbers", async () => {
    const r = await request(box.socket("operator"), "POST", "/v1/chat/completions", { model: "fake", messages: [{ role: "user", content: "hello" }], max_tokens: 20, temperature: 0 });
    assert.equal(r.status, 200, r.text);
    const b = r.json();
    assert.equal(b.object, "chat.completion");
    assert.match(b.id, /^chatcmpl-[0-9a-f]{24}$/);
    assert.equal(b.choices[0].message.role, "assistant");
    assert.equal(b.choices[0].message.content, "the answer is forty two");
    assert.equal(b.choices[0].finish_reason, "stop");
    assert.deepEqual(b.usage, { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 });
    assert.equal(b.sealbox.audit_seq.length, 2);
    assert.equal(r.headers["x-sealbox-audit-seq"], b.sealbox.audit_seq.join(","));
    const rec = box.ledger.record(b.sealbox.audit_seq[0])!;
    assert.deepEqual(rec.actor.role, "operator");
    assert.equal(rec.actor.transport, "http-socket");
    assert.match(rec.actor.peer, /^uid=\d+,pid=\d+$/);
    // Sampling reached the method table with its names.
    const sent = box.inference.calls.at(-1)!.request as { maxTokens: number; temperature: number };
    assert.equal(sent.maxTokens, 20);
    assert.equal(sent.temperature, 0);
  });

  it("streams chat as SSE chunks ending in data: [DONE], the request's seq in the header", async () => {
    const r = await request(box.socket("operator"), "POST", "/v1/chat/completions", {
      messages: [{ role: "user", content: "hello" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/event-stream/);
    const events = parseSse(r.text);
    assert.equal(events.at(-1)!.data, "[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    assert.deepEqual(chunks[0].choices[0].delta, { role: "assistant", content: "" });
    const text = chunks.map((c) => c.choices[0].delta.content ?? "").join("");
    assert.equal(text, "the answer is forty two");
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, "stop");
    assert.equal(last.usage.completion_tokens, 5);
    assert.equal(last.sealbox.audit_seq.length, 2);
    assert.equal(r.headers["x-sealbox-audit-seq"], String(last.sealbox.audit_seq[0]));
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0].id));
  });

  it("passes response_format json_schema to the model as a schema", async () => {
    const schema = { type: "object", properties: { ok: { type: "boolean" } } };
    const r = await request(box.socket("integrator"), "POST", "/v1/chat/completions", {
      messages: [{ role: "user", content: "json please" }],
      response_format: { type: "json_schema", json_schema: { name: "x", schema } },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual((box.inference.calls.at(-1)!.request as { jsonSchema: unknown }).jsonSchema, schema);
    assert.equal(box.inference.calls.at(-1)!.options.priority, "low");
  });

  it("POST /v1/completions, plain and streamed", async () => {
    const r = await request(box.socket("operator"), "POST", "/v1/completions", { prompt: "Once", max_tokens: 8 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().object, "text_completion");
    assert.equal(r.json().choices[0].text, "the answer is forty two");
    const s = await request(box.socket("operator"), "POST", "/v1/completions", { prompt: ["Once"], stream: true });
    const events = parseSse(s.text);
    assert.equal(events.at(-1)!.data, "[DONE]");
    assert.equal(events.slice(0, -1).map((e) => JSON.parse(e.data).choices[0].text).join(""), "the answer is forty two");
  });

  it("POST /v1/embeddings as floats and as base64 float32", async () => {
    const r = await request(box.socket("operator"), "POST", "/v1/embeddings", { input: ["abc", "de"] });
    assert.equal(r.status, 200, r.text);
    const b = r.json();
    assert.equal(b.object, "list");
    assert.deepEqual(b.data[0].embedding, [3, 0.5, -0.5]);
    assert.equal(b.data[1].index, 1);
    const r64 = await request(box.socket("operator"), "POST", "/v1/embeddings", { input: "abc", encoding_format: "base64" });
    const bytes = Buffer.from(r64.json().data[0].embedding, "base64");
    assert.deepEqual([...new Float32Array(bytes.buffer, bytes.byteOffset, 3)], [3, 0.5, -0.5]);
  });

  it("GET /v1/models lists the loaded model", async () => {
    const r = await request(box.socket("operator"), "GET", "/v1/models");
    assert.equal(r.status, 200);
    assert.equal(r.json().data[0].id, "fake");
    assert.equal(r.json().data[0].object, "model");
  });

  it("refuses a model that is not loaded, and OpenAI features sealbox does not have", async () => {
    const r = await request(box.socket("operator"), "POST", "/v1/chat/completions", { model: "gpt-4", messages: [{ role: "user", content: "x" }] });
    assert.equal(r.status, 404);
    assert.equal(r.json().error.code, "NOT_FOUND");
    assert.match(r.json().error.message, /not loaded/);
    const n = await request(box.socket("operator"), "POST", "/v1/chat/completions", { n: 3, messages: [{ role: "user", content: "x" }] });
    assert.equal(n.status, 501);
    assert.match(n.json().error.message, /'n' is not supported/);
    const typo = await request(box.socket("operator"), "POST", "/v1/chat/completions", { mesages: [] });
    assert.equal(typo.status, 400);
    assert.match(typo.json().error.message, /unknown parameter 'mesages'/);
  });

  it("sealbox endpoints: status, audit head/records/record/proof/consistency, diode, methods", async () => {
    const st = await request(box.socket("operator"), "GET", "/sealbox/v1/status");
    assert.equal(st.status, 200);
    assert.equal(st.json().box.id, "box-test");
    assert.equal(st.json().inference.state, "ready");
    assert.ok(Number(st.headers["x-sealbox-audit-seq"]) >= 0);

    const head = (await request(box.socket("integrator"), "GET", "/sealbox/v1/audit/head")).json();
    assert.ok(head.size > 0);
    assert.match(head.checkpoint, /^test\.local\//);

    const recs = await request(box.socket("technician"), "GET", "/sealbox/v1/audit/records?from=0&count=3");
    assert.equal(recs.status, 200);
    assert.deepEqual(recs.json().records.map((r: { seq: number }) => r.seq), [0, 1, 2]);

    const one = await request(box.socket("technician"), "GET", "/sealbox/v1/audit/records/1");
    assert.equal(one.json().record.seq, 1);
    assert.equal(typeof one.json().canonical, "string");

    const proof = await request(box.socket("integrator"), "GET", "/sealbox/v1/audit/proof/1");
    assert.equal(proof.status, 200, proof.text);
    assert.equal(proof.json().seq, 1);
    assert.ok(Array.isArray(proof.json().proof));
    assert.match(proof.json().checkpoint, /^test\.local\//);

    const cons = await request(box.socket("integrator"), "GET", "/sealbox/v1/audit/consistency?from=1");
    assert.equal(cons.status, 200, cons.text);

    const bad = await request(box.socket("technician"), "GET", "/sealbox/v1/audit/records/abc");
    assert.equal(bad.status, 400);
    const badq = await request(box.socket("technician"), "GET", "/sealbox/v1/audit/records?count=-4");
    assert.equal(badq.status, 400);
    assert.match(badq.json().error.message, /query count/);

    const diode = await request(box.socket("technician"), "GET", "/sealbox/v1/diode");
    assert.equal(diode.json().sentEntries, 7);
    const methods = await request(box.socket("integrator"), "GET", "/sealbox/v1/methods");
    assert.ok(methods.json().methods.some((m: { name: string }) => m.name === "audit.annotate"));
  });

  it("annotate is for technicians and integrators; the operator is refused with the role named", async () => {
    const ok = await request(box.socket("integrator"), "POST", "/sealbox/v1/audit/annotate", { text: "breaker 4 opened for maintenance", target: "breaker-4" });
    assert.equal(ok.status, 200, ok.text);
    const seq = ok.json().seq;
    assert.equal(ok.headers["x-sealbox-audit-seq"], String(seq));
    const rec = box.ledger.record(seq)!;
    assert.equal(rec.category, "site");
    assert.equal(rec.details?.text, "breaker 4 opened for maintenance");
    assert.equal(rec.actor.role, "integrator");

    const no = await request(box.socket("operator"), "POST", "/sealbox/v1/audit/annotate", { text: "x" });
    assert.equal(no.status, 403);
    assert.equal(no.json().error.code, "FORBIDDEN");
    assert.equal(no.json().error.type, "permission_error");
    assert.match(no.json().error.message, /needs the technician, integrator or admin role; this connection has the operator role/);
    assert.equal(box.ledger.records.at(-1)!.outcome, "refused");
  });

  it("export is write-ahead audited; tail streams records as SSE", async () => {
    const ex = await request(box.socket("technician"), "POST", "/sealbox/v1/audit/export", { outDir: "/tmp/sealbox-export-test" });
    assert.equal(ex.status, 200, ex.text);
    assert.equal(ex.json().records, 3);
    assert.equal(ex.json().auditSeq.length, 2);

    const tail = await request(box.socket("technician"), "GET", "/sealbox/v1/audit/tail?count=3", undefined, { accept: "text/event-stream" });
    assert.equal(tail.status, 200);
    const events = parseSse(tail.text);
    const records = events.filter((e) => e.event === "chunk").map((e) => JSON.parse(e.data)).filter((c) => c.record);
    assert.equal(records.length, 3);
    assert.equal(events.at(-1)!.event, "result");
  });

  it("POST /sealbox/v1/ask streams native SSE events (chunk, result)", async () => {
    const r = await request(box.socket("operator"), "POST", "/sealbox/v1/ask", { prompt: "hi" }, { accept: "text/event-stream" });
    const events = parseSse(r.text);
    const texts = events.filter((e) => e.event === "chunk").map((e) => JSON.parse(e.data).text ?? "");
    assert.equal(texts.join(""), "the answer is forty two");
    const result = JSON.parse(events.at(-1)!.data);
    assert.equal(events.at(-1)!.event, "result");
    assert.equal(result.auditSeq.length, 2);
  });

  it("POST /sealbox/v1/rpc/<method> calls any method of the table", async () => {
    const r = await request(box.socket("admin"), "POST", "/sealbox/v1/rpc/audit.head", "");
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json().size > 0);
    const unknown = await request(box.socket("admin"), "POST", "/sealbox/v1/rpc/no.such", "{}");
    assert.equal(unknown.status, 404);
    assert.equal(box.ledger.records.at(-1)!.action, "rpc.unknown");
  });

  it("/healthz, /readyz (503 while the model loads) and /metrics", async () => {
    assert.deepEqual((await request(box.socket("operator"), "GET", "/healthz")).json(), { status: "ok" });
    assert.equal((await request(box.socket("operator"), "GET", "/readyz")).status, 200);
    box.readiness.ready = false;
    box.readiness.reasons = ["model loading"];
    const nr = await request(box.socket("operator"), "GET", "/readyz");
    assert.equal(nr.status, 503);
    assert.match(nr.json().error.message, /model loading/);
    box.readiness.ready = true;
    box.readiness.reasons = [];

    const m = await request(box.socket("operator"), "GET", "/metrics");
    assert.equal(m.status, 200);
    assert.match(String(m.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    for (const name of [
      "sealbox_inference_queue_depth",
      "sealbox_inference_time_to_first_token_seconds_bucket",
      "sealbox_inference_tokens_per_second_count",
      "sealbox_ledger_records",
      "sealbox_ledger_append_duration_seconds_count",
      "sealbox_rpc_calls_total",
      "sealbox_http_connections",
    ]) {
      assert.match(m.text, new RegExp(`^${name}(\\{[^}]*\\})? [0-9.e+-]+$`, "m"), name);
    }
    // Every line is a comment or `name{labels} value`.
    for (const line of m.text.trim().split("\n")) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? (-?[0-9.e+-]+|NaN|[+-]Inf))$/, line);
  });

  it("unknown paths are 404 and wrong methods 405, both JSON", async () => {
    const nf = await request(box.socket("operator"), "GET", "/v2/everything");
    assert.equal(nf.status, 404);
    assert.deepEqual(Object.keys(nf.json().error).sort(), ["code", "details", "message", "retryable", "type"]);
    const na = await request(box.socket("operator"), "GET", "/v1/chat/completions");
    assert.equal(na.status, 405);
    assert.equal(na.json().error.code, "METHOD_NOT_ALLOWED");
  });
});
