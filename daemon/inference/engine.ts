// The inference engine: one model, checked by SHA-256 on load, one or more
// contexts holding N parallel sequences between them, and the chat /
// completion / embedding calls on them. Sequences of one context are decoded
// together in one batch; separate contexts decode independently, each on its
// own thread(s) — node-llama-cpp samples between two decodes of a context, so
// one context per sequence keeps the CPU cores or the GPU busy meanwhile.
// It knows nothing of queues or audit records (service.ts puts those around
// it); it only refuses to run more requests at once than it has sequences.
//
// Object ownership follows node-llama-cpp's own (llama → model → context →
// sequence): the engine creates and disposes each, once, in reverse order.

import { ChatMLChatWrapper, LlamaChat, LlamaCompletion, type ChatHistoryItem, type LlamaContext, type LlamaContextSequence, type LlamaEmbeddingContext, type LlamaGrammar, type LlamaModel, type Token } from "node-llama-cpp";
import { cpus } from "node:os";
import { SealboxError, isSealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { inspectGgufFile } from "./gguf-reader.js";
import { checkJsonSchema } from "./json-schema-subset.js";
import { fileIdentity, sameIdentity, verifyModelFile } from "./model-file.js";
import { openRuntime, type InferenceMode, type Runtime, type RuntimeInfo, type RuntimeOptions } from "./runtime.js";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Sampling parameters, all recorded with every answer. */
export interface SamplingParams {
  /** 0 = greedy (always the most likely token). */
  temperature: number;
  /** Only the K most likely tokens are considered; 0 = all. */
  topK: number;
  /** Nucleus sampling threshold in (0, 1]; 1 = off. */
  topP: number;
  /** Discard tokens less likely than minP × the most likely one; 0 = off. */
  minP: number;
  /** Seed of the sampler's random generator (u32). */
  seed: number;
}

export interface EngineOptions {
  /** Path of the GGUF model file. */
  modelPath: string;
  /** Its expected SHA-256 (lowercase hex); the file is hashed and refused on mismatch. */
  modelSha256: string;
  /** "cuda" (all layers on the GPU; fails with GPU_UNAVAILABLE when none is usable) or "cpu". */
  mode: InferenceMode;
  /** CPU threads for llama.cpp, per context. Defaults to the number of CPU cores ÷ contexts (at least 1). */
  threads?: number;
  /** Context window of each sequence, in tokens (prompt + answer). Defaults to 2048. */
  contextSize?: number;
  /** Parallel sequences (requests that run at once). Defaults to 4; always 1 in deterministic mode. */
  sequences?: number;
  /**
   * Contexts the sequences are spread over (at most one per sequence). One
   * context per sequence is best on a CPU and on a GPU alike: a context idles
   * while node-llama-cpp samples its tokens, and the others fill that time
   * (4 sequences, 1.82× one request's tokens/s in 4 contexts against 1.13× in
   * 1 on 2 CPU cores; 3.4× against 1.4× on an H200). Defaults to one per
   * sequence; always 1 in deterministic mode.
   */
  contexts?: number;
  /** Tokens evaluated per llama.cpp batch. Defaults to 512 (at least `sequences`). */
  batchSize?: number;
  /**
   * One sequence, and every request starts from an empty context (no reuse of
   * a previous request's tokens), so that a recorded answer can be replayed
   * token for token. Defaults to false.
   */
  deterministic?: boolean;
  /** Context size of the embedding context, in tokens. Defaults to 512. */
  embeddingContextSize?: number;
  /** The CUDA kernel self-test at open (runtime.ts, cuda mode only): its bound, or false to skip it. */
  kernelProbe?: RuntimeOptions["kernelProbe"];
  logger?: Logger;
}

/** How the model stopped: end-of-generation token, token limit, grammar complete, a stop string, or aborted. */
export type StopReason = "eog" | "maxTokens" | "grammar" | "stop" | "abort";

export interface GenerateJob {
  kind: "chat" | "complete";
  /** The prepared prompt (prepareChat / prepareCompletion). */
  prompt: PreparedPrompt;
  maxTokens: number;
  sampling: SamplingParams;
  grammar?: LlamaGrammar;
  /** Texts that end the answer when generated (not included in it). */
  stop?: readonly string[];
}

export interface GenerateHooks {
  /** Aborting stops generation; the answer so far is returned with stopReason "abort". */
  signal?: AbortSignal;
  /** Each piece of text as it is generated. */
  onText?: (text: string) => void;
}

export interface GenerateOutput {
  text: string;
  /** Generated token ids, in order. */
  tokens: number[];
  stopReason: StopReason;
  /** From the start of evaluation to the first generated token, ms (undefined if none). */
  firstTokenMs: number | undefined;
  /** From the start of evaluation to the end, ms. */
  generateMs: number;
}

export interface PreparedPrompt {
  kind: "chat" | "complete";
  tokens: Token[];
  history?: ChatHistoryItem[];
}

/** A grammar that also parses (and checks against the schema) the answer it constrained. */
export type JsonSchemaGrammar = LlamaGrammar & { parse(json: string): unknown };

export interface EngineInfo {
  model: { path: string; sha256: string; sizeBytes: number; trainContextSize: number; embeddingLength: number };
  runtime: RuntimeInfo;
  contextSize: number;
  sequences: number;
  batchSize: number;
  /** Contexts the sequences are spread over. */
  contexts: number;
  deterministic: boolean;
  /** Longest embedding input, in tokens. */
  embeddingContextSize: number;
}

function longestCommonPrefix(a: readonly Token[], b: readonly Token[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class InferenceEngine {
  readonly info: EngineInfo;
  private readonly runtime: Runtime;
  private readonly model: LlamaModel;
  private readonly contexts: LlamaContext[];
  private readonly free: LlamaContextSequence[];
  /** Sequences in use per context, to spread requests over contexts. */
  private readonly busy = new Map<LlamaContext, number>();
  private readonly chatWrapper = new ChatMLChatWrapper();
  private readonly embeddingContextSize: number;
  private embedding: Promise<LlamaEmbeddingContext> | undefined;
  private closing: Promise<void> | undefined;

  private constructor(runtime: Runtime, model: LlamaModel, contexts: LlamaContext[], sequences: LlamaContextSequence[], info: EngineInfo, embeddingContextSize: number) {
    this.runtime = runtime;
    this.model = model;
    this.contexts = contexts;
    this.free = sequences;
    for (const c of contexts) this.busy.set(c, 0);
    this.info = info;
    this.embeddingContextSize = embeddingContextSize;
  }

  /** Checks the model's hash, loads it and creates its context. The caller owns the engine and closes it. */
  static async open(options: EngineOptions): Promise<InferenceEngine> {
    const deterministic = options.deterministic ?? false;
    const sequences = deterministic ? 1 : (options.sequences ?? 4);
    const contextCount = deterministic ? 1 : Math.min(options.contexts ?? sequences, sequences);
    const contextSize = options.contextSize ?? 2048;
    const batchSize = Math.max(options.batchSize ?? 512, sequences);
    const embeddingContextSize = options.embeddingContextSize ?? 512;
    for (const [name, v] of Object.entries({ sequences, contexts: contextCount, contextSize, batchSize, embeddingContextSize })) {
      if (!Number.isInteger(v) || v < 1) throw new SealboxError("BAD_CONFIG", `inference ${name} must be a positive integer, got ${v}`);
    }
    const identity = await verifyModelFile(options.modelPath, options.modelSha256);
    try {
      await inspectGgufFile(options.modelPath);
    } catch (e) {
      throw new SealboxError("MODEL_REJECTED", `model ${options.modelPath} is not a usable GGUF file: ${(e as Error).message}`, { cause: e });
    }
    const threads = options.threads ?? Math.max(1, Math.floor(cpus().length / contextCount));
    const runtime = await openRuntime({ mode: options.mode, threads, contexts: contextCount, logger: options.logger, ...(options.kernelProbe === undefined ? {} : { kernelProbe: options.kernelProbe }) });
    let model: LlamaModel | undefined;
    const contexts: LlamaContext[] = [];
    try {
      model = await runtime.llama.loadModel({ modelPath: options.modelPath, gpuLayers: options.mode === "cuda" ? "max" : 0 });
      if (!sameIdentity(identity, await fileIdentity(options.modelPath))) {
        throw new SealboxError("MODEL_REJECTED", `model ${options.modelPath} changed while it was being loaded`);
      }
      const seqs: LlamaContextSequence[] = [];
      for (let c = 0; c < contextCount; c++) {
        // Sequences dealt out as evenly as they go: 4 over 3 contexts is 2 + 1 + 1.
        const n = Math.floor(sequences / contextCount) + (c < sequences % contextCount ? 1 : 0);
        const context = await model.createContext({ contextSize, sequences: n, batchSize: Math.max(batchSize, n), threads: runtime.info.threads });
        contexts.push(context);
        for (let i = 0; i < n; i++) seqs.push(context.getSequence());
      }
      const first = contexts[0]!;
      const info: EngineInfo = {
        model: {
          path: options.modelPath,
          sha256: options.modelSha256.toLowerCase(),
          sizeBytes: identity.sizeBytes,
          trainContextSize: model.trainContextSize,
          embeddingLength: model.embeddingVectorSize,
        },
        runtime: runtime.info,
        contextSize: first.contextSize,
        sequences,
        batchSize: first.batchSize,
        contexts: contextCount,
        deterministic,
        embeddingContextSize,
      };
      return new InferenceEngine(runtime, model, contexts, seqs, info, embeddingContextSize);
    } catch (e) {
      for (const c of contexts) await c.dispose();
      await model?.dispose();
      await runtime.close();
      if (isSealboxError(e)) throw e;
      throw new SealboxError("MODEL_REJECTED", `llama.cpp could not load model ${options.modelPath}: ${(e as Error).message}`, { cause: e });
    }
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Free sequences now (requests that could start at once). */
  get freeSequences(): number {
    return this.free.length;
  }

  /** Applies the chat template (ChatML, no default system prompt) and tokenizes. Control-token text in messages stays plain text. */
  prepareChat(messages: readonly ChatMessage[]): PreparedPrompt {
    this.assertOpen();
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === "system" ? { type: "system", text: m.content } : m.role === "user" ? { type: "user", text: m.content } : { type: "model", response: [m.content] },
    );
    history.push({ type: "model", response: [] });
    const { contextText } = this.chatWrapper.generateContextState({ chatHistory: history });
    return { kind: "chat", tokens: contextText.tokenize(this.model.tokenizer), history };
  }

  /** Tokenizes a plain prompt; text that looks like a control token stays plain text. */
  prepareCompletion(prompt: string): PreparedPrompt {
    this.assertOpen();
    return { kind: "complete", tokens: this.model.tokenize(prompt, false) };
  }

  tokenCount(text: string): number {
    this.assertOpen();
    return this.model.tokenize(text, false).length;
  }

  /** Creates the grammar that constrains output to a JSON schema (the subset json-schema-subset.ts checks; BAD_REQUEST otherwise). */
  async jsonSchemaGrammar(schema: unknown): Promise<JsonSchemaGrammar> {
    this.assertOpen();
    checkJsonSchema(schema);
    try {
      return await this.runtime.llama.createGrammarForJsonSchema(schema as never);
    } catch (e) {
      throw new SealboxError("BAD_REQUEST", `the JSON schema is not supported: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Runs one request on a free sequence. Throws INTERNAL when none is free: the caller's queue must hold slots. */
  async generate(job: GenerateJob, hooks: GenerateHooks = {}): Promise<GenerateOutput> {
    this.assertOpen();
    const sequence = this.takeSequence(job.prompt.tokens);
    const tokens: number[] = [];
    let text = "";
    let firstTokenMs: number | undefined;
    const t0 = performance.now();
    const common = {
      signal: hooks.signal,
      stopOnAbortSignal: true,
      maxTokens: job.maxTokens,
      temperature: job.sampling.temperature,
      topK: job.sampling.topK,
      topP: job.sampling.topP,
      minP: job.sampling.minP,
      seed: job.sampling.seed,
      repeatPenalty: false as const,
      grammar: job.grammar,
      ...(job.stop && job.stop.length > 0 ? { customStopTriggers: job.stop } : {}),
      onToken: (t: Token[]) => {
        if (firstTokenMs === undefined && t.length > 0) firstTokenMs = performance.now() - t0;
        for (const id of t) tokens.push(id);
      },
      // Text chunks cost a detokenization per token: asked for only when someone streams.
      ...(hooks.onText
        ? {
            onTextChunk: (chunk: string) => {
              text += chunk;
              hooks.onText!(chunk);
            },
          }
        : {}),
    };
    let reason: string;
    try {
      if (this.info.deterministic) await sequence.clearHistory();
      if (job.kind === "chat") {
        if (!job.prompt.history) throw new SealboxError("INTERNAL", "chat job without a prepared history");
        const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: this.chatWrapper, autoDisposeSequence: false });
        try {
          const r = await chat.generateResponse(job.prompt.history, common);
          reason = r.metadata.stopReason;
          text = r.response;
        } finally {
          chat.dispose({ disposeSequence: false });
        }
      } else {
        const completion = new LlamaCompletion({ contextSequence: sequence, autoDisposeSequence: false });
        try {
          const r = await completion.generateCompletionWithMeta(job.prompt.tokens, common);
          reason = r.metadata.stopReason;
          text = r.response;
        } finally {
          completion.dispose({ disposeSequence: false });
        }
      }
    } catch (e) {
      // Aborted before the first token: node-llama-cpp throws instead of returning the (empty) answer.
      if (hooks.signal?.aborted) reason = "abort";
      else {
        // The sequence's state is unknown after a failure: start it afresh.
        await sequence.clearHistory().catch(() => undefined);
        this.giveBack(sequence);
        throw isSealboxError(e) ? e : new SealboxError("INFERENCE_FAILED", `generation failed: ${(e as Error).message}`, { cause: e });
      }
    }
    this.giveBack(sequence);
    const stopReason: StopReason =
      reason === "abort"
        ? "abort"
        : reason === "maxTokens"
          ? "maxTokens"
          : reason === "customStopTrigger"
            ? "stop"
            : reason === "stopGenerationTrigger" && job.grammar
              ? "grammar"
              : "eog";
    return { text, tokens, stopReason, firstTokenMs, generateMs: performance.now() - t0 };
  }

  /** Embeds a text. One at a time (one embedding context); the caller serialises. */
  async embed(input: string): Promise<{ vector: number[]; tokens: number }> {
    this.assertOpen();
    const tokens = this.model.tokenize(input, false);
    if (tokens.length > this.embeddingContextSize) {
      throw new SealboxError("PROMPT_TOO_LONG", `the input is ${tokens.length} tokens, more than the embedding limit of ${this.embeddingContextSize}`, {
        details: { promptTokens: tokens.length, limit: this.embeddingContextSize },
      });
    }
    this.embedding ??= this.model.createEmbeddingContext({ contextSize: this.embeddingContextSize, threads: this.runtime.info.threads });
    let ctx: LlamaEmbeddingContext;
    try {
      ctx = await this.embedding;
    } catch (e) {
      this.embedding = undefined;
      throw new SealboxError("INFERENCE_FAILED", `cannot create the embedding context: ${(e as Error).message}`, { cause: e });
    }
    try {
      const e = await ctx.getEmbeddingFor(tokens);
      return { vector: [...e.vector], tokens: tokens.length };
    } catch (e) {
      throw new SealboxError("INFERENCE_FAILED", `embedding failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Disposes the embedding context, context, model and llama.cpp, once. Running requests must have ended. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const ctx = this.embedding ? await this.embedding.catch(() => undefined) : undefined;
      await ctx?.dispose();
      for (const c of this.contexts) await c.dispose();
      await this.model.dispose();
      await this.runtime.close();
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private assertOpen(): void {
    if (this.closing) throw new SealboxError("MODEL_UNAVAILABLE", "the inference engine is closed");
  }

  /**
   * Takes the free sequence that already holds the longest prefix of this
   * prompt (its KV cache is reused); among equals, one on the least busy context.
   */
  private takeSequence(prompt: readonly Token[]): LlamaContextSequence {
    if (this.free.length === 0) throw new SealboxError("INTERNAL", "no free context sequence: more requests running than sequences");
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < this.free.length; i++) {
      const seq = this.free[i]!;
      const prefix = this.info.deterministic ? 0 : longestCommonPrefix(seq.contextTokens, prompt);
      // A shared prefix token saves a token's evaluation; a busy context costs a share of its batch.
      const score = prefix * 1000 - (this.busy.get(seq.context) ?? 0);
      if (score > bestScore) [best, bestScore] = [i, score];
    }
    const seq = this.free.splice(best, 1)[0]!;
    this.busy.set(seq.context, (this.busy.get(seq.context) ?? 0) + 1);
    return seq;
  }

  private giveBack(seq: LlamaContextSequence): void {
    this.busy.set(seq.context, (this.busy.get(seq.context) ?? 1) - 1);
    this.free.push(seq);
  }
}
