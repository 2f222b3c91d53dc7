// Replaying a recorded answer: the same model (by SHA-256), prompt, sampling
// parameters and seed, on an engine opened with the recorded settings in
// deterministic mode (one sequence, empty context) — then token-by-token
// comparison with the record. A replay on other hardware or other software
// versions may legitimately differ; the report lists every such difference.

import { SealboxError } from "../errors.js";
import type { EngineOptions, InferenceEngine } from "./engine.js";
import { vectorsSha256 } from "./provenance.js";
import { compareTokens, type Comparison, type ReplayPlan } from "./replay-plan.js";
import type { InferenceMode } from "./runtime.js";

export interface ReplayReport extends Comparison {
  requestSeq: number;
  outcomeSeq: number;
  kind: ReplayPlan["kind"];
  /** The replayed answer (generation only). */
  text?: string;
  /** Where the replay's conditions differ from the recorded ones. */
  notes: string[];
}

/** Engine options that reproduce the recorded settings (deterministic mode, one sequence). */
export function engineOptionsFor(plan: ReplayPlan, where: { modelPath: string; mode?: InferenceMode; threads?: number }): EngineOptions {
  return {
    modelPath: where.modelPath,
    modelSha256: plan.modelSha256,
    mode: where.mode ?? plan.engine.mode,
    threads: where.threads ?? plan.engine.threads,
    contextSize: plan.engine.contextSize,
    batchSize: plan.engine.batchSize,
    deterministic: true,
  };
}

function conditionNotes(plan: ReplayPlan, engine: InferenceEngine): string[] {
  const notes: string[] = [];
  const now = engine.info.runtime;
  const then = plan.recorded.runtime;
  const differ = (what: string, recorded: string | number, replay: string | number): void => {
    if (recorded !== replay) notes.push(`${what} differs: recorded ${recorded}, replay ${replay}`);
  };
  differ("node-llama-cpp version", then.nodeLlamaCpp, now.nodeLlamaCpp);
  differ("llama.cpp release", then.llamaCppRelease, now.llamaCpp.release);
  differ("llama.cpp commit", then.llamaCppCommit, now.llamaCpp.commit);
  differ("mode", then.mode, now.mode);
  differ("device", then.device, now.device);
  differ("threads", plan.engine.threads, now.threads);
  differ("context size", plan.engine.contextSize, engine.info.contextSize);
  differ("batch size", plan.engine.batchSize, engine.info.batchSize);
  if ((plan.engine.contexts ?? 1) > 1) notes.push(`recorded on one of ${plan.engine.contexts} contexts`);
  if (!plan.engine.deterministic) {
    notes.push(`recorded with ${plan.engine.sequences} parallel sequences (not deterministic mode): batching with other requests may change an answer`);
  }
  if (plan.recorded.endedBy !== "done") notes.push(`the recorded answer ended by ${plan.recorded.endedBy}: its ${plan.recorded.outputTokens ?? 0} tokens are compared`);
  return notes;
}

/**
 * Re-runs the plan on `engine` (opened with engineOptionsFor) and compares.
 * `prompt` is the stored prompt or one checked with promptFromText.
 */
export async function replay(plan: ReplayPlan, engine: InferenceEngine, prompt: NonNullable<ReplayPlan["prompt"]>, signal?: AbortSignal): Promise<ReplayReport> {
  if (engine.info.model.sha256 !== plan.modelSha256) {
    throw new SealboxError("MODEL_REJECTED", `the replay engine runs model ${engine.info.model.sha256}, the record names ${plan.modelSha256}`);
  }
  if (plan.recorded.endedBy === "error" || plan.recorded.endedBy === "refused") {
    throw new SealboxError("BAD_ARGUMENT", `request ${plan.requestSeq} ended by ${plan.recorded.endedBy}: there is no answer to replay`);
  }
  const notes = conditionNotes(plan, engine);
  const head = { requestSeq: plan.requestSeq, outcomeSeq: plan.outcomeSeq, kind: plan.kind, notes };

  if (plan.kind === "embed") {
    if (plan.recorded.vectorsSha256 === undefined) throw new SealboxError("BAD_ARGUMENT", `request ${plan.requestSeq} has no recorded embedding to compare`);
    const vectors: number[][] = [];
    for (const input of prompt as string[]) vectors.push((await engine.embed(input)).vector);
    return { ...head, identical: vectorsSha256(vectors) === plan.recorded.vectorsSha256, recordedTokens: 0, replayedTokens: 0 };
  }

  if (!plan.sampling || plan.maxTokens === undefined) throw new SealboxError("BAD_FORMAT", `request ${plan.requestSeq} has no sampling parameters`);
  if (plan.maxTokens === 0) return { ...head, identical: true, recordedTokens: 0, replayedTokens: 0, text: "" };
  const prepared = plan.kind === "chat" ? engine.prepareChat(prompt as never) : engine.prepareCompletion(prompt as string);
  const grammar = plan.jsonSchema === undefined ? undefined : await engine.jsonSchemaGrammar(plan.jsonSchema);
  const out = await engine.generate(
    { kind: plan.kind, prompt: prepared, maxTokens: plan.maxTokens, sampling: plan.sampling, stop: plan.stop, ...(grammar ? { grammar } : {}) },
    signal ? { signal } : {},
  );
  if (out.stopReason === "abort") throw new SealboxError("CANCELLED", "the replay was cancelled");
  return { ...head, ...compareTokens(plan, out.tokens, out.text), text: out.text };
}
