import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { DIGEST_BLOCK_TOKENS, outcomeEvent, promptSha256, requestEvent } from "../../../daemon/inference/provenance.js";
import { compareTokens, planReplay, promptFromText } from "../../../daemon/inference/replay-plan.js";
import type { AuditEvent, AuditRecord, JsonValue } from "../../../daemon/ledger/types.js";

const M = "d".repeat(64);
const actor = { role: "technician", transport: "cli", peer: "-" };
const runtime = { nodeLlamaCpp: "3.21.1", llamaCpp: { release: "v0.4.0", commit: "e".repeat(40) }, mode: "cpu" as const, device: "cpu", threads: 1 };
const messages = [{ role: "user" as const, content: "status of pump 3?" }];
const tokens = Array.from({ length: 70 }, (_, i) => (i * 13) % 300);

function record(e: AuditEvent, seq: number): AuditRecord {
  return JSON.parse(JSON.stringify({ v: 1, seq, time: "2025-01-01T00:00:00.000Z", box: "b", ...e })) as AuditRecord;
}

function pair(opts: { storeText: boolean; endedBy?: "done" | "cancelled" | "deadline" | "error" }): [AuditRecord, AuditRecord] {
  const req = record(
    requestEvent({
      requestId: "q1",
      kind: "chat",
      actor,
      modelSha256: M,
      promptSha256: promptSha256("chat", messages),
      promptTokens: 9,
      ...(opts.storeText ? { prompt: messages } : {}),
      sampling: { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 11 },
      maxTokens: 100,
      priority: "high",
      deadlineMs: 5000,
      engine: { mode: "cpu", contextSize: 512, sequences: 1, batchSize: 512, threads: 1, deterministic: true },
    }),
    5,
  );
  const out = record(
    outcomeEvent({
      requestId: "q1",
      requestSeq: 5,
      kind: "chat",
      actor,
      endedBy: opts.endedBy ?? "done",
      stopReason: "maxTokens",
      modelSha256: M,
      runtime,
      sampling: { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 11 },
      promptSha256: promptSha256("chat", messages),
      promptTokens: 9,
      output: { text: "answer", tokens },
      timings: { queueMs: 0, generateMs: 1, totalMs: 1, auditMs: 0 },
      storeText: opts.storeText,
    }),
    7,
  );
  return [req, out];
}

/** A deep copy with one change at a path. */
function mutate(r: AuditRecord, path: string[], value: JsonValue | undefined): AuditRecord {
  const copy = structuredClone(r) as unknown as Record<string, unknown>;
  let o = copy;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  if (value === undefined) delete o[path[path.length - 1]!];
  else o[path[path.length - 1]!] = value;
  return copy as unknown as AuditRecord;
}

const isBadFormat = (field?: string) => (e: unknown) => isSealboxError(e, "BAD_FORMAT") && (field === undefined || String(e.details?.field).startsWith(field));

describe("planReplay", () => {
  it("reads a stored-text pair: prompt, sampling, limits, token ids", () => {
    const [req, out] = pair({ storeText: true });
    const p = planReplay(req, out);
    assert.equal(p.kind, "chat");
    assert.deepEqual(p.prompt, messages);
    assert.equal(p.sampling?.seed, 11);
    assert.equal(p.maxTokens, 100);
    assert.deepEqual(p.recorded.outputTokenIds, tokens);
    assert.equal(p.recorded.outputDigests?.length, 3);
    assert.equal(p.engine.contextSize, 512);
    assert.equal(p.recorded.runtime.llamaCppCommit, "e".repeat(40));
  });

  it("reads a hash-only pair: no prompt, no token ids, digests kept", () => {
    const p = planReplay(...pair({ storeText: false }));
    assert.equal(p.prompt, undefined);
    assert.equal(p.recorded.outputTokenIds, undefined);
    assert.equal(p.recorded.outputDigests?.length, 3);
  });

  it("replays a cut-off answer for as many tokens as it had", () => {
    assert.equal(planReplay(...pair({ storeText: false, endedBy: "cancelled" })).maxTokens, tokens.length);
  });

  it("refuses records that are not a request and its outcome", () => {
    const [req, out] = pair({ storeText: true });
    assert.throws(() => planReplay(out, out), isBadFormat("request.outcome"));
    assert.throws(() => planReplay(mutate(req, ["category"], "model"), out), isBadFormat("request.category"));
    assert.throws(() => planReplay(req, mutate(out, ["details", "requestSeq"], 6)), isBadFormat("outcome.details.requestSeq"));
    assert.throws(() => planReplay(req, mutate(out, ["details", "requestId"], "other")), isBadFormat("outcome.details.requestId"));
    assert.throws(() => planReplay(req, mutate(out, ["details", "kind"], "complete")), isBadFormat("outcome.details.kind"));
    assert.throws(() => planReplay(req, mutate(out, ["details", "model", "sha256"], "f".repeat(64))), isBadFormat("outcome.details.model"));
  });

  it("refuses hostile or malformed fields, naming them", () => {
    const [req, out] = pair({ storeText: true });
    const cases: [AuditRecord, AuditRecord, string][] = [
      [mutate(req, ["details"], undefined), out, "request.details"],
      [mutate(req, ["details"], [1, 2]), out, "request.details"],
      [mutate(req, ["details", "kind"], "shell"), out, "request.details.kind"],
      [mutate(req, ["details", "model", "sha256"], "../../etc/passwd"), out, "request.details.model"],
      [mutate(req, ["details", "promptSha256"], "ABC"), out, "request.details.promptSha256"],
      [mutate(req, ["details", "engine", "mode"], "vulkan"), out, "request.details.engine.mode"],
      [mutate(req, ["details", "engine", "contextSize"], 1e12), out, "request.details.engine.contextSize"],
      [mutate(req, ["details", "engine", "threads"], -1), out, "request.details.engine.threads"],
      [mutate(req, ["details", "engine", "deterministic"], "yes"), out, "request.details.engine.deterministic"],
      [mutate(req, ["details", "sampling", "seed"], 2 ** 40), out, "request.details.sampling.seed"],
      [mutate(req, ["details", "sampling", "temperature"], "hot"), out, "request.details.sampling.temperature"],
      [mutate(req, ["details", "maxTokens"], 0), out, "request.details.maxTokens"],
      [mutate(req, ["details", "maxTokens"], 1e9), out, "request.details.maxTokens"],
      [mutate(req, ["details", "stop"], [1]), out, "request.details.stop"],
      [mutate(req, ["details", "prompt"], [{ role: "user" }]), out, "request.details.prompt"],
      [mutate(req, ["details", "prompt"], "not messages"), out, "request.details.prompt"],
      [req, mutate(out, ["details", "endedBy"], "exploded"), "outcome.details.endedBy"],
      [req, mutate(out, ["details", "runtime"], null), "outcome.details.runtime"],
      [req, mutate(out, ["details", "outputTokenIds"], [1, -2]), "outcome.details.outputTokenIds"],
      [req, mutate(out, ["details", "outputTokenIds"], [1, 2]), "outcome.details.outputTokenIds"],
      [req, mutate(out, ["details", "outputTokenIds"], "1,2,3"), "outcome.details.outputTokenIds"],
      [req, mutate(out, ["details", "outputDigests"], ["zz"]), "outcome.details.outputDigests"],
      [req, mutate(out, ["details", "outputSha256"], 5), "outcome.details.outputSha256"],
      [req, mutate(out, ["details", "outputTokens"], -3), "outcome.details.outputTokens"],
    ];
    for (const [r, o, field] of cases) assert.throws(() => planReplay(r, o), isBadFormat(field), field);
  });
});

describe("promptFromText", () => {
  const plan = planReplay(...pair({ storeText: false }));
  it("accepts the messages as an array or {messages}, checked against the recorded hash", () => {
    assert.deepEqual(promptFromText(plan, JSON.stringify(messages)), messages);
    assert.deepEqual(promptFromText(plan, JSON.stringify({ messages })), messages);
  });
  it("refuses another prompt (VERIFY_FAILED), bad JSON and bad shapes", () => {
    assert.throws(() => promptFromText(plan, JSON.stringify([{ role: "user", content: "status of pump 4?" }])), (e: unknown) => isSealboxError(e, "VERIFY_FAILED") && /does not match/.test(e.message));
    assert.throws(() => promptFromText(plan, "{not json"), (e: unknown) => isSealboxError(e, "BAD_FORMAT"));
    assert.throws(() => promptFromText(plan, "[1]"), (e: unknown) => isSealboxError(e, "BAD_REQUEST"));
  });
  it("takes a completion prompt as the exact text", () => {
    const p = { ...plan, kind: "complete" as const, promptSha256: promptSha256("complete", "abc\n") };
    assert.equal(promptFromText(p, "abc\n"), "abc\n");
    assert.throws(() => promptFromText(p, "abc"), (e: unknown) => isSealboxError(e, "VERIFY_FAILED"));
  });
});

describe("compareTokens", () => {
  const withIds = planReplay(...pair({ storeText: true }));
  const hashOnly = planReplay(...pair({ storeText: false }));
  it("identical when tokens and text match", () => {
    assert.deepEqual(compareTokens(withIds, tokens, "answer"), { identical: true, recordedTokens: 70, replayedTokens: 70 });
    assert.equal(compareTokens(hashOnly, tokens, "answer").identical, true);
  });
  it("exact first divergence with stored token ids", () => {
    const other = [...tokens];
    other[41] = 9999;
    assert.equal(compareTokens(withIds, other, "x").divergedAt, 41);
    assert.equal(compareTokens(withIds, tokens.slice(0, 50), "x").divergedAt, 50);
    assert.equal(compareTokens(withIds, [...tokens, 1], "x").divergedAt, 70);
  });
  it("the block of the first divergence with hashes only", () => {
    const other = [...tokens];
    other[41] = 9999;
    const c = compareTokens(hashOnly, other, "x");
    assert.equal(c.identical, false);
    assert.deepEqual(c.divergedWithin, [DIGEST_BLOCK_TOKENS, DIGEST_BLOCK_TOKENS * 2]);
    other[41] = tokens[41]!;
    other[3] = 9999;
    assert.deepEqual(compareTokens(hashOnly, other, "x").divergedWithin, [0, DIGEST_BLOCK_TOKENS]);
  });
  it("the same tokens with other text are not identical", () => {
    assert.equal(compareTokens(hashOnly, tokens, "answer!").identical, false);
  });
});
