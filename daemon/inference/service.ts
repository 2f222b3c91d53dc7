// The inference service: what the method table (socket and serial) calls.
// Around the engine it puts the checks and limits, the bounded priority queue,
// deadlines and cancellation, and provenance — no answer without its record:
//
//   check request → admit to queue (or BUSY, nothing recorded)
//   → request record durable in the ledger (if append rejects: refused, nothing generated)
//   → wait for a sequence → generate (streaming) → free the sequence
//   → outcome record durable → the answer, carrying both records' seq numbers
//
// If the outcome record cannot be written the answer is withheld (the
// ledger's error is thrown); text already streamed was covered by the request
// record. A request that never gets admitted (bad request, limits, BUSY,
// health) leaves no inference record: the method table's own call record, if
// any, covers it.

import { randomInt, randomUUID } from "node:crypto";
import { SealboxError } from "../errors.js";
import type { Actor, AuditLog, JsonValue } from "../ledger/types.js";
import type { Logger } from "../log.js";
import { runAudited, type Active, type Admitted, type AuditedRunDeps, type StopCause, type WorkResult } from "./audited-run.js";
import type { InferenceEngine, PreparedPrompt, ChatMessage } from "./engine.js";
import { promptSha256, type EndedBy } from "./provenance.js";
import { RequestQueue, isPriority, type QueueStats } from "./queue.js";
import {
  checkDeadline,
  checkMaxTokens,
  checkMessages,
  checkSampling,
  checkStop,
  checkText,
  checkEmbedInputs,
  type CallOptions,
  type ChatRequest,
  type CompletionRequest,
  type EmbedRequest,
  type EmbeddingResult,
  type GenerationParams,
  type GenerationResult,
  type SamplingDefaults,
} from "./requests.js";

export interface InferenceServiceOptions {
  /** The opened engine. The service owns it from here and closes it in close(). */
  engine: InferenceEngine;
  /** Where the request and outcome records go. */
  audit: AuditLog;
  /**
   * Also record the full prompt (messages) and answer text and token ids, not
   * only their SHA-256. Lets `sealbox audit replay` run without the technician
   * supplying the prompt and report the exact token where a replay diverged;
   * but the ledger then holds every question and answer in the clear, for as
   * long as it is retained and wherever it is exported (the diode). Defaults to false.
   */
  storeText?: boolean;
  /** Longest prompt accepted, in tokens (after the chat template). Defaults to 3/4 of the context size. */
  maxPromptTokens?: number;
  /** Longest prompt accepted, in UTF-8 bytes, checked before tokenizing. Defaults to 16 × maxPromptTokens. */
  maxPromptBytes?: number;
  /** Most tokens a request may ask to generate. Defaults to half the context size. */
  maxTokens?: number;
  /** Tokens generated when a request does not say. Defaults to min(512, maxTokens). */
  defaultMaxTokens?: number;
  /** Deadline of a request that sets none, ms from arrival. Defaults to 120000. */
  defaultDeadlineMs?: number;
  /** Longest deadline a request may set, ms. Defaults to 600000. */
  maxDeadlineMs?: number;
  /** Requests that may wait for a sequence; more get BUSY. Defaults to 4 × sequences. */
  maxQueued?: number;
  /** Sampling used where a request sets none. Defaults to temperature 0.7, topK 40, topP 0.95, minP 0.05. */
  sampling?: Partial<SamplingDefaults>;
  /** Seed used in deterministic mode when a request sets none. Defaults to 0. */
  deterministicSeed?: number;
  /** Called before each request is admitted; throws (e.g. HEALTH_CRITICAL) to refuse it. */
  healthGate?: () => void;
  logger?: Logger;
}

export interface InferenceStatus {
  model: { sha256: string; path: string; sizeBytes: number };
  runtime: InferenceEngine["info"]["runtime"];
  deterministic: boolean;
  storeText: boolean;
  contextSize: number;
  limits: { maxPromptTokens: number; maxPromptBytes: number; maxTokens: number; defaultMaxTokens: number; defaultDeadlineMs: number; maxDeadlineMs: number };
  queue: QueueStats;
  embeddingQueue: QueueStats;
  closed: boolean;
}

const DEFAULT_ACTOR: Actor = { role: "operator", transport: "internal", peer: "-" };
const DEFAULT_SAMPLING: SamplingDefaults = { temperature: 0.7, topK: 40, topP: 0.95, minP: 0.05 };

export class InferenceService {
  private readonly engine: InferenceEngine;
  private readonly audit: AuditLog;
  private readonly storeText: boolean;
  private readonly limits: InferenceStatus["limits"];
  private readonly samplingDefaults: SamplingDefaults;
  private readonly deterministicSeed: number;
  private readonly healthGate: (() => void) | undefined;
  private readonly logger: Logger | undefined;
  private readonly queue: RequestQueue;
  private readonly embedQueue: RequestQueue;
  private readonly active = new Map<string, Active>();
  private readonly deps: AuditedRunDeps;
  private closing: Promise<void> | undefined;

  constructor(options: InferenceServiceOptions) {
    this.engine = options.engine;
    this.audit = options.audit;
    this.storeText = options.storeText ?? false;
    const ctx = this.engine.info.contextSize;
    const maxPromptTokens = options.maxPromptTokens ?? Math.floor((ctx * 3) / 4);
    const maxTokens = options.maxTokens ?? Math.floor(ctx / 2);
    this.limits = {
      maxPromptTokens,
      maxPromptBytes: options.maxPromptBytes ?? maxPromptTokens * 16,
      maxTokens,
      defaultMaxTokens: options.defaultMaxTokens ?? Math.min(512, maxTokens),
      defaultDeadlineMs: options.defaultDeadlineMs ?? 120_000,
      maxDeadlineMs: options.maxDeadlineMs ?? 600_000,
    };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isInteger(v) || v < 1) throw new SealboxError("BAD_CONFIG", `inference ${k} must be a positive integer, got ${v}`);
    }
    if (maxPromptTokens >= ctx) throw new SealboxError("BAD_CONFIG", `maxPromptTokens ${maxPromptTokens} leaves no room to answer in a context of ${ctx}`);
    this.samplingDefaults = { ...DEFAULT_SAMPLING, ...options.sampling };
    this.deterministicSeed = options.deterministicSeed ?? 0;
    this.healthGate = options.healthGate;
    this.logger = options.logger;
    const maxQueued = options.maxQueued ?? this.engine.info.sequences * 4;
    this.queue = new RequestQueue({ slots: this.engine.info.sequences, maxQueued });
    this.embedQueue = new RequestQueue({ slots: 1, maxQueued, initialServiceMs: 200 });
    this.deps = { audit: this.audit, engineInfo: this.engine.info, storeText: this.storeText, active: this.active, ...(this.logger ? { logger: this.logger } : {}) };
  }

  /** A chat turn: the messages through the model's chat template, the answer streamed to onToken. */
  chat(req: ChatRequest, opts: CallOptions = {}): Promise<GenerationResult> {
    return this.generate("chat", req, opts);
  }

  /** Plain completion of a text. */
  complete(req: CompletionRequest, opts: CallOptions = {}): Promise<GenerationResult> {
    return this.generate("complete", req, opts);
  }

  /** Embedding vectors of one text or several (at most MAX_EMBED_INPUTS), in order. One pair of records covers the batch. */
  async embed(req: EmbedRequest, opts: Omit<CallOptions, "onToken"> = {}): Promise<EmbeddingResult> {
    this.admissible(opts);
    if (typeof req !== "object" || req === null) throw new SealboxError("BAD_REQUEST", "the request must be an object");
    const inputs = checkEmbedInputs(req.input);
    this.checkPromptBytes(inputs.join(""));
    const deadlineMs = checkDeadline(req.deadlineMs, this.limits.defaultDeadlineMs, this.limits.maxDeadlineMs);
    let promptTokens = 0;
    inputs.forEach((input, i) => {
      const n = this.engine.tokenCount(input);
      const limit = this.engine.info.embeddingContextSize;
      if (n > limit) {
        throw new SealboxError("PROMPT_TOO_LONG", `input[${i}] is ${n} tokens, more than the embedding limit of ${limit}`, { details: { index: i, promptTokens: n, limit } });
      }
      promptTokens += n;
    });
    const admitted: Admitted = {
      ...this.identity(opts),
      kind: "embed",
      deadlineMs,
      promptSha256: promptSha256("embed", inputs),
      promptTokens,
      prompt: inputs,
    };
    const r = await runAudited(this.deps, admitted, this.embedQueue, opts, async (signal): Promise<WorkResult<{ vectors: number[][]; generateMs: number }>> => {
      const t0 = performance.now();
      const vectors: number[][] = [];
      for (const input of inputs) {
        // An embedding cannot be stopped half way; a batch stops between inputs.
        if (signal.aborted) return { value: { vectors: [], generateMs: performance.now() - t0 }, endedBy: "cancelled" };
        vectors.push((await this.engine.embed(input)).vector);
      }
      return { value: { vectors, generateMs: performance.now() - t0 }, endedBy: "done", vectors };
    });
    if (r.endedBy !== "done" || !r.value) {
      // No partial embedding is of use: a cancelled or late one is an error, after its records.
      const late = r.endedBy === "deadline";
      throw new SealboxError(late ? "DEADLINE" : "CANCELLED", late ? "the embedding request ran past its deadline" : "the embedding request was cancelled", {
        details: { requestId: admitted.requestId, requestSeq: r.requestSeq, outcomeSeq: r.outcomeSeq },
      });
    }
    return {
      requestId: admitted.requestId,
      vectors: r.value.vectors,
      model: this.engine.info.model.sha256,
      usage: { promptTokens },
      timings: { queueMs: r.timings.queueMs, generateMs: r.value.generateMs, totalMs: r.timings.totalMs, auditMs: r.timings.auditMs },
      audit: { requestSeq: r.requestSeq, outcomeSeq: r.outcomeSeq },
    };
  }

  /** Where a request stands: 0 running, n ≥ 1 n-th in line, undefined unknown (finished or never seen). */
  queuePosition(requestId: string): number | undefined {
    return this.queue.position(requestId) ?? this.embedQueue.position(requestId);
  }

  status(): InferenceStatus {
    const info = this.engine.info;
    return {
      model: { sha256: info.model.sha256, path: info.model.path, sizeBytes: info.model.sizeBytes },
      runtime: info.runtime,
      deterministic: info.deterministic,
      storeText: this.storeText,
      contextSize: info.contextSize,
      limits: { ...this.limits },
      queue: this.queue.stats(),
      embeddingQueue: this.embedQueue.stats(),
      closed: this.closing !== undefined,
    };
  }

  /**
   * Refuses new requests, refuses the waiting ones, stops the running ones
   * (each returns its partial answer, recorded as cancelled), waits for their
   * outcome records, then closes the engine. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.queue.close();
      this.embedQueue.close();
      for (const a of this.active.values()) a.stop.abort("shutdown" satisfies StopCause);
      await Promise.allSettled([...this.active.values()].map((a) => a.done));
      await this.engine.close();
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private admissible(opts: CallOptions): void {
    if (this.closing) throw new SealboxError("MODEL_UNAVAILABLE", "the inference service is shut down");
    if (opts.priority !== undefined && !isPriority(opts.priority)) throw new SealboxError("BAD_REQUEST", `priority must be "high", "normal" or "low"`);
    if (opts.signal?.aborted) throw new SealboxError("CANCELLED", "the request was cancelled before it was admitted");
    this.healthGate?.();
  }

  private identity(opts: CallOptions): Pick<Admitted, "requestId" | "actor" | "priority"> {
    const requestId = opts.requestId ?? randomUUID();
    if (typeof requestId !== "string" || requestId.length === 0 || requestId.length > 128) throw new SealboxError("BAD_REQUEST", "requestId must be 1–128 characters");
    return { requestId, actor: opts.actor ?? DEFAULT_ACTOR, priority: opts.priority ?? "normal" };
  }

  private checkPromptBytes(text: string): void {
    const bytes = Buffer.byteLength(text);
    if (bytes > this.limits.maxPromptBytes) {
      throw new SealboxError("PROMPT_TOO_LONG", `the prompt is ${bytes} bytes, more than the limit of ${this.limits.maxPromptBytes}`, {
        details: { promptBytes: bytes, limit: this.limits.maxPromptBytes },
      });
    }
  }

  private async generate(kind: "chat" | "complete", req: ChatRequest | CompletionRequest, opts: CallOptions): Promise<GenerationResult> {
    this.admissible(opts);
    if (typeof req !== "object" || req === null) throw new SealboxError("BAD_REQUEST", "the request must be an object");
    let promptValue: string | ChatMessage[];
    let prepared: PreparedPrompt;
    if (kind === "chat") {
      const messages = checkMessages((req as ChatRequest).messages);
      this.checkPromptBytes(messages.map((m) => m.content).join(""));
      promptValue = messages;
      prepared = this.engine.prepareChat(messages);
    } else {
      const prompt = checkText((req as CompletionRequest).prompt, "prompt");
      this.checkPromptBytes(prompt);
      promptValue = prompt;
      prepared = this.engine.prepareCompletion(prompt);
    }
    const params: GenerationParams = req;
    const promptTokens = prepared.tokens.length;
    if (promptTokens > this.limits.maxPromptTokens) {
      throw new SealboxError("PROMPT_TOO_LONG", `the prompt is ${promptTokens} tokens, more than the limit of ${this.limits.maxPromptTokens}`, {
        details: { promptTokens, limit: this.limits.maxPromptTokens },
      });
    }
    const asked = checkMaxTokens(params.maxTokens, this.limits.defaultMaxTokens, this.limits.maxTokens);
    // An answer never runs past the context: it gets what room the prompt leaves.
    const maxTokens = Math.min(asked, this.engine.info.contextSize - promptTokens);
    const deadlineMs = checkDeadline(params.deadlineMs, this.limits.defaultDeadlineMs, this.limits.maxDeadlineMs);
    const sampling = checkSampling(params, this.samplingDefaults, () => (this.engine.info.deterministic ? this.deterministicSeed : randomInt(0, 2 ** 32 - 1)));
    const stop = checkStop(params.stop);
    const grammar = params.jsonSchema === undefined ? undefined : await this.engine.jsonSchemaGrammar(params.jsonSchema);

    const admitted: Admitted = {
      ...this.identity(opts),
      kind,
      deadlineMs,
      promptSha256: promptSha256(kind, promptValue),
      promptTokens,
      prompt: promptValue,
      sampling,
      maxTokens,
      stop,
      ...(params.jsonSchema === undefined ? {} : { jsonSchema: params.jsonSchema }),
    };
    const onToken = opts.onToken;
    const r = await runAudited(this.deps, admitted, this.queue, opts, async (signal, cancel) => {
      // A consumer that throws has gone away: stop generating for it, keep what was made.
      const onText = onToken
        ? (text: string): void => {
            if (signal.aborted) return;
            try {
              onToken(text);
            } catch (e) {
              this.logger?.warn("the token consumer failed; cancelling the request", { requestId: admitted.requestId, error: e });
              cancel();
            }
          }
        : undefined;
      const output = await this.engine.generate(
        { kind, prompt: prepared, maxTokens, sampling, stop, ...(grammar ? { grammar } : {}) },
        { signal, ...(onText ? { onText } : {}) },
      );
      return { value: output, endedBy: "done" as EndedBy, output };
    });
    const output = r.value;
    const result: GenerationResult = {
      requestId: admitted.requestId,
      text: output?.text ?? "",
      endedBy: r.endedBy as GenerationResult["endedBy"],
      model: this.engine.info.model.sha256,
      sampling,
      maxTokens,
      usage: { promptTokens, completionTokens: output?.tokens.length ?? 0 },
      timings: { ...r.timings, ...(output?.firstTokenMs === undefined ? {} : { firstTokenMs: output.firstTokenMs }), generateMs: output?.generateMs ?? 0 },
      audit: { requestSeq: r.requestSeq, outcomeSeq: r.outcomeSeq },
    };
    if (output) result.stopReason = output.stopReason;
    if (grammar && output && r.endedBy === "done" && output.stopReason !== "maxTokens") {
      try {
        result.json = grammar.parse(output.text) as JsonValue;
      } catch (e) {
        this.logger?.warn("a schema-constrained answer did not parse", { requestId: admitted.requestId, error: e });
      }
    }
    return result;
  }

}
