// A plain-object InferencePort for transport and console tests: it answers
// with a fixed text, one token per word, writes its own request and outcome
// records (as the real service does), honours cancellation and can be made
// slow, busy or failing. The real engine is tested with a real GGUF in
// test/integration/http/daemon-*.test.ts.

import { SealboxError, type ErrorCode } from "../../daemon/errors.js";
import type { AuditLog } from "../../daemon/ledger/types.js";
import type { GenerationResult, InferenceCallOptions, InferencePort, InferenceStatus } from "../../daemon/rpc/ports.js";

export interface FakeInferenceOptions {
  audit: AuditLog;
  /** The answer, split into tokens at spaces. Defaults to "the answer is forty two". */
  answer?: string;
  /** Delay before each token. Defaults to 0. */
  tokenDelayMs?: number;
  state?: InferenceStatus["state"];
}

export interface FakeInference extends InferencePort {
  /** Every call's options, for assertions (priority, actor). */
  readonly calls: { kind: string; options: InferenceCallOptions; request: unknown }[];
  /** Calls that ended because their signal aborted. */
  cancelled: number;
  failNext(code: ErrorCode | undefined): void;
  /** The answer to a request, when set (overrides answer). */
  answerFor?: (request: unknown) => string;
  /** An error to fail a request with, when set and it returns a code. */
  failWhen?: (request: unknown) => ErrorCode | undefined;
  setState(state: InferenceStatus["state"]): void;
  tokenDelayMs: number;
  answer: string;
}

const MODEL = { name: "fake", sha256: "f".repeat(64) };

export function createFakeInference(opts: FakeInferenceOptions): FakeInference {
  let failCode: ErrorCode | undefined;
  let state: InferenceStatus["state"] = opts.state ?? "ready";
  let running = 0;

  const generate = async (kind: string, request: unknown, options: InferenceCallOptions): Promise<GenerationResult> => {
    self.calls.push({ kind, options, request });
    const planned = self.failWhen?.(request);
    if (failCode || planned) {
      const code = (failCode ?? planned)!;
      failCode = undefined;
      throw new SealboxError(code, `fake inference told to fail (${code})`, code === "BUSY" ? { details: { retryAfterMs: 2000 } } : {});
    }
    const req = await opts.audit.append({ actor: options.actor, category: "inference", action: kind, target: MODEL.sha256, outcome: "requested" });
    options.onAudit?.(req.seq);
    running++;
    const tokens = (self.answerFor?.(request) ?? self.answer).split(/(?<= )/);
    let text = "";
    let finishReason: GenerationResult["finishReason"] = "stop";
    try {
      for (const t of tokens) {
        if (self.tokenDelayMs > 0) await new Promise((r) => setTimeout(r, self.tokenDelayMs));
        else await new Promise((r) => setImmediate(r));
        if (options.signal.aborted) {
          finishReason = "cancelled";
          self.cancelled++;
          break;
        }
        text += t;
        options.onToken?.(t);
      }
    } finally {
      running--;
    }
    const out = await opts.audit.append({
      actor: options.actor,
      category: "inference",
      action: kind,
      target: MODEL.sha256,
      outcome: finishReason === "cancelled" ? "failure" : "success",
      details: { finishReason },
    });
    return { text, finishReason, promptTokens: 3, completionTokens: tokens.length, auditSeq: [req.seq, out.seq], model: MODEL, timings: { timeToFirstTokenMs: 1, totalMs: 2, tokensPerSecond: 100 } };
  };

  const self: FakeInference = {
    calls: [],
    cancelled: 0,
    tokenDelayMs: opts.tokenDelayMs ?? 0,
    answer: opts.answer ?? "the answer is forty two",
    failNext(code) {
      failCode = code;
    },
    setState(s) {
      state = s;
    },
    chat: (req, options) => generate("chat", req, options),
    complete: (req, options) => generate("complete", req, options),
    async embed(req, options) {
      self.calls.push({ kind: "embed", options: { ...options }, request: req });
      const rec = await opts.audit.append({ actor: options.actor, category: "inference", action: "embed", target: MODEL.sha256, outcome: "success" });
      return { vectors: req.input.map((s) => [s.length, 0.5, -0.5]), promptTokens: req.input.length, auditSeq: [rec.seq], model: MODEL };
    },
    status: () => ({ state, model: { ...MODEL, demo: false }, mode: "cpu", queueDepth: 0, running, queueLimit: 8 }),
  };
  return self;
}
