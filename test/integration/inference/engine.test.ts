// The engine on a real, generated GGUF through real node-llama-cpp (CPU, one
// thread). No network, no download.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { appendFile, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readGgufFileInfo } from "node-llama-cpp";
import { isSealboxError } from "../../../daemon/errors.js";
import { InferenceEngine } from "../../../daemon/inference/engine.js";
import { makeDemoModel, openDemoEngine, type DemoModel } from "../../helpers/demo-model.js";

const sampling = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 5 };

describe("demo GGUF read by an independent parser", () => {
  let model: DemoModel;
  before(async () => (model = await makeDemoModel({ seed: 2 })));
  after(() => model.cleanup());

  it("node-llama-cpp's GGUF reader sees a llama model with the byte-level tokenizer and ChatML template", async () => {
    const info = await readGgufFileInfo(model.path);
    assert.equal(info.version, 3);
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    assert.equal(md.general!.architecture, "llama");
    const tok = md.tokenizer!.ggml as Record<string, unknown>;
    assert.equal(tok.model, "gpt2");
    assert.equal((tok.tokens as string[]).length, info.tensorInfo!.find((t) => t.name === "token_embd.weight")!.dimensions[1]);
    assert.match(String(md.tokenizer!.chat_template), /<\|im_start\|>/);
    assert.equal(info.tensorInfo!.length, 2 + 9 * 2 + 1);
  });
});

describe("a Q8_0 demo model", () => {
  it("loads in llama.cpp and generates (the quantized layout is the one llama.cpp reads)", async () => {
    const q8 = await makeDemoModel({ seed: 3, weights: "q8_0", noEndTokens: true });
    const engine = await openDemoEngine(q8);
    try {
      const r = await engine.generate({ kind: "complete", prompt: engine.prepareCompletion("Valve 3:"), maxTokens: 12, sampling });
      assert.equal(r.tokens.length, 12);
      assert.equal(r.stopReason, "maxTokens");
      assert.ok(r.text.length > 0);
    } finally {
      await engine.close();
      await q8.cleanup();
    }
  });
});

describe("InferenceEngine", () => {
  let model: DemoModel;
  let endless: DemoModel;
  let engine: InferenceEngine;
  before(async () => {
    model = await makeDemoModel({ seed: 1 });
    endless = await makeDemoModel({ seed: 1, noEndTokens: true });
    engine = await openDemoEngine(endless);
  });
  after(async () => {
    await engine?.close();
    await model.cleanup();
    await endless.cleanup();
  });

  it("reports what it runs: model hash, versions, mode, device", () => {
    assert.equal(engine.info.model.sha256, endless.sha256);
    assert.equal(engine.info.runtime.mode, "cpu");
    assert.equal(engine.info.runtime.nodeLlamaCpp, "3.21.1");
    assert.match(engine.info.runtime.llamaCpp.commit, /^([0-9a-f]{40}|unknown)$/);
    assert.ok(engine.info.runtime.device.length > 0);
    assert.equal(engine.info.sequences, 2);
    assert.equal(engine.info.contextSize, 512);
  });

  it("generates a chat answer to the token limit, streaming text whose concatenation is the answer", async () => {
    const chunks: string[] = [];
    const out = await engine.generate(
      { kind: "chat", prompt: engine.prepareChat([{ role: "user", content: "Is the pump running?" }]), maxTokens: 24, sampling },
      { onText: (t) => chunks.push(t) },
    );
    assert.equal(out.stopReason, "maxTokens");
    assert.ok(out.tokens.length > 0 && out.tokens.length <= 24);
    assert.ok(chunks.length > 1, "streamed in pieces");
    assert.equal(chunks.join(""), out.text);
    assert.ok(out.firstTokenMs !== undefined && out.firstTokenMs <= out.generateMs);
  });

  it("is deterministic for a seed, and another seed gives another answer", async () => {
    const run = (seed: number) =>
      engine.generate({ kind: "complete", prompt: engine.prepareCompletion("The audit log"), maxTokens: 16, sampling: { ...sampling, seed } });
    const a = await run(1);
    const b = await run(1);
    const c = await run(2);
    assert.deepEqual(a.tokens, b.tokens);
    assert.notDeepEqual(a.tokens, c.tokens);
  });

  it("keeps control-token text in a prompt as plain text", () => {
    const plain = engine.prepareCompletion("<|im_end|>");
    assert.ok(plain.tokens.length > 1, "not the single control token");
    const chat = engine.prepareChat([{ role: "user", content: "<|im_start|>system" }]);
    const control = engine.prepareChat([{ role: "user", content: "x" }]).tokens.filter((t) => t === chat.tokens[1]).length;
    assert.equal(chat.tokens.filter((t) => t === chat.tokens[1]).length, control, "no extra <|im_start|> from the user's text");
  });

  it("constrains the answer to a JSON schema", async () => {
    const grammar = await engine.jsonSchemaGrammar({
      type: "object",
      properties: { running: { type: "boolean" }, level: { enum: ["low", "high"] } },
    });
    const out = await engine.generate({ kind: "chat", prompt: engine.prepareChat([{ role: "user", content: "json" }]), maxTokens: 60, sampling, grammar });
    assert.equal(out.stopReason, "grammar");
    const parsed = grammar.parse(out.text) as { running: boolean; level: string };
    assert.equal(typeof parsed.running, "boolean");
    assert.ok(["low", "high"].includes(parsed.level));
  });

  it("refuses a schema it cannot turn into a grammar", async () => {
    // node-llama-cpp itself would quietly turn these into a grammar for "null" or "anything".
    for (const schema of [{ type: "no-such-type" }, { type: "object", properties: 5 }, 5, {}, { type: "string", pattern: "^a" }]) {
      await assert.rejects(engine.jsonSchemaGrammar(schema), (e: unknown) => isSealboxError(e, "BAD_REQUEST"), JSON.stringify(schema));
    }
  });

  it("stops at a stop string", async () => {
    const first = await engine.generate({ kind: "complete", prompt: engine.prepareCompletion("x"), maxTokens: 30, sampling: { ...sampling, temperature: 0 } });
    const piece = first.text.slice(4, 6);
    assert.ok(piece.length > 0);
    const out = await engine.generate({ kind: "complete", prompt: engine.prepareCompletion("x"), maxTokens: 30, sampling: { ...sampling, temperature: 0 }, stop: [piece] });
    assert.equal(out.stopReason, "stop");
    assert.ok(!out.text.includes(piece));
  });

  it("embeds text into vectors of the model's width, the same text the same vector", async () => {
    const a = await engine.embed("pump 3 pressure");
    const b = await engine.embed("pump 3 pressure");
    const c = await engine.embed("valve 9");
    assert.equal(a.vector.length, 64);
    assert.deepEqual(a.vector, b.vector);
    assert.notDeepEqual(a.vector, c.vector);
    assert.ok(a.tokens > 0);
  });

  it("refuses an embedding input longer than its context", async () => {
    await assert.rejects(engine.embed("word ".repeat(600)), (e: unknown) => isSealboxError(e, "PROMPT_TOO_LONG"));
  });

  it("cancels mid-stream and returns the partial answer", async () => {
    const ac = new AbortController();
    let chunks = 0;
    const out = await engine.generate(
      { kind: "chat", prompt: engine.prepareChat([{ role: "user", content: "talk" }]), maxTokens: 200, sampling },
      { signal: ac.signal, onText: () => ++chunks === 3 && ac.abort() },
    );
    assert.equal(out.stopReason, "abort");
    assert.ok(out.tokens.length >= 2 && out.tokens.length < 200, `${out.tokens.length} tokens`);
    assert.ok(out.text.length > 0);
  });

  it("returns an empty answer when aborted before it starts", async () => {
    const out = await engine.generate(
      { kind: "complete", prompt: engine.prepareCompletion("x"), maxTokens: 50, sampling },
      { signal: AbortSignal.abort() },
    );
    assert.equal(out.stopReason, "abort");
    assert.ok(out.tokens.length <= 1);
  });

  it("runs as many requests at once as it has sequences, and refuses more", async () => {
    const job = { kind: "complete" as const, prompt: engine.prepareCompletion("abc"), maxTokens: 40, sampling };
    const a = engine.generate(job);
    const b = engine.generate(job);
    assert.equal(engine.freeSequences, 0);
    await assert.rejects(engine.generate(job), (e: unknown) => isSealboxError(e, "INTERNAL"));
    const [ra, rb] = await Promise.all([a, b]);
    assert.ok(ra.tokens.length > 0 && rb.tokens.length > 0);
    assert.equal(engine.freeSequences, 2);
  });

  it("spreads sequences over several contexts, which run at once", async () => {
    await using e = await openDemoEngine(endless, { sequences: 3, contexts: 2, threads: 1 });
    assert.equal(e.info.contexts, 2);
    assert.equal(e.info.sequences, 3);
    const job = { kind: "complete" as const, prompt: e.prepareCompletion("abc"), maxTokens: 20, sampling };
    const outs = await Promise.all([e.generate(job), e.generate(job), e.generate(job)]);
    assert.ok(outs.every((o) => o.tokens.length > 0));
    // Same seed, same prompt: the same answer whichever context ran it.
    assert.deepEqual(outs[0]!.tokens, outs[1]!.tokens);
    assert.deepEqual(outs[0]!.tokens, outs[2]!.tokens);
    assert.equal(e.freeSequences, 3);
  });

  it("a model that can end its answer stops at its end-of-generation token", async () => {
    await using e = await openDemoEngine(model, { sequences: 1 });
    const out = await e.generate({ kind: "complete", prompt: e.prepareCompletion("The"), maxTokens: 400, sampling: { ...sampling, temperature: 0 } });
    // The random model with end tokens enabled ends about once per vocabulary-size tokens.
    assert.ok(["eog", "maxTokens"].includes(out.stopReason));
    assert.equal(e.closed, false);
  });
});

describe("InferenceEngine.open refuses", () => {
  let model: DemoModel;
  before(async () => (model = await makeDemoModel({ seed: 4 })));
  after(() => model.cleanup());

  it("a model whose hash is not the expected one (MODEL_REJECTED), before loading it", async () => {
    await assert.rejects(openDemoEngine(model, { modelSha256: "0".repeat(64) }), (e: unknown) => isSealboxError(e, "MODEL_REJECTED") && e.details?.actualSha256 === model.sha256);
  });

  it("a model file changed after its hash was taken", async () => {
    const copy = join(model.dir, "tampered.gguf");
    await copyFile(model.path, copy);
    await appendFile(copy, Buffer.from([0]));
    await assert.rejects(InferenceEngine.open({ modelPath: copy, modelSha256: model.sha256, mode: "cpu", threads: 1 }), (e: unknown) => isSealboxError(e, "MODEL_REJECTED"));
  });

  it("a missing file (NOT_FOUND) and a malformed hash (BAD_ARGUMENT)", async () => {
    await assert.rejects(InferenceEngine.open({ modelPath: join(model.dir, "nope.gguf"), modelSha256: model.sha256, mode: "cpu", threads: 1 }), (e: unknown) => isSealboxError(e, "NOT_FOUND"));
    await assert.rejects(openDemoEngine(model, { modelSha256: "xyz" }), (e: unknown) => isSealboxError(e, "BAD_ARGUMENT"));
  });

  it("nonsense settings (BAD_CONFIG)", async () => {
    await assert.rejects(openDemoEngine(model, { contextSize: 0 }), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
    await assert.rejects(openDemoEngine(model, { threads: 0 }), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
    await assert.rejects(openDemoEngine(model, { mode: "auto" as never }), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
  });

  it("a file that is not a GGUF, with a clear error", async () => {
    const bogus = join(model.dir, "bogus.gguf");
    const { writeFile } = await import("node:fs/promises");
    await writeFile(bogus, "GGUF but not really");
    const { createHash } = await import("node:crypto");
    const sha = createHash("sha256").update("GGUF but not really").digest("hex");
    await assert.rejects(InferenceEngine.open({ modelPath: bogus, modelSha256: sha, mode: "cpu", threads: 1 }), (e: unknown) => isSealboxError(e, "MODEL_REJECTED") && /not a usable GGUF/.test(e.message));
  });

  it("cuda mode on a machine without a usable CUDA device (GPU_UNAVAILABLE), never falling back by itself", { skip: existsSync("/dev/nvidia0") ? "this machine has an NVIDIA device: the CUDA path runs in the GPU check instead" : false }, async () => {
    await assert.rejects(openDemoEngine(model, { mode: "cuda" }), (e: unknown) => isSealboxError(e, "GPU_UNAVAILABLE") && /CUDA/.test(e.message));
  });
});
