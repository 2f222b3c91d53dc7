// Reading a recorded inference back out of the ledger: a request record and
// its outcome record in, a replay plan out (pure). Records come from storage
// and are checked field by field like any other untrusted input: a malformed
// or mismatched pair is BAD_FORMAT naming the field, never a crash later.
//
// And comparing a replayed answer with the recorded one: with stored token ids
// the first differing token is exact; with hashes only, the cumulative block
// digests (provenance.ts) place it within a block of DIGEST_BLOCK_TOKENS.

import { SealboxError } from "../errors.js";
import type { AuditRecord, JsonValue } from "../ledger/types.js";
import type { ChatMessage, SamplingParams } from "./engine.js";
import { DIGEST_BLOCK_TOKENS, INFERENCE_CATEGORY, canonicalJson, promptSha256, sha256Hex, tokenDigests, tokensSha256, type EndedBy, type EngineSettings, type RequestKind } from "./provenance.js";
import { checkEmbedInputs, checkMessages } from "./requests.js";

export interface ReplayPlan {
  requestSeq: number;
  outcomeSeq: number;
  requestId: string;
  kind: RequestKind;
  modelSha256: string;
  promptSha256: string;
  /** The stored prompt, when the box stored text. */
  prompt?: string | ChatMessage[] | string[];
  sampling?: SamplingParams;
  /** Tokens to generate in the replay: the recorded limit for a finished answer, the recorded count for a cut-off one. */
  maxTokens?: number;
  stop: string[];
  jsonSchema?: JsonValue;
  engine: EngineSettings;
  recorded: {
    endedBy: EndedBy;
    runtime: { nodeLlamaCpp: string; llamaCppRelease: string; llamaCppCommit: string; mode: string; device: string };
    outputTokens?: number;
    outputSha256?: string;
    outputTokensSha256?: string;
    outputDigests?: string[];
    outputTokenIds?: number[];
    vectorsSha256?: string;
  };
}

type Obj = { [key: string]: JsonValue };

function fail(field: string, expected: string, got: unknown): SealboxError {
  const shown = got === undefined ? "nothing" : JSON.stringify(got)?.slice(0, 80);
  return new SealboxError("BAD_FORMAT", `recorded inference: ${field} should be ${expected}, found ${shown}`, { details: { field } });
}

function obj(v: JsonValue | undefined, field: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw fail(field, "an object", v);
  return v;
}
function str(o: Obj, key: string, field: string, pattern?: RegExp): string {
  const v = o[key];
  if (typeof v !== "string" || (pattern && !pattern.test(v))) throw fail(`${field}.${key}`, pattern ? `a string matching ${pattern}` : "a string", v);
  return v;
}
function int(o: Obj, key: string, field: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw fail(`${field}.${key}`, `an integer in [${min}, ${max}]`, v);
  return v;
}
function num(o: Obj, key: string, field: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw fail(`${field}.${key}`, "a number", v);
  return v;
}
function bool(o: Obj, key: string, field: string): boolean {
  const v = o[key];
  if (typeof v !== "boolean") throw fail(`${field}.${key}`, "true or false", v);
  return v;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const KINDS: readonly RequestKind[] = ["chat", "complete", "embed"];
const ENDINGS: readonly EndedBy[] = ["done", "cancelled", "deadline", "error", "refused"];
/** Far above any real request; bounds what a hostile record can make a replay allocate. */
const MAX_RECORDED_TOKENS = 1 << 20;

function optTokenIds(d: Obj): number[] | undefined {
  const v = d.outputTokenIds;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_RECORDED_TOKENS) throw fail("outcome.details.outputTokenIds", "an array of token ids", v);
  return v.map((t, i) => {
    if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t > 0xffffffff) throw fail(`outcome.details.outputTokenIds[${i}]`, "a u32 token id", t);
    return t;
  });
}

function optDigests(d: Obj): string[] | undefined {
  const v = d.outputDigests;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_RECORDED_TOKENS / DIGEST_BLOCK_TOKENS + 1) throw fail("outcome.details.outputDigests", "an array of digests", v);
  return v.map((x, i) => {
    if (typeof x !== "string" || !HEX16.test(x)) throw fail(`outcome.details.outputDigests[${i}]`, "16 hex digits", x);
    return x;
  });
}

function parsePrompt(kind: RequestKind, v: JsonValue | undefined): ReplayPlan["prompt"] {
  if (v === undefined) return undefined;
  try {
    if (kind === "chat") return checkMessages(v);
    if (kind === "embed") return checkEmbedInputs(v);
    if (typeof v !== "string") throw fail("request.details.prompt", "a string", v);
    return v;
  } catch (e) {
    if (e instanceof SealboxError && e.code === "BAD_REQUEST") throw fail("request.details.prompt", `a valid ${kind} prompt (${e.message})`, v);
    throw e;
  }
}

/** Checks that the two records are a request and its outcome, and reads what a replay needs. */
export function planReplay(request: AuditRecord, outcome: AuditRecord): ReplayPlan {
  if (request.category !== INFERENCE_CATEGORY) throw fail("request.category", `"${INFERENCE_CATEGORY}"`, request.category);
  if (request.outcome !== "requested") throw fail("request.outcome", '"requested" (give the sequence number of the request record)', request.outcome);
  if (outcome.category !== INFERENCE_CATEGORY) throw fail("outcome.category", `"${INFERENCE_CATEGORY}"`, outcome.category);
  const rd = obj(request.details, "request.details");
  const od = obj(outcome.details, "outcome.details");
  const kind = str(rd, "kind", "request.details") as RequestKind;
  if (!KINDS.includes(kind)) throw fail("request.details.kind", "chat, complete or embed", kind);
  if (od.kind !== kind) throw fail("outcome.details.kind", JSON.stringify(kind), od.kind);
  const requestId = str(rd, "requestId", "request.details");
  if (od.requestId !== requestId) throw fail("outcome.details.requestId", JSON.stringify(requestId), od.requestId);
  if (int(od, "requestSeq", "outcome.details") !== request.seq) throw fail("outcome.details.requestSeq", String(request.seq), od.requestSeq);
  const modelSha256 = str(obj(rd.model, "request.details.model"), "sha256", "request.details.model", HEX64);
  if (str(obj(od.model, "outcome.details.model"), "sha256", "outcome.details.model", HEX64) !== modelSha256) throw fail("outcome.details.model.sha256", modelSha256, od.model);
  const endedBy = str(od, "endedBy", "outcome.details") as EndedBy;
  if (!ENDINGS.includes(endedBy)) throw fail("outcome.details.endedBy", ENDINGS.join(", "), endedBy);

  const e = obj(rd.engine, "request.details.engine");
  const mode = str(e, "mode", "request.details.engine");
  if (mode !== "cuda" && mode !== "cpu") throw fail("request.details.engine.mode", "cuda or cpu", mode);
  const engine: EngineSettings = {
    mode,
    contextSize: int(e, "contextSize", "request.details.engine", 1, 1 << 24),
    sequences: int(e, "sequences", "request.details.engine", 1, 4096),
    batchSize: int(e, "batchSize", "request.details.engine", 1, 1 << 24),
    threads: int(e, "threads", "request.details.engine", 1, 4096),
    ...(e.contexts === undefined ? {} : { contexts: int(e, "contexts", "request.details.engine", 1, 4096) }),
    deterministic: bool(e, "deterministic", "request.details.engine"),
  };
  const rt = obj(od.runtime, "outcome.details.runtime");
  const lc = obj(rt.llamaCpp, "outcome.details.runtime.llamaCpp");
  const plan: ReplayPlan = {
    requestSeq: request.seq,
    outcomeSeq: outcome.seq,
    requestId,
    kind,
    modelSha256,
    promptSha256: str(rd, "promptSha256", "request.details", HEX64),
    stop: [],
    engine,
    recorded: {
      endedBy,
      runtime: {
        nodeLlamaCpp: str(rt, "nodeLlamaCpp", "outcome.details.runtime"),
        llamaCppRelease: str(lc, "release", "outcome.details.runtime.llamaCpp"),
        llamaCppCommit: str(lc, "commit", "outcome.details.runtime.llamaCpp"),
        mode: str(rt, "mode", "outcome.details.runtime"),
        device: str(rt, "device", "outcome.details.runtime"),
      },
    },
  };
  const prompt = parsePrompt(kind, rd.prompt);
  if (prompt !== undefined) plan.prompt = prompt;

  if (kind === "embed") {
    if (od.vectorsSha256 !== undefined) plan.recorded.vectorsSha256 = str(od, "vectorsSha256", "outcome.details", HEX64);
    return plan;
  }
  const s = obj(rd.sampling, "request.details.sampling");
  plan.sampling = {
    temperature: num(s, "temperature", "request.details.sampling"),
    topK: int(s, "topK", "request.details.sampling"),
    topP: num(s, "topP", "request.details.sampling"),
    minP: num(s, "minP", "request.details.sampling"),
    seed: int(s, "seed", "request.details.sampling", 0, 0xffffffff),
  };
  const recordedMax = int(rd, "maxTokens", "request.details", 1, MAX_RECORDED_TOKENS);
  if (rd.stop !== undefined) {
    if (!Array.isArray(rd.stop) || rd.stop.some((x) => typeof x !== "string")) throw fail("request.details.stop", "an array of strings", rd.stop);
    plan.stop = rd.stop as string[];
  }
  if (rd.jsonSchema !== undefined) plan.jsonSchema = rd.jsonSchema;
  if (od.outputTokens !== undefined) {
    plan.recorded.outputTokens = int(od, "outputTokens", "outcome.details", 0, MAX_RECORDED_TOKENS);
    plan.recorded.outputSha256 = str(od, "outputSha256", "outcome.details", HEX64);
    plan.recorded.outputTokensSha256 = str(od, "outputTokensSha256", "outcome.details", HEX64);
    const digests = optDigests(od);
    if (digests) plan.recorded.outputDigests = digests;
    const ids = optTokenIds(od);
    if (ids) {
      if (ids.length !== plan.recorded.outputTokens) throw fail("outcome.details.outputTokenIds", `${plan.recorded.outputTokens} token ids`, `${ids.length} ids`);
      plan.recorded.outputTokenIds = ids;
    }
  }
  // A finished answer is replayed under its own limit; one cut short (cancelled,
  // deadline) is replayed for as many tokens as it had.
  plan.maxTokens = endedBy === "done" ? recordedMax : Math.min(recordedMax, plan.recorded.outputTokens ?? 0);
  return plan;
}

/**
 * Reads a prompt the technician supplies (when the box stored only hashes)
 * and checks it against the recorded hash. Chat: a JSON array of messages (or
 * {"messages": [...]}); completion: the file's text exactly; embedding: a JSON
 * array of strings (or one JSON string).
 */
export function promptFromText(plan: ReplayPlan, text: string): NonNullable<ReplayPlan["prompt"]> {
  let prompt: NonNullable<ReplayPlan["prompt"]>;
  if (plan.kind === "complete") prompt = text;
  else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new SealboxError("BAD_FORMAT", `the prompt file must be JSON for a ${plan.kind} request: ${(e as Error).message}`, { cause: e });
    }
    if (plan.kind === "chat") {
      const messages = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as { messages?: unknown }).messages : parsed;
      prompt = checkMessages(messages);
    } else prompt = checkEmbedInputs(parsed);
  }
  const actual = promptSha256(plan.kind, prompt);
  if (actual !== plan.promptSha256) {
    throw new SealboxError("VERIFY_FAILED", `the supplied prompt does not match the record: its SHA-256 is ${actual}, the record's ${plan.promptSha256}`, {
      details: { expectedSha256: plan.promptSha256, actualSha256: actual },
    });
  }
  return prompt;
}

export interface Comparison {
  identical: boolean;
  /** Exact index of the first token that differs (when token ids are recorded, or one answer is a prefix of the other). */
  divergedAt?: number;
  /** With hashes only: the block of tokens [start, end) holding the first difference. */
  divergedWithin?: [number, number];
  recordedTokens: number;
  replayedTokens: number;
}

/** Compares replayed tokens with what the plan recorded. */
export function compareTokens(plan: ReplayPlan, tokens: readonly number[], text: string): Comparison {
  const r = plan.recorded;
  const recordedTokens = r.outputTokens ?? 0;
  const base = { recordedTokens, replayedTokens: tokens.length };
  if (r.outputTokenIds) {
    const ids = r.outputTokenIds;
    const n = Math.min(ids.length, tokens.length);
    for (let i = 0; i < n; i++) if (ids[i] !== tokens[i]) return { identical: false, divergedAt: i, ...base };
    if (ids.length !== tokens.length) return { identical: false, divergedAt: n, ...base };
  } else if (r.outputDigests) {
    const mine = tokenDigests(tokens);
    const n = Math.min(mine.length, r.outputDigests.length);
    for (let b = 0; b < n; b++) {
      if (mine[b] !== r.outputDigests[b]) {
        const start = b * DIGEST_BLOCK_TOKENS;
        return { identical: false, divergedWithin: [start, Math.min(start + DIGEST_BLOCK_TOKENS, Math.max(recordedTokens, tokens.length))], ...base };
      }
    }
    if (recordedTokens !== tokens.length) return { identical: false, divergedAt: Math.min(recordedTokens, tokens.length), ...base };
  }
  const same = tokensSha256(tokens) === r.outputTokensSha256 && sha256Hex(text) === r.outputSha256 && recordedTokens === tokens.length;
  return { identical: same, ...base };
}

/** A short, canonical fingerprint of a plan's settings, for messages and logs. */
export function describePlan(plan: ReplayPlan): string {
  return canonicalJson({ kind: plan.kind, model: plan.modelSha256.slice(0, 12), seed: plan.sampling?.seed ?? null, maxTokens: plan.maxTokens ?? null, mode: plan.engine.mode });
}
