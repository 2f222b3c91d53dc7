// What an answer's audit records say, built from values (pure: no ledger, no
// model). Two records per request: the write-ahead "requested" record, durable
// before anything is generated, and the outcome record after it ends. Together
// they bind the answer to the exact model (SHA-256), software (node-llama-cpp
// and llama.cpp versions), device, sampling parameters and seed, and to the
// prompt and output by SHA-256 — so it can be replayed and compared
// (replay.ts). Full text goes in only when the box is configured to store it.
//
// Hashes (all lowercase hex SHA-256):
//   promptSha256   chat: of the RFC 8785 canonical JSON of the messages array
//                  ([{"content":…,"role":…},…]); completion: of the prompt's
//                  UTF-8 bytes; embedding: of the canonical JSON of the array
//                  of input strings.
//   outputSha256   of the answer's UTF-8 bytes.
//   outputTokensSha256  of the generated token ids, each a u32 little-endian.
//   outputDigests  the first 16 hex digits of the SHA-256 of the token ids
//                  (u32 LE) up to the end of each block of DIGEST_BLOCK_TOKENS
//                  tokens, and of all of them for a last partial block: lets a
//                  replay place a divergence within a block when no text is stored.

import { createHash } from "node:crypto";
import type { Actor, AuditEvent, JsonValue } from "../ledger/types.js";
import type { ChatMessage, SamplingParams, StopReason } from "./engine.js";
import type { RuntimeInfo } from "./runtime.js";

export const INFERENCE_CATEGORY = "inference";
export const DIGEST_BLOCK_TOKENS = 32;
/** Records are at most 64 KiB (DESIGN.md); text that would not fit leaves only its hashes. */
export const MAX_DETAILS_BYTES = 60 * 1024;

export type RequestKind = "chat" | "complete" | "embed";
/** How a request ended. "refused": admitted, then displaced from the queue or shut down before it ran. */
export type EndedBy = "done" | "cancelled" | "deadline" | "error" | "refused";

/** RFC 8785 (JCS) canonical JSON of a JsonValue: keys sorted by UTF-16 code units, ES number and string forms. */
export function canonicalJson(v: JsonValue): string {
  if (v === null || typeof v === "boolean" || typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new RangeError("canonical JSON has no form for a non-finite number");
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k]!)}`).join(",")}}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The messages as hashed and stored: only role and content, in order. */
export function normalizeMessages(messages: readonly ChatMessage[]): JsonValue {
  return messages.map((m) => ({ role: m.role, content: m.content }));
}

export function promptSha256(kind: RequestKind, prompt: string | readonly ChatMessage[] | readonly string[]): string {
  if (kind === "chat") return sha256Hex(canonicalJson(normalizeMessages(prompt as ChatMessage[])));
  if (kind === "embed") return sha256Hex(canonicalJson([...(prompt as string[])]));
  return sha256Hex(prompt as string);
}

function tokensLe(tokens: readonly number[], end = tokens.length): Uint8Array {
  const out = new Uint8Array(end * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < end; i++) view.setUint32(i * 4, tokens[i]!, true);
  return out;
}

export function tokensSha256(tokens: readonly number[]): string {
  return sha256Hex(tokensLe(tokens));
}

/** Cumulative block digests of a token sequence (see the header). */
export function tokenDigests(tokens: readonly number[], blockTokens = DIGEST_BLOCK_TOKENS): string[] {
  const hash = createHash("sha256");
  const out: string[] = [];
  for (let start = 0; start < tokens.length; start += blockTokens) {
    const end = Math.min(tokens.length, start + blockTokens);
    hash.update(tokensLe(tokens.slice(start, end)));
    out.push(hash.copy().digest("hex").slice(0, 16));
  }
  return out;
}

/** SHA-256 of embedding vectors, one after the other, each element an f32 little-endian (what llama.cpp computed). */
export function vectorsSha256(vectors: readonly (readonly number[])[]): string {
  const hash = createHash("sha256");
  for (const v of vectors) {
    const out = new Uint8Array(v.length * 4);
    const view = new DataView(out.buffer);
    v.forEach((x, i) => view.setFloat32(i * 4, x, true));
    hash.update(out);
  }
  return hash.digest("hex");
}

/** Settings of the engine that decide the output, recorded so a replay can use the same. */
export interface EngineSettings {
  mode: "cuda" | "cpu";
  contextSize: number;
  sequences: number;
  batchSize: number;
  /** Contexts the sequences were spread over (absent in records made before it existed: 1). */
  contexts?: number;
  threads: number;
  deterministic: boolean;
}

export interface RequestFacts {
  requestId: string;
  kind: RequestKind;
  actor: Actor;
  modelSha256: string;
  promptSha256: string;
  promptTokens: number;
  /** Present when text is stored: the messages (chat), the prompt (completion) or the inputs (embedding). */
  prompt?: string | readonly ChatMessage[] | readonly string[];
  sampling?: SamplingParams;
  maxTokens?: number;
  stop?: readonly string[];
  jsonSchema?: JsonValue;
  priority: string;
  deadlineMs: number;
  engine: EngineSettings;
}

function withinLimit(details: { [key: string]: JsonValue }, textKeys: readonly string[]): { [key: string]: JsonValue } {
  if (Buffer.byteLength(canonicalJson(details)) <= MAX_DETAILS_BYTES) return details;
  const trimmed = { ...details };
  for (const k of textKeys) delete trimmed[k];
  trimmed.textOmitted = "too-large";
  return trimmed;
}

/** The write-ahead record. */
export function requestEvent(f: RequestFacts): AuditEvent {
  const details: { [key: string]: JsonValue } = {
    requestId: f.requestId,
    kind: f.kind,
    model: { sha256: f.modelSha256 },
    promptSha256: f.promptSha256,
    promptTokens: f.promptTokens,
    priority: f.priority,
    deadlineMs: f.deadlineMs,
    engine: { ...f.engine },
  };
  if (f.sampling) details.sampling = { ...f.sampling, repeatPenalty: "off" };
  if (f.maxTokens !== undefined) details.maxTokens = f.maxTokens;
  if (f.stop !== undefined && f.stop.length > 0) details.stop = [...f.stop];
  if (f.jsonSchema !== undefined) details.jsonSchema = f.jsonSchema;
  if (f.prompt !== undefined) {
    details.prompt = f.kind === "chat" ? normalizeMessages(f.prompt as ChatMessage[]) : f.kind === "embed" ? [...(f.prompt as string[])] : (f.prompt as string);
  }
  return {
    actor: f.actor,
    category: INFERENCE_CATEGORY,
    action: f.kind,
    target: f.modelSha256,
    outcome: "requested",
    details: withinLimit(details, ["prompt"]),
  };
}

export interface Timings {
  /** Waiting for a free sequence, ms. */
  queueMs: number;
  /** Start of evaluation to first generated token, ms. */
  firstTokenMs?: number;
  /** Evaluation (prompt + generation), ms. */
  generateMs: number;
  /** Arrival to the end of generation (before the outcome record), ms. */
  totalMs: number;
  /** Waiting for the request record to be durable, ms. */
  auditMs: number;
}

export interface OutcomeFacts {
  requestId: string;
  requestSeq: number;
  kind: RequestKind;
  actor: Actor;
  endedBy: EndedBy;
  stopReason?: StopReason;
  modelSha256: string;
  runtime: RuntimeInfo;
  sampling?: SamplingParams;
  promptSha256: string;
  promptTokens: number;
  /** Generation: the answer and its tokens. */
  output?: { text: string; tokens: readonly number[] };
  /** Embedding: the vectors. */
  vectors?: readonly (readonly number[])[];
  timings: Timings;
  storeText: boolean;
  error?: { code: string; message: string };
}

const OUTCOME_OF: Record<EndedBy, AuditEvent["outcome"]> = {
  done: "success",
  cancelled: "info",
  deadline: "failure",
  error: "failure",
  refused: "refused",
};

function round(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 1000) / 1000;
}

/** The outcome record. */
export function outcomeEvent(f: OutcomeFacts): AuditEvent {
  const timings: { [key: string]: JsonValue } = {};
  for (const [k, v] of Object.entries(f.timings)) {
    const r = round(v as number | undefined);
    if (r !== undefined) timings[k] = r;
  }
  const details: { [key: string]: JsonValue } = {
    requestId: f.requestId,
    requestSeq: f.requestSeq,
    kind: f.kind,
    endedBy: f.endedBy,
    model: { sha256: f.modelSha256 },
    runtime: { nodeLlamaCpp: f.runtime.nodeLlamaCpp, llamaCpp: { ...f.runtime.llamaCpp }, mode: f.runtime.mode, device: f.runtime.device, threads: f.runtime.threads },
    promptSha256: f.promptSha256,
    promptTokens: f.promptTokens,
    timings,
  };
  if (f.stopReason) details.stopReason = f.stopReason;
  if (f.sampling) details.sampling = { ...f.sampling, repeatPenalty: "off" };
  if (f.output) {
    details.outputSha256 = sha256Hex(f.output.text);
    details.outputTokens = f.output.tokens.length;
    details.outputTokensSha256 = tokensSha256(f.output.tokens);
    details.outputDigests = tokenDigests(f.output.tokens);
    if (f.timings.generateMs > 0 && f.output.tokens.length > 0) {
      details.tokensPerSecond = Math.round((f.output.tokens.length / (f.timings.generateMs / 1000)) * 100) / 100;
    }
    if (f.storeText) {
      details.output = f.output.text;
      details.outputTokenIds = [...f.output.tokens];
    }
  }
  if (f.vectors) {
    details.vectors = f.vectors.length;
    details.dimensions = f.vectors[0]?.length ?? 0;
    details.vectorsSha256 = vectorsSha256(f.vectors);
  }
  if (f.error) details.error = { ...f.error };
  return {
    actor: f.actor,
    category: INFERENCE_CATEGORY,
    action: f.kind,
    target: f.modelSha256,
    outcome: OUTCOME_OF[f.endedBy],
    details: withinLimit(details, ["output", "outputTokenIds"]),
  };
}
