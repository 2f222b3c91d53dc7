// The provenance skeleton every inference request runs through (service.ts
// decides what the work is): a place in the queue, the write-ahead request
// record, the deadline and the caller's cancellation, the work itself on a
// leased sequence, and the outcome record — no answer without its record.

import { SealboxError, toSealboxError } from "../errors.js";
import type { Actor, AppendReceipt, AuditEvent, AuditLog, JsonValue } from "../ledger/types.js";
import type { Logger } from "../log.js";
import type { ChatMessage, EngineInfo, GenerateOutput, SamplingParams } from "./engine.js";
import { outcomeEvent, requestEvent, type EndedBy, type EngineSettings, type RequestFacts, type RequestKind } from "./provenance.js";
import type { Lease, Priority, RequestQueue, Ticket } from "./queue.js";
import type { CallOptions } from "./requests.js";

export type StopCause = "cancelled" | "deadline" | "shutdown";

/** One request in flight: its stop switch and its completion, for close(). */
export interface Active {
  stop: AbortController;
  done: Promise<unknown>;
}

export interface Admitted {
  requestId: string;
  kind: RequestKind;
  actor: Actor;
  priority: Priority;
  deadlineMs: number;
  promptSha256: string;
  promptTokens: number;
  /** The prompt (completion), messages (chat) or inputs (embedding). */
  prompt: string | readonly ChatMessage[] | readonly string[];
  sampling?: SamplingParams;
  maxTokens?: number;
  stop?: string[];
  jsonSchema?: JsonValue;
}

export interface WorkResult<T> {
  value: T;
  endedBy: EndedBy;
  output?: GenerateOutput;
  vectors?: number[][];
}

export interface AuditedRunDeps {
  audit: AuditLog;
  engineInfo: EngineInfo;
  storeText: boolean;
  /** Requests in flight, for close(): bounded by the queue's slots + maxQueued. */
  active: Map<string, Active>;
  logger?: Logger;
}

export interface AuditedRun<T> {
  value: T | undefined;
  endedBy: EndedBy;
  requestSeq: number;
  outcomeSeq: number;
  timings: { queueMs: number; totalMs: number; auditMs: number };
}

/**
 * Runs one admitted request: queue, request record, deadline and cancellation,
 * the work, outcome record. Throws BUSY synchronously-early (before any record)
 * when the queue is full; the ledger's error when the request record is
 * refused (nothing ran); the work's or the refusal's error after the outcome
 * record, with both sequence numbers in its details.
 */
export async function runAudited<T>(
  deps: AuditedRunDeps,
  a: Admitted,
  queue: RequestQueue,
  opts: CallOptions,
  work: (signal: AbortSignal, cancel: () => void) => Promise<WorkResult<T>>,
): Promise<AuditedRun<T>> {
  const arrival = performance.now();
  const ticket: Ticket = queue.enter(a.requestId, a.priority);
  const stop = new AbortController();
  let settle!: () => void;
  deps.active.set(a.requestId, { stop, done: new Promise<void>((r) => (settle = r)) });
  const onCallerAbort = (): void => stop.abort("cancelled" satisfies StopCause);
  opts.signal?.addEventListener("abort", onCallerAbort, { once: true });
  const deadline = setTimeout(() => stop.abort("deadline" satisfies StopCause), a.deadlineMs);
  let lease: Lease | undefined;
  try {
    notify(deps, () => opts.onQueued?.(a.requestId, ticket.position() ?? 0), a.requestId);

    // Write-ahead: nothing runs until the request record is durable.
    const t0 = performance.now();
    let requestReceipt: AppendReceipt;
    try {
      requestReceipt = await deps.audit.append(requestEvent(requestFacts(deps, a)));
    } catch (e) {
      ticket.cancel();
      throw toSealboxError(e, "LEDGER_WRITE_FAILED");
    }
    const auditMs = performance.now() - t0;
    notify(deps, () => opts.onAudit?.(requestReceipt.seq), a.requestId);

    let endedBy: EndedBy;
    let value: T | undefined;
    let result: WorkResult<T> | undefined;
    let error: SealboxError | undefined;
    const stopped = new Promise<"stopped">((resolve) => {
      if (stop.signal.aborted) resolve("stopped");
      else stop.signal.addEventListener("abort", () => resolve("stopped"), { once: true });
    });
    const grant = await Promise.race([ticket.granted.then((l) => ({ lease: l }), (e: unknown) => ({ refused: toSealboxError(e) })), stopped]);
    const queueMs = performance.now() - arrival;
    if (grant === "stopped") {
      ticket.cancel();
      if (stop.signal.reason === "shutdown") {
        // Never started: refused like the rest of the line, not "cancelled" with an empty answer.
        endedBy = "refused";
        error = new SealboxError("MODEL_UNAVAILABLE", "the inference service is shutting down");
      } else endedBy = causeOf(stop.signal);
    } else if ("refused" in grant) {
      endedBy = "refused";
      error = grant.refused;
    } else {
      lease = grant.lease;
      if (stop.signal.aborted) endedBy = causeOf(stop.signal);
      else {
        try {
          result = await work(stop.signal, onCallerAbort);
          value = result.value;
          endedBy = stop.signal.aborted ? causeOf(stop.signal) : result.endedBy;
        } catch (e) {
          error = toSealboxError(e, "INFERENCE_FAILED");
          endedBy = "error";
        }
      }
      lease.release();
      lease = undefined;
    }
    const totalMs = performance.now() - arrival;
    const generateMs = result?.output?.generateMs ?? 0;
    const outcome: AuditEvent = outcomeEvent({
      requestId: a.requestId,
      requestSeq: requestReceipt.seq,
      kind: a.kind,
      actor: a.actor,
      endedBy,
      ...(result?.output ? { stopReason: result.output.stopReason } : {}),
      modelSha256: deps.engineInfo.model.sha256,
      runtime: deps.engineInfo.runtime,
      ...(a.sampling ? { sampling: a.sampling } : {}),
      promptSha256: a.promptSha256,
      promptTokens: a.promptTokens,
      ...(result?.output ? { output: { text: result.output.text, tokens: result.output.tokens } } : {}),
      ...(result?.vectors ? { vectors: result.vectors } : {}),
      timings: {
        queueMs,
        ...(result?.output?.firstTokenMs === undefined ? {} : { firstTokenMs: result.output.firstTokenMs }),
        generateMs,
        totalMs,
        auditMs,
      },
      storeText: deps.storeText,
      ...(error ? { error: { code: error.code, message: error.message } } : {}),
    });
    const outcomeReceipt = await deps.audit.append(outcome).catch((e: unknown) => {
      const err = toSealboxError(e, "LEDGER_WRITE_FAILED");
      deps.logger?.error("outcome record refused by the ledger: answer withheld", { requestId: a.requestId, requestSeq: requestReceipt.seq, code: err.code });
      throw err;
    });
    if (error) {
      throw new SealboxError(error.code, error.message, {
        cause: error,
        details: { ...error.details, requestId: a.requestId, requestSeq: requestReceipt.seq, outcomeSeq: outcomeReceipt.seq },
      });
    }
    return { value, endedBy, requestSeq: requestReceipt.seq, outcomeSeq: outcomeReceipt.seq, timings: { queueMs, totalMs, auditMs } };
  } finally {
    lease?.release();
    clearTimeout(deadline);
    opts.signal?.removeEventListener("abort", onCallerAbort);
    deps.active.delete(a.requestId);
    settle();
  }
}

/** Calls a caller's notification hook; its failure is the caller's, logged, and does not stop the request. */
function notify(deps: AuditedRunDeps, hook: () => void, requestId: string): void {
  try {
    hook();
  } catch (e) {
    deps.logger?.warn("a request's notification hook threw", { requestId, error: e });
  }
}

function causeOf(signal: AbortSignal): EndedBy {
  return signal.reason === "deadline" ? "deadline" : "cancelled";
}

function requestFacts(deps: AuditedRunDeps, a: Admitted): RequestFacts {
  const info = deps.engineInfo;
  const engine: EngineSettings = {
    mode: info.runtime.mode,
    contextSize: info.contextSize,
    sequences: info.sequences,
    batchSize: info.batchSize,
    contexts: info.contexts,
    threads: info.runtime.threads,
    deterministic: info.deterministic,
  };
  return {
    requestId: a.requestId,
    kind: a.kind,
    actor: a.actor,
    modelSha256: info.model.sha256,
    promptSha256: a.promptSha256,
    promptTokens: a.promptTokens,
    ...(deps.storeText ? { prompt: a.prompt } : {}),
    ...(a.sampling ? { sampling: a.sampling } : {}),
    ...(a.maxTokens === undefined ? {} : { maxTokens: a.maxTokens }),
    ...(a.stop === undefined ? {} : { stop: a.stop }),
    ...(a.jsonSchema === undefined ? {} : { jsonSchema: a.jsonSchema }),
    priority: a.priority,
    deadlineMs: a.deadlineMs,
    engine,
  };
}
