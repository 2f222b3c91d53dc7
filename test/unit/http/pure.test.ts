// The HTTP socket's pure parts: OpenAI translations, route matching, body
// decoding, SSE formatting, Prometheus rendering, error bodies.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { isSealboxError } from "../../../daemon/errors.js";
import { parseJsonBody } from "../../../daemon/transports/http-body.js";
import { errorBody, rawErrorResponse } from "../../../daemon/transports/http-errors.js";
import { matchRoute } from "../../../daemon/transports/http-routes.js";
import { MetricsRegistry } from "../../../daemon/transports/metrics.js";
import {
  chatCompletionResponse,
  checkModel,
  embeddingBase64,
  parseChatCompletionRequest,
  parseCompletionRequest,
  parseEmbeddingRequest,
} from "../../../daemon/transports/openai-compat.js";
import { formatSseEvent } from "../../../daemon/transports/sse.js";

const loaded = { name: "demo", sha256: "ab".repeat(32) };

function throwsCode(fn: () => unknown, code: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => isSealboxError(e, code as never) && (re === undefined || re.test(e.message)));
}

describe("OpenAI translations", () => {
  it("maps a chat request's fields to the method table's params", () => {
    const r = parseChatCompletionRequest(
      {
        model: "demo",
        messages: [{ role: "developer", content: "be brief" }, { role: "user", content: [{ type: "text", text: "hi " }, { type: "text", text: "there" }] }],
        max_completion_tokens: 12,
        temperature: 0.2,
        top_p: 0.9,
        seed: 5,
        stop: "END",
        stream: true,
        stream_options: { include_usage: true },
        user: "plc-7",
        n: 1,
        response_format: { type: "json_schema", json_schema: { name: "a", schema: { type: "object" } } },
      },
      loaded,
    );
    assert.deepEqual(r, {
      params: { messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi there" }], temperature: 0.2, topP: 0.9, seed: 5, maxTokens: 12, stop: ["END"], jsonSchema: { type: "object" } },
      stream: true,
      includeUsage: true,
    });
  });

  it("refuses what it cannot honour, by name", () => {
    throwsCode(() => parseChatCompletionRequest({ messages: [], tools: [{ type: "function" }] }, loaded), "UNSUPPORTED", /'tools'/);
    throwsCode(() => parseChatCompletionRequest({ messages: [], logprobs: true }, loaded), "UNSUPPORTED", /'logprobs'/);
    throwsCode(() => parseChatCompletionRequest({ messages: [], frobnicate: 1 }, loaded), "BAD_REQUEST", /unknown parameter 'frobnicate'/);
    throwsCode(() => parseChatCompletionRequest({ messages: [{ role: "tool", content: "x" }] }, loaded), "BAD_REQUEST", /messages\[0\]\.role/);
    throwsCode(() => parseChatCompletionRequest({ messages: [{ role: "user", content: [{ type: "image_url" }] }] }, loaded), "BAD_REQUEST", /only text parts/);
    throwsCode(() => parseChatCompletionRequest({ messages: [], response_format: { type: "json_object" } }, loaded), "UNSUPPORTED");
    throwsCode(() => parseChatCompletionRequest({ messages: [], stream: "yes" }, loaded), "BAD_REQUEST", /'stream'/);
    throwsCode(() => parseChatCompletionRequest(null, loaded), "BAD_REQUEST");
    throwsCode(() => parseCompletionRequest({ prompt: ["a", "b"] }, loaded), "BAD_REQUEST", /exactly one string/);
    throwsCode(() => parseEmbeddingRequest({ input: [[1, 2, 3]] }, loaded), "BAD_REQUEST", /token arrays/);
    throwsCode(() => parseEmbeddingRequest({ input: "x", encoding_format: "int8" }, loaded), "BAD_REQUEST");
  });

  it("accepts the loaded model by name, SHA-256, prefix or 'default'", () => {
    for (const m of [undefined, null, "demo", "ab".repeat(32), "abababab", "default"]) checkModel(m as never, loaded);
    throwsCode(() => checkModel("gpt-4o", loaded), "NOT_FOUND", /not loaded/);
    throwsCode(() => checkModel("abab", loaded), "NOT_FOUND");
    throwsCode(() => checkModel("demo", undefined), "MODEL_UNAVAILABLE");
  });

  it("answers with usage, finish reason and the sealbox field", () => {
    const r = chatCompletionResponse({ text: "yes", finishReason: "length", usage: { promptTokens: 4, completionTokens: 6 }, model: { name: "demo", sha256: "cd" }, auditSeq: [7, 8] }, "chatcmpl-1", 100);
    assert.deepEqual(r.choices, [{ index: 0, message: { role: "assistant", content: "yes" }, finish_reason: "length" }]);
    assert.deepEqual(r.usage, { prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 });
    assert.deepEqual(r.sealbox, { audit_seq: [7, 8], model_sha256: "cd", finish_reason: "length" });
  });

  it("encodes embeddings as little-endian float32 base64", () => {
    assert.equal(embeddingBase64([1, -2]), Buffer.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]).toString("base64"));
  });
});

describe("routes", () => {
  it("matches paths with parameters, and tells 404 from 405", () => {
    const m = matchRoute("GET", "/sealbox/v1/audit/records/42");
    assert.ok(m.route);
    assert.deepEqual(m.params, ["42"]);
    assert.equal(matchRoute("HEAD", "/healthz").route?.path, "/healthz");
    const wrong = matchRoute("DELETE", "/v1/models");
    assert.equal(wrong.route, undefined);
    assert.deepEqual((wrong as { allowed: string[] }).allowed, ["GET"]);
    const none = matchRoute("GET", "/sealbox/v1/audit/records/");
    assert.equal(none.route, undefined);
    assert.deepEqual((none as { allowed: string[] }).allowed, []);
  });
});

describe("request bodies", () => {
  it("decodes UTF-8 JSON and names what is wrong otherwise", () => {
    assert.deepEqual(parseJsonBody(new TextEncoder().encode('{"a":"é"}')), { a: "é" });
    assert.equal(parseJsonBody(new Uint8Array()), undefined);
    assert.equal(parseJsonBody(new TextEncoder().encode("  \n")), undefined);
    throwsCode(() => parseJsonBody(Uint8Array.from([0x22, 0xc3, 0x28, 0x22])), "BAD_REQUEST", /UTF-8/);
    throwsCode(() => parseJsonBody(Uint8Array.from([0x22, 0xed, 0xa0, 0x80, 0x22])), "BAD_REQUEST", /UTF-8/); // a lone surrogate
    throwsCode(() => parseJsonBody(new TextEncoder().encode('{"a":')), "BAD_REQUEST", /JSON/);
    // Every truncation of a valid body is either valid JSON or a BAD_REQUEST, never a crash.
    const whole = new TextEncoder().encode('{"messages":[{"role":"user","content":"ünïcødé ✓"}]}');
    for (let n = 0; n < whole.length; n++) {
      try {
        parseJsonBody(whole.subarray(0, n));
      } catch (e) {
        assert.ok(isSealboxError(e, "BAD_REQUEST"), `cut at ${n}`);
      }
    }
  });
});

describe("wire formats", () => {
  it("formats SSE events, one data line per line", () => {
    assert.equal(formatSseEvent('{"a":1}'), 'data: {"a":1}\n\n');
    assert.equal(formatSseEvent("a\nb", "chunk"), "event: chunk\ndata: a\ndata: b\n\n");
    assert.equal(formatSseEvent("x", "bad\nname"), "event: badname\ndata: x\n\n");
  });

  it("renders Prometheus text with escaped labels and cumulative buckets", () => {
    const r = new MetricsRegistry();
    const c = r.counter("t_total", "A counter.");
    c.inc({ path: 'a"b\\c\nd' });
    const h = r.histogram("t_seconds", "A histogram.", [0.1, 1]);
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    r.collect({ name: "t_gauge", help: "A gauge.", collect: () => [{ value: 3 }] });
    r.collect({ name: "t_broken", help: "Broken.", collect: () => { throw new Error("x"); } });
    const text = r.render();
    assert.match(text, /^t_total\{path="a\\"b\\\\c\\nd"\} 1$/m);
    assert.match(text, /^t_seconds_bucket\{le="0\.1"\} 1$/m);
    assert.match(text, /^t_seconds_bucket\{le="1"\} 2$/m);
    assert.match(text, /^t_seconds_bucket\{le="\+Inf"\} 3$/m);
    assert.match(text, /^t_seconds_count 3$/m);
    assert.match(text, /^t_gauge 3$/m);
    assert.match(text, /^sealbox_metrics_collect_errors_total\{collector="t_broken"\} 1$/m);
  });

  it("writes errors in OpenAI's shape with the registry's code", () => {
    const b = errorBody(new Error("boom"));
    assert.deepEqual(b, { error: { code: "INTERNAL", message: "boom", type: "server_error", retryable: false } });
    const raw = rawErrorResponse("TOO_MANY_CONNECTIONS", "full");
    assert.match(raw, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    const body = raw.slice(raw.indexOf("\r\n\r\n") + 4);
    assert.equal(Number(/Content-Length: (\d+)/.exec(raw)![1]), Buffer.byteLength(body));
    assert.equal(JSON.parse(body).error.code, "TOO_MANY_CONNECTIONS");
  });
});
