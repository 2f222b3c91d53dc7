import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import type { RuntimeInfo } from "../../../daemon/inference/runtime.js";
import {
  DIGEST_BLOCK_TOKENS,
  MAX_DETAILS_BYTES,
  canonicalJson,
  outcomeEvent,
  promptSha256,
  requestEvent,
  tokenDigests,
  tokensSha256,
  vectorsSha256,
  type OutcomeFacts,
  type RequestFacts,
} from "../../../daemon/inference/provenance.js";

const sha = (s: string | Uint8Array): string => createHash("sha256").update(s).digest("hex");
const runtime: RuntimeInfo = { nodeLlamaCpp: "3.21.1", llamaCpp: { release: "v0.4.0", commit: "a".repeat(40) }, mode: "cpu", device: "test CPU", threads: 1 };
const actor = { role: "operator", transport: "internal", peer: "-" };
const M = "b".repeat(64);

function reqFacts(over: Partial<RequestFacts> = {}): RequestFacts {
  return {
    requestId: "r1",
    kind: "chat",
    actor,
    modelSha256: M,
    promptSha256: "c".repeat(64),
    promptTokens: 12,
    sampling: { temperature: 0.5, topK: 40, topP: 0.9, minP: 0, seed: 7 },
    maxTokens: 64,
    priority: "high",
    deadlineMs: 1000,
    engine: { mode: "cpu", contextSize: 512, sequences: 1, batchSize: 512, threads: 1, deterministic: true },
    ...over,
  };
}

function outFacts(over: Partial<OutcomeFacts> = {}): OutcomeFacts {
  return {
    requestId: "r1",
    requestSeq: 4,
    kind: "chat",
    actor,
    endedBy: "done",
    stopReason: "eog",
    modelSha256: M,
    runtime,
    promptSha256: "c".repeat(64),
    promptTokens: 12,
    output: { text: "hi there", tokens: [1, 2, 3] },
    timings: { queueMs: 1.23456, generateMs: 10, totalMs: 12, auditMs: 0.5 },
    storeText: false,
    ...over,
  };
}

describe("canonicalJson (RFC 8785)", () => {
  it("sorts keys by UTF-16 code units and uses ES number and string forms", () => {
    assert.equal(canonicalJson({ b: 1, a: [true, null, "x"], "\u00e9": 2, A: 1e21, z: 0.1 }), '{"A":1e+21,"a":[true,null,"x"],"b":1,"z":0.1,"é":2}');
    assert.equal(canonicalJson("\u2028\n\""), '"\u2028\\n\\""');
    assert.equal(canonicalJson([]), "[]");
    assert.equal(canonicalJson({}), "{}");
  });
  it("refuses non-finite numbers", () => {
    assert.throws(() => canonicalJson(Number.NaN), RangeError);
    assert.throws(() => canonicalJson({ x: Infinity }), RangeError);
  });
});

describe("hashes", () => {
  it("chat prompts hash as canonical JSON of role and content only", () => {
    const h = promptSha256("chat", [{ role: "user", content: "hé" }]);
    assert.equal(h, sha('[{"content":"hé","role":"user"}]'));
    const extra = [{ role: "user", content: "hé", name: "x" }] as never;
    assert.equal(promptSha256("chat", extra), h);
  });
  it("completion prompts hash as their UTF-8 bytes, embedding inputs as a canonical JSON array", () => {
    assert.equal(promptSha256("complete", "abc"), sha("abc"));
    assert.equal(promptSha256("embed", ["a", "b"]), sha('["a","b"]'));
  });
  it("token ids hash as u32 little-endian", () => {
    assert.equal(tokensSha256([1, 256]), sha(new Uint8Array([1, 0, 0, 0, 0, 1, 0, 0])));
    assert.equal(tokensSha256([]), sha(""));
  });
  it("block digests are cumulative prefixes, one per block and one for a partial last block", () => {
    const tokens = Array.from({ length: DIGEST_BLOCK_TOKENS * 2 + 5 }, (_, i) => i * 7);
    const d = tokenDigests(tokens);
    assert.equal(d.length, 3);
    assert.equal(d[0], tokensSha256(tokens.slice(0, DIGEST_BLOCK_TOKENS)).slice(0, 16));
    assert.equal(d[1], tokensSha256(tokens.slice(0, DIGEST_BLOCK_TOKENS * 2)).slice(0, 16));
    assert.equal(d[2], tokensSha256(tokens).slice(0, 16));
    assert.deepEqual(tokenDigests([]), []);
  });
  it("vectors hash as consecutive f32 little-endian", () => {
    const b = new Uint8Array(12);
    const v = new DataView(b.buffer);
    [1, -2, 0.5].forEach((x, i) => v.setFloat32(i * 4, x, true));
    assert.equal(vectorsSha256([[1, -2], [0.5]]), sha(b));
  });
});

describe("requestEvent", () => {
  it("is the write-ahead record: category inference, outcome requested, target the model, no text by default", () => {
    const e = requestEvent(reqFacts());
    assert.equal(e.category, "inference");
    assert.equal(e.action, "chat");
    assert.equal(e.outcome, "requested");
    assert.equal(e.target, M);
    assert.deepEqual(e.actor, actor);
    const d = e.details!;
    assert.equal(d.promptSha256, "c".repeat(64));
    assert.deepEqual(d.sampling, { temperature: 0.5, topK: 40, topP: 0.9, minP: 0, seed: 7, repeatPenalty: "off" });
    assert.equal(d.maxTokens, 64);
    assert.equal(d.prompt, undefined);
    assert.deepEqual(d.model, { sha256: M });
    assert.equal((d.engine as { deterministic: boolean }).deterministic, true);
  });
  it("stores the prompt when given (text configured) and drops it, marked, when it would not fit a record", () => {
    const small = requestEvent(reqFacts({ prompt: [{ role: "user", content: "hello" }] }));
    assert.deepEqual(small.details!.prompt, [{ role: "user", content: "hello" }]);
    const big = requestEvent(reqFacts({ prompt: [{ role: "user", content: "x".repeat(MAX_DETAILS_BYTES) }] }));
    assert.equal(big.details!.prompt, undefined);
    assert.equal(big.details!.textOmitted, "too-large");
    assert.ok(Buffer.byteLength(canonicalJson(big.details!)) < MAX_DETAILS_BYTES);
  });
  it("records stop strings and the JSON schema when given", () => {
    const e = requestEvent(reqFacts({ stop: ["END"], jsonSchema: { type: "boolean" } }));
    assert.deepEqual(e.details!.stop, ["END"]);
    assert.deepEqual(e.details!.jsonSchema, { type: "boolean" });
  });
});

describe("outcomeEvent", () => {
  it("binds model, runtime, sampling, prompt and output hashes, counts and timings", () => {
    const e = outcomeEvent(outFacts({ sampling: { temperature: 0, topK: 0, topP: 1, minP: 0, seed: 1 } }));
    const d = e.details!;
    assert.equal(e.outcome, "success");
    assert.equal(d.requestSeq, 4);
    assert.equal(d.endedBy, "done");
    assert.equal(d.stopReason, "eog");
    assert.deepEqual(d.runtime, { nodeLlamaCpp: "3.21.1", llamaCpp: { release: "v0.4.0", commit: "a".repeat(40) }, mode: "cpu", device: "test CPU", threads: 1 });
    assert.equal(d.outputSha256, sha("hi there"));
    assert.equal(d.outputTokens, 3);
    assert.equal(d.outputTokensSha256, tokensSha256([1, 2, 3]));
    assert.deepEqual(d.outputDigests, tokenDigests([1, 2, 3]));
    assert.equal((d.timings as { queueMs: number }).queueMs, 1.235);
    assert.equal(d.output, undefined, "no text unless configured");
    assert.equal(d.outputTokenIds, undefined);
    assert.equal((d.sampling as { seed: number }).seed, 1);
  });
  it("stores text and token ids when configured, and drops them when too large", () => {
    const withText = outcomeEvent(outFacts({ storeText: true }));
    assert.equal(withText.details!.output, "hi there");
    assert.deepEqual(withText.details!.outputTokenIds, [1, 2, 3]);
    const huge = outcomeEvent(outFacts({ storeText: true, output: { text: "y".repeat(70_000), tokens: [5] } }));
    assert.equal(huge.details!.output, undefined);
    assert.equal(huge.details!.textOmitted, "too-large");
    assert.equal(huge.details!.outputSha256, sha("y".repeat(70_000)), "hash kept");
  });
  it("maps how it ended to the record's outcome", () => {
    const outcome = (endedBy: OutcomeFacts["endedBy"]) => outcomeEvent(outFacts({ endedBy })).outcome;
    assert.deepEqual(
      (["done", "cancelled", "deadline", "error", "refused"] as const).map(outcome),
      ["success", "info", "failure", "failure", "refused"],
    );
  });
  it("records an error's code and message, and embeddings by hash", () => {
    const e = outcomeEvent(outFacts({ endedBy: "error", output: undefined, error: { code: "INFERENCE_FAILED", message: "boom" } }));
    assert.deepEqual(e.details!.error, { code: "INFERENCE_FAILED", message: "boom" });
    assert.equal(e.details!.outputSha256, undefined);
    const v = outcomeEvent(outFacts({ kind: "embed", output: undefined, vectors: [[1, 2], [3, 4]] }));
    assert.equal(v.details!.vectors, 2);
    assert.equal(v.details!.dimensions, 2);
    assert.equal(v.details!.vectorsSha256, vectorsSha256([[1, 2], [3, 4]]));
  });
});
