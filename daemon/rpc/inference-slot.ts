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

/**
 * The same model on the CPU, for a "cuda" box whose GPU cannot answer
 * (`health.cpu_fallback`): when the GPU fails the start (GPU_UNAVAILABLE), or
 * while the health monitor finds only the GPU critical.
 */
export interface CpuFallback {
  /** Opens the model on the CPU (once; again only after a failed open). */
  open(): Promise<InferenceServiceLike>;
  /** Whether answers should go to the CPU now: the health monitor says so (never throws). */
  wanted(): boolean;
  /** Before the first CPU answer: the record of the switch (a rejection stops it: no audit, no action). */
  engaged?(reason: string): Promise<void>;
}

export class InferenceSlot implements InferencePort {
  private state: InferenceStatus["state"] = "loading";
  private service: InferenceServiceLike | undefined;
  private error: string | undefined;
  private loadError: SealboxError | undefined;
  private closing: Promise<void> | undefined;
  private fallbackService: Promise<InferenceServiceLike> | undefined;
  /** The CPU service once open (status() cannot wait for the promise). */
  private fallbackLive: InferenceServiceLike | undefined;
  private fallbackReason: string | undefined;

  constructor(
    readonly model: SlotModel,
    private readonly cpuFallback?: CpuFallback,
  ) {}

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
      if (this.loadError.code === "GPU_UNAVAILABLE" && this.cpuFallback && !this.closing) {
        try {
          await this.fallback(`the GPU cannot run the model: ${this.loadError.message}`);
          this.state = "ready";
          return;
        } catch (f) {
          this.error = `${this.loadError.message}; the CPU fallback failed too: ${toSealboxError(f).message}`;
        }
      }
      this.state = "failed";
      throw e;
    }
  }

  /** Why answers go to the CPU now, or undefined when they go to the configured device. */
  get fallbackActive(): string | undefined {
    if (this.state !== "ready" || !this.cpuFallback) return undefined;
    if (!this.service) return this.fallbackReason;
    return this.cpuFallback.wanted() ? (this.fallbackReason ?? "the GPU is critical (health)") : undefined;
  }

  /** The CPU service, opened on first need; recorded before its first answer. */
  private fallback(reason: string): Promise<InferenceServiceLike> {
    const cpu = this.cpuFallback;
    if (!cpu) return Promise.reject(new SealboxError("INTERNAL", "no CPU fallback is configured"));
    this.fallbackService ??= (async () => {
      const service = await cpu.open();
      try {
        if (this.closing) throw new SealboxError("MODEL_UNAVAILABLE", "the inference service is shut down");
        await cpu.engaged?.(reason);
      } catch (e) {
        await service.close();
        throw e;
      }
      this.fallbackReason = reason;
      this.fallbackLive = service;
      return service;
    })();
    // A failed open is tried again by the next request rather than remembered for ever.
    this.fallbackService.catch(() => (this.fallbackService = undefined));
    return this.fallbackService;
  }

  /** Why the load failed, or undefined. */
  get failure(): SealboxError | undefined {
    return this.loadError;
  }

  get ready(): boolean {
    return this.state === "ready";
  }

  private async live(): Promise<InferenceServiceLike> {
    if (this.state === "ready") {
      if (!this.service) return this.fallback(this.fallbackReason ?? "the GPU cannot run the model");
      if (this.cpuFallback?.wanted()) return this.fallback("the GPU is critical (health)");
      return this.service;
    }
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
    return this.result(await (await this.live()).chat(req, this.options(o)));
  }

  async complete(req: Parameters<InferencePort["complete"]>[0], o: InferenceCallOptions): Promise<GenerationResult> {
    return this.result(await (await this.live()).complete(req, this.options(o)));
  }

  async embed(req: { input: string[] }, o: Omit<InferenceCallOptions, "onToken">) {
    const r = await (await this.live()).embed({ input: req.input }, this.options(o));
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
      ...(this.error && this.state === "failed" ? { error: this.error } : {}),
      ...(this.loadError && this.state === "failed" ? { errorCode: this.loadError.code } : {}),
    };
    const fallback = this.fallbackActive;
    if (fallback !== undefined) base.fallback = fallback;
    const active = fallback !== undefined ? this.fallbackLive : this.service;
    if (!active || this.state !== "ready") return base;
    const s = active.status();
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
      const cpu = this.fallbackService;
      await s?.close();
      await cpu?.then((f) => f.close(), () => undefined);
    })();
    return this.closing;
  }
}
