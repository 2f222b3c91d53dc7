// The inference service's request and result types, and the checks that turn
// what a caller sent into a request the engine can run (pure: values in,
// values or BAD_REQUEST out). Transports parse their wire format into these.

import { SealboxError } from "../errors.js";
import type { Actor, JsonValue } from "../ledger/types.js";
import type { ChatMessage, SamplingParams, StopReason } from "./engine.js";
import type { EndedBy } from "./provenance.js";
import type { Priority } from "./queue.js";

/** Sampling and limits a caller may set; anything left out takes the service's default. */
export interface GenerationParams {
  /** Most tokens to generate. Defaults to the service's defaultMaxTokens; at most its maxTokens. */
  maxTokens?: number;
  /** 0 (greedy) to 2. Defaults to the service's sampling default (0.7). */
  temperature?: number;
  /** 0 (off) or a positive integer. Defaults to 40. */
  topK?: number;
  /** In (0, 1]. Defaults to 0.95. */
  topP?: number;
  /** In [0, 1). Defaults to 0.05. */
  minP?: number;
  /** u32 sampler seed. Defaults to the service's fixed seed in deterministic mode, a random one otherwise (recorded either way). */
  seed?: number;
  /** Up to 4 texts (1–256 characters) that end the answer when generated. Defaults to none. */
  stop?: string[];
  /** Constrain the answer to this JSON schema (node-llama-cpp's GBNF JSON-schema subset). */
  jsonSchema?: JsonValue;
  /** Give up this many ms after arrival (queue wait included). Defaults to the service's defaultDeadlineMs. */
  deadlineMs?: number;
}

export interface ChatRequest extends GenerationParams {
  /** The conversation; the last message must be the user's. */
  messages: ChatMessage[];
}

export interface CompletionRequest extends GenerationParams {
  /** Text the model continues. */
  prompt: string;
}

export interface EmbedRequest {
  /** One text, or several (at most MAX_EMBED_INPUTS) embedded in one request. */
  input: string | string[];
  deadlineMs?: number;
}

export interface CallOptions {
  /** Aborting cancels: a queued request leaves the line, a running one returns what it has so far. */
  signal?: AbortSignal;
  /** Called with each piece of the answer's text as it is generated (streaming). A throw cancels the request. */
  onToken?: (text: string) => void;
  /** Queue order: "high" (console), "normal" (integrators), "low" (background). Defaults to "normal". */
  priority?: Priority;
  /** Who asked, for the audit records. Defaults to { role: "operator", transport: "internal", peer: "-" }. */
  actor?: Actor;
  /** The request's id (for queuePosition); must be unique among requests in flight. Defaults to a random UUID. */
  requestId?: string;
  /** Called once the request is admitted to the queue, with its id and position (0 = running now). */
  onQueued?: (requestId: string, position: number) => void;
  /** Called with the request record's sequence number as soon as it is durable (before anything is generated). */
  onAudit?: (requestSeq: number) => void;
}

export interface AuditRefs {
  /** Sequence number of the write-ahead request record. */
  requestSeq: number;
  /** Sequence number of the outcome record. */
  outcomeSeq: number;
}

export interface GenerationResult {
  requestId: string;
  text: string;
  /** The parsed answer, when a JSON schema was given and the answer is complete. */
  json?: JsonValue;
  /** "done" (the model stopped, or maxTokens), "cancelled" (the caller aborted) or "deadline" — the last two with the partial answer. */
  endedBy: Extract<EndedBy, "done" | "cancelled" | "deadline">;
  /** How generation stopped; undefined if it never started (cancelled or deadline while queued). */
  stopReason?: StopReason;
  /** SHA-256 of the model that answered. */
  model: string;
  sampling: SamplingParams;
  maxTokens: number;
  usage: { promptTokens: number; completionTokens: number };
  timings: { queueMs: number; firstTokenMs?: number; generateMs: number; totalMs: number; auditMs: number };
  audit: AuditRefs;
}

export interface EmbeddingResult {
  requestId: string;
  /** One vector per input, in order. */
  vectors: number[][];
  model: string;
  usage: { promptTokens: number };
  timings: { queueMs: number; generateMs: number; totalMs: number; auditMs: number };
  audit: AuditRefs;
}

const ROLES = new Set(["system", "user", "assistant"]);
export const MAX_MESSAGES = 256;

function bad(message: string, field: string): SealboxError {
  return new SealboxError("BAD_REQUEST", message, { details: { field } });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks a chat request's messages. Returns them with only role and content. */
export function checkMessages(value: unknown): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) throw bad("messages must be a non-empty array", "messages");
  if (value.length > MAX_MESSAGES) throw bad(`at most ${MAX_MESSAGES} messages, got ${value.length}`, "messages");
  const out = value.map((m, i): ChatMessage => {
    if (!isRecord(m)) throw bad(`messages[${i}] must be an object`, `messages[${i}]`);
    if (typeof m.role !== "string" || !ROLES.has(m.role)) throw bad(`messages[${i}].role must be "system", "user" or "assistant"`, `messages[${i}].role`);
    if (typeof m.content !== "string") throw bad(`messages[${i}].content must be a string`, `messages[${i}].content`);
    return { role: m.role as ChatMessage["role"], content: m.content };
  });
  if (out[out.length - 1]!.role !== "user") throw bad("the last message must be the user's", "messages");
  return out;
}

export const MAX_EMBED_INPUTS = 256;

export function checkEmbedInputs(value: unknown): string[] {
  const inputs = typeof value === "string" ? [value] : value;
  if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_EMBED_INPUTS) {
    throw bad(`input must be a string or an array of 1 to ${MAX_EMBED_INPUTS} strings`, "input");
  }
  return inputs.map((s, i) => checkText(s, `input[${i}]`));
}

export function checkText(value: unknown, field: string): string {
  if (typeof value !== "string") throw bad(`${field} must be a string`, field);
  return value;
}

function checkNumber(v: unknown, field: string, min: number, max: number, opts: { integer?: boolean; minExclusive?: boolean; maxExclusive?: boolean } = {}): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(`${field} must be a number`, field);
  if (opts.integer && !Number.isInteger(v)) throw bad(`${field} must be an integer`, field);
  const lowOk = opts.minExclusive ? v > min : v >= min;
  const highOk = opts.maxExclusive ? v < max : v <= max;
  if (!lowOk || !highOk) throw bad(`${field} must be in ${opts.minExclusive ? "(" : "["}${min}, ${max}${opts.maxExclusive ? ")" : "]"}, got ${v}`, field);
  return v;
}

export interface SamplingDefaults {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
}

/** Fills the sampling parameters in from the request and the defaults, checking each. */
export function checkSampling(p: GenerationParams, defaults: SamplingDefaults, seed: () => number): SamplingParams {
  return {
    temperature: p.temperature === undefined ? defaults.temperature : checkNumber(p.temperature, "temperature", 0, 2),
    topK: p.topK === undefined ? defaults.topK : checkNumber(p.topK, "topK", 0, 1_000_000, { integer: true }),
    topP: p.topP === undefined ? defaults.topP : checkNumber(p.topP, "topP", 0, 1, { minExclusive: true }),
    minP: p.minP === undefined ? defaults.minP : checkNumber(p.minP, "minP", 0, 1, { maxExclusive: true }),
    seed: p.seed === undefined ? seed() : checkNumber(p.seed, "seed", 0, 0xffffffff, { integer: true }),
  };
}

/** maxTokens as asked (or the default), within the configured limit. */
export function checkMaxTokens(value: unknown, defaultMaxTokens: number, limit: number): number {
  if (value === undefined) return Math.min(defaultMaxTokens, limit);
  const n = checkNumber(value, "maxTokens", 1, Number.MAX_SAFE_INTEGER, { integer: true });
  if (n > limit) {
    throw new SealboxError("BAD_REQUEST", `maxTokens ${n} is more than this box's limit of ${limit}`, { details: { field: "maxTokens", maxTokens: n, limit } });
  }
  return n;
}

export const MAX_STOP_STRINGS = 4;
export const MAX_STOP_CHARS = 256;

export function checkStop(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_STOP_STRINGS) throw bad(`stop must be an array of at most ${MAX_STOP_STRINGS} strings`, "stop");
  return value.map((s, i) => {
    if (typeof s !== "string" || s.length === 0 || s.length > MAX_STOP_CHARS) throw bad(`stop[${i}] must be a string of 1 to ${MAX_STOP_CHARS} characters`, `stop[${i}]`);
    return s;
  });
}

export function checkDeadline(value: unknown, defaultMs: number, maxMs: number): number {
  if (value === undefined) return defaultMs;
  return checkNumber(value, "deadlineMs", 1, maxMs, { integer: true });
}
