// The method table's view of the inference service, and the slot the model
// loads into. The daemon opens its sockets at once and loads the model in the
// background: until it is ready, status says "loading" (so /readyz is 503)
// and inference methods answer MODEL_UNAVAILABLE with a retry hint.

import { SealboxError, toSealboxError } from "../errors.js";
import type { InferenceService } from "../inference/service.js";
import type { GenerationResult as ServiceResult } from "../inference/requests.js";
import type { FinishReason, GenerationResult, InferenceCallOptions, InferencePort, InferenceStatus } from "./ports.js";

/** What of the inference service the slot uses (the real class satisfies it). */
export type InferenceServiceLike = Pick<InferenceService, "chat" | "complete" | "embed" | "status" | "close">;

export interface SlotModel {
  name: string;
  sha256: string;
  /** The generated demo model: its answers are random noise. */
  demo?: boolean;
}

export const DEMO_BANNER = "DEMO MODEL: a tiny random-weight model generated on this box; its answers are noise, not knowledge";

/**
 * What a question gets while the model is in the "failed" state. A GPU that
 * cannot run the model keeps its own code: the fix is the box's GPU, not the model.
 */
export function loadFailureError(status: Pick<InferenceStatus, "error" | "errorCode">): SealboxError {
  if (status.errorCode === "GPU_UNAVAILABLE") return new SealboxError("GPU_UNAVAILABLE", status.error ?? "no usable GPU");
  return new SealboxError("MODEL_UNAVAILABLE", `the model failed to load: ${status.error ?? "unknown error"}`);
}

function finishReason(r: ServiceResult): FinishReason {
  if (r.endedBy === "cancelled") return "cancelled";
  if (r.endedBy === "deadline") return "deadline";
  return r.stopReason === "maxTokens" ? "length" : "stop";
}

export class InferenceSlot implements InferencePort {
  private state: InferenceStatus["state"] = "loading";
  private service: InferenceServiceLike | undefined;
  private error: string | undefined;
  private loadError: SealboxError | undefined;
  private closing: Promise<void> | undefined;

  constructor(readonly model: SlotModel) {}

  /** Loads the service; resolves either way (a failure is kept and reported by status). */
  async load(open: () => Promise<InferenceServiceLike>): Promise<void> {
    try {
      const service = await open();
      if (this.closing) {
        await service.close();
        return;
      }
      this.service = service;
      this.state = "ready";
    } catch (e) {
      this.loadError = toSealboxError(e);
      this.error = this.loadError.message;
      this.state = "failed";
      throw e;
    }
  }

  /** Why the load failed, or undefined. */
  get failure(): SealboxError | undefined {
    return this.loadError;
  }

  get ready(): boolean {
    return this.state === "ready";
  }

  private live(): InferenceServiceLike {
    if (this.service && this.state === "ready") return this.service;
    if (this.state === "loading") throw new SealboxError("MODEL_UNAVAILABLE", "the model is still loading; retry shortly", { details: { retryAfterMs: 1000 } });
    if (this.state === "failed") throw loadFailureError(this.status());
    throw new SealboxError("MODEL_UNAVAILABLE", "the inference service is shut down");
  }

  private options(o: InferenceCallOptions) {
    return {
      signal: o.signal,
      actor: o.actor,
      priority: o.priority,
      ...(o.onToken ? { onToken: o.onToken } : {}),
      ...(o.onAudit ? { onAudit: o.onAudit } : {}),
    };
  }

  private result(r: ServiceResult): GenerationResult {
    const genS = r.timings.firstTokenMs !== undefined ? (r.timings.generateMs - r.timings.firstTokenMs) / 1000 : 0;
    return {
      text: r.text,
      finishReason: finishReason(r),
      promptTokens: r.usage.promptTokens,
      completionTokens: r.usage.completionTokens,
      auditSeq: [r.audit.requestSeq, r.audit.outcomeSeq],
      model: { name: this.model.name, sha256: r.model },
      timings: {
        ...(r.timings.firstTokenMs !== undefined ? { timeToFirstTokenMs: r.timings.firstTokenMs } : {}),
        totalMs: r.timings.totalMs,
        ...(genS > 0 && r.usage.completionTokens > 1 ? { tokensPerSecond: (r.usage.completionTokens - 1) / genS } : {}),
      },
    };
  }

  async chat(req: Parameters<InferencePort["chat"]>[0], o: InferenceCallOptions): Promise<GenerationResult> {
    return this.result(await this.live().chat(req, this.options(o)));
  }

  async complete(req: Parameters<InferencePort["complete"]>[0], o: InferenceCallOptions): Promise<GenerationResult> {
    return this.result(await this.live().complete(req, this.options(o)));
  }

  async embed(req: { input: string[] }, o: Omit<InferenceCallOptions, "onToken">) {
    const r = await this.live().embed({ input: req.input }, this.options(o));
    return {
      vectors: r.vectors,
      promptTokens: r.usage.promptTokens,
      auditSeq: [r.audit.requestSeq, r.audit.outcomeSeq],
      model: { name: this.model.name, sha256: r.model },
    };
  }

  status(): InferenceStatus {
    const base: InferenceStatus = {
      state: this.state,
      model: { name: this.model.name, sha256: this.model.sha256, demo: this.model.demo ?? false },
      queueDepth: 0,
      running: 0,
      ...(this.model.demo ? { banner: DEMO_BANNER } : {}),
      ...(this.error ? { error: this.error } : {}),
      ...(this.loadError ? { errorCode: this.loadError.code } : {}),
    };
    if (!this.service || this.state !== "ready") return base;
    const s = this.service.status();
    return {
      ...base,
      mode: s.runtime.mode,
      queueDepth: s.queue.queued + s.embeddingQueue.queued,
      running: s.queue.running + s.embeddingQueue.running,
      queueLimit: s.queue.maxQueued,
      device: s.runtime.device,
      sequences: s.queue.slots,
      contextSize: s.contextSize,
      deterministic: s.deterministic,
      storeText: s.storeText,
    };
  }

  /** Closes the service (waiting for running answers' records). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const s = this.service;
      this.state = "closed";
      this.service = undefined;
      await s?.close();
    })();
    return this.closing;
  }
}
