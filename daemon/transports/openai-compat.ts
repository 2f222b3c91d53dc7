// The OpenAI-compatible subset, as pure translations between OpenAI's request
// and response shapes (the Chat Completions, Completions, Embeddings and
// Models APIs) and the method table's params and results. Existing clients
// work unchanged; each answer also carries a `sealbox` field with the audit
// sequence numbers of its records and the model's SHA-256.
//
// Parameters OpenAI defines but sealbox does not implement are accepted at
// their default value and refused otherwise, by name; unknown parameters are
// refused, so a typo is never silently ignored.

import { SealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import type { JsonObject } from "../rpc/ports.js";

export interface LoadedModel {
  name: string;
  sha256: string;
}

/** Accepted when they have these values (their defaults): anything else is refused by name. */
const INERT_DEFAULTS: Record<string, (v: JsonValue) => boolean> = {
  n: (v) => v === 1,
  logprobs: (v) => v === false || v === null,
  top_logprobs: (v) => v === 0 || v === null,
  frequency_penalty: (v) => v === 0 || v === null,
  presence_penalty: (v) => v === 0 || v === null,
  logit_bias: (v) => v === null || (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0),
  tools: (v) => v === null || (Array.isArray(v) && v.length === 0),
  tool_choice: (v) => v === null || v === "none" || v === "auto",
  parallel_tool_calls: () => true,
  best_of: (v) => v === 1 || v === null,
  echo: (v) => v === false || v === null,
  suffix: (v) => v === null,
};
/** Accepted and ignored: they do not change the answer. */
const IGNORED = new Set(["user", "metadata", "store", "service_tier", "stream_options", "dimensions"]);

function fail(message: string, details?: JsonObject): SealboxError {
  return new SealboxError("BAD_REQUEST", message, details ? { details } : {});
}

function asObject(body: JsonValue | undefined, what: string): JsonObject {
  if (body === undefined || body === null || typeof body !== "object" || Array.isArray(body)) {
    throw fail(`the ${what} request body must be a JSON object`);
  }
  return body;
}

function checkKeys(body: JsonObject, known: readonly string[]): void {
  for (const [key, value] of Object.entries(body)) {
    if (known.includes(key) || IGNORED.has(key)) continue;
    const inert = INERT_DEFAULTS[key];
    if (inert) {
      if (!inert(value)) throw new SealboxError("UNSUPPORTED", `'${key}' is not supported by sealbox (leave it out or at its default)`, { details: { param: key } });
      continue;
    }
    throw fail(`unknown parameter '${key}'`, { param: key });
  }
}

/** The `model` field may name the loaded model (name, SHA-256 or a prefix of 8+ hex digits), or be omitted. */
export function checkModel(requested: JsonValue | undefined, loaded: LoadedModel | undefined): void {
  if (requested === undefined || requested === null) return;
  if (typeof requested !== "string") throw fail("'model' must be a string");
  if (!loaded) throw new SealboxError("MODEL_UNAVAILABLE", "no model is loaded");
  const r = requested.toLowerCase();
  const ok = requested === loaded.name || r === loaded.sha256 || (r.length >= 8 && /^[0-9a-f]+$/.test(r) && loaded.sha256.startsWith(r)) || r === "default";
  if (!ok) {
    throw new SealboxError("NOT_FOUND", `model '${requested}' is not loaded on this box (loaded: '${loaded.name}', sha256 ${loaded.sha256.slice(0, 12)}…)`, {
      details: { model: requested, loaded: loaded.name },
    });
  }
}

function copySampling(body: JsonObject, params: JsonObject): void {
  const map: [string, string][] = [
    ["temperature", "temperature"],
    ["top_p", "topP"],
    ["top_k", "topK"],
    ["seed", "seed"],
  ];
  for (const [from, to] of map) if (body[from] !== undefined && body[from] !== null) params[to] = body[from]!;
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null) params.maxTokens = maxTokens;
  const stop = body.stop;
  if (typeof stop === "string") params.stop = [stop];
  else if (stop !== undefined && stop !== null) params.stop = stop;
}

function streamFlags(body: JsonObject): { stream: boolean; includeUsage: boolean } {
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") throw fail("'stream' must be true or false");
  const so = body.stream_options;
  const includeUsage = typeof so === "object" && so !== null && !Array.isArray(so) && so.include_usage === true;
  return { stream: body.stream === true, includeUsage };
}

function messageContent(content: JsonValue | undefined, i: number): string {
  if (typeof content === "string") return content;
  // Content parts: only text parts are understood.
  if (Array.isArray(content)) {
    return content
      .map((part, j) => {
        if (typeof part === "object" && part !== null && !Array.isArray(part) && part.type === "text" && typeof part.text === "string") return part.text;
        throw fail(`messages[${i}].content[${j}]: only text parts are supported`);
      })
      .join("");
  }
  throw fail(`messages[${i}].content must be a string or an array of text parts`);
}

export interface ParsedOpenAiRequest {
  params: JsonObject;
  stream: boolean;
  includeUsage: boolean;
}

export function parseChatCompletionRequest(raw: JsonValue | undefined, loaded: LoadedModel | undefined): ParsedOpenAiRequest {
  const body = asObject(raw, "chat completion");
  checkKeys(body, ["model", "messages", "stream", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed", "stop", "response_format"]);
  checkModel(body.model, loaded);
  if (!Array.isArray(body.messages)) throw fail("'messages' must be an array of {role, content}");
  const messages = body.messages.map((m, i) => {
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw fail(`messages[${i}] must be an object`);
    const role = m.role === "developer" ? "system" : m.role;
    if (role !== "system" && role !== "user" && role !== "assistant") {
      throw fail(`messages[${i}].role: expected "system", "developer", "user" or "assistant", got ${JSON.stringify(m.role)}`);
    }
    return { role, content: messageContent(m.content, i) };
  });
  const params: JsonObject = { messages };
  copySampling(body, params);
  const rf = body.response_format;
  if (rf !== undefined && rf !== null) {
    if (typeof rf !== "object" || Array.isArray(rf)) throw fail("'response_format' must be an object");
    if (rf.type === "json_schema") {
      const js = rf.json_schema;
      if (typeof js !== "object" || js === null || Array.isArray(js) || typeof js.schema !== "object" || js.schema === null || Array.isArray(js.schema)) {
        throw fail("response_format.json_schema.schema must be a JSON schema object");
      }
      params.jsonSchema = js.schema;
    } else if (rf.type === "json_object") {
      throw new SealboxError("UNSUPPORTED", "response_format json_object is not supported; pass a json_schema instead");
    } else if (rf.type !== "text") {
      throw fail(`response_format.type: expected "text" or "json_schema", got ${JSON.stringify(rf.type)}`);
    }
  }
  return { params, ...streamFlags(body) };
}

export function parseCompletionRequest(raw: JsonValue | undefined, loaded: LoadedModel | undefined): ParsedOpenAiRequest {
  const body = asObject(raw, "completion");
  checkKeys(body, ["model", "prompt", "stream", "max_tokens", "temperature", "top_p", "top_k", "seed", "stop"]);
  checkModel(body.model, loaded);
  let prompt = body.prompt;
  if (Array.isArray(prompt)) {
    if (prompt.length !== 1 || typeof prompt[0] !== "string") throw fail("'prompt' must be a string (or an array of exactly one string)");
    prompt = prompt[0];
  }
  if (typeof prompt !== "string") throw fail("'prompt' must be a string");
  const params: JsonObject = { prompt };
  copySampling(body, params);
  return { params, ...streamFlags(body) };
}

export function parseEmbeddingRequest(raw: JsonValue | undefined, loaded: LoadedModel | undefined): { params: JsonObject; encoding: "float" | "base64" } {
  const body = asObject(raw, "embedding");
  checkKeys(body, ["model", "input", "encoding_format"]);
  checkModel(body.model, loaded);
  const enc = body.encoding_format ?? "float";
  if (enc !== "float" && enc !== "base64") throw fail(`encoding_format: expected "float" or "base64", got ${JSON.stringify(enc)}`);
  const input = body.input;
  if (typeof input !== "string" && !(Array.isArray(input) && input.every((s) => typeof s === "string"))) {
    throw fail("'input' must be a string or an array of strings (token arrays are not supported)");
  }
  return { params: { input }, encoding: enc };
}

// ------------------------------------------------------------------ answers

function finishReason(result: JsonObject): string {
  return result.finishReason === "length" ? "length" : "stop";
}

function usage(result: JsonObject): JsonObject {
  const u = (result.usage ?? {}) as JsonObject;
  const p = typeof u.promptTokens === "number" ? u.promptTokens : 0;
  const c = typeof u.completionTokens === "number" ? u.completionTokens : 0;
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
}

/** The `sealbox` field: where the answer's records are, and what exactly answered. */
export function sealboxField(result: JsonObject): JsonObject {
  const model = (result.model ?? {}) as JsonObject;
  const out: JsonObject = { audit_seq: (result.auditSeq ?? []) as JsonValue, model_sha256: (model.sha256 ?? null) as JsonValue };
  if (typeof result.finishReason === "string") out.finish_reason = result.finishReason;
  return out;
}

function modelName(result: JsonObject, fallback: string): string {
  const m = result.model as JsonObject | undefined;
  return typeof m?.name === "string" ? m.name : fallback;
}

export function chatCompletionResponse(result: JsonObject, id: string, created: number): JsonObject {
  return {
    id,
    object: "chat.completion",
    created,
    model: modelName(result, "sealbox"),
    choices: [{ index: 0, message: { role: "assistant", content: typeof result.text === "string" ? result.text : "" }, finish_reason: finishReason(result) }],
    usage: usage(result),
    sealbox: sealboxField(result),
  };
}

export function chatCompletionChunk(id: string, created: number, model: string, delta: JsonObject, finish: string | null): JsonObject {
  return { id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }] };
}

/** The last chunk: empty delta, the finish reason, usage if asked, and the audit sequence numbers. */
export function chatCompletionFinalChunk(result: JsonObject, id: string, created: number, includeUsage: boolean): JsonObject {
  const chunk = chatCompletionChunk(id, created, modelName(result, "sealbox"), {}, finishReason(result));
  if (includeUsage) chunk.usage = usage(result);
  chunk.sealbox = sealboxField(result);
  return chunk;
}

export function completionResponse(result: JsonObject, id: string, created: number): JsonObject {
  return {
    id,
    object: "text_completion",
    created,
    model: modelName(result, "sealbox"),
    choices: [{ index: 0, text: typeof result.text === "string" ? result.text : "", logprobs: null, finish_reason: finishReason(result) }],
    usage: usage(result),
    sealbox: sealboxField(result),
  };
}

export function completionChunk(id: string, created: number, model: string, text: string, finish: string | null): JsonObject {
  return { id, object: "text_completion", created, model, choices: [{ index: 0, text, logprobs: null, finish_reason: finish }] };
}

export function completionFinalChunk(result: JsonObject, id: string, created: number, includeUsage: boolean): JsonObject {
  const chunk = completionChunk(id, created, modelName(result, "sealbox"), "", finishReason(result));
  if (includeUsage) chunk.usage = usage(result);
  chunk.sealbox = sealboxField(result);
  return chunk;
}

/** Little-endian float32 bytes in base64, as OpenAI's encoding_format "base64". */
export function embeddingBase64(vector: readonly number[]): string {
  const f = new Float32Array(vector);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString("base64");
}

export function embeddingResponse(result: JsonObject, encoding: "float" | "base64"): JsonObject {
  const vectors = (result.embeddings ?? []) as number[][];
  const u = (result.usage ?? {}) as JsonObject;
  const p = typeof u.promptTokens === "number" ? u.promptTokens : 0;
  return {
    object: "list",
    data: vectors.map((v, index) => ({ object: "embedding", index, embedding: encoding === "base64" ? embeddingBase64(v) : v })),
    model: modelName(result, "sealbox"),
    usage: { prompt_tokens: p, total_tokens: p },
    sealbox: sealboxField(result),
  };
}

export function modelsResponse(result: JsonObject, created: number): JsonObject {
  const models = (result.models ?? []) as JsonObject[];
  return {
    object: "list",
    data: models.map((m) => ({
      id: typeof m.name === "string" ? m.name : String(m.sha256),
      object: "model",
      created,
      owned_by: "sealbox",
      sealbox: { sha256: m.sha256 ?? null, loaded: m.loaded ?? false, demo: m.demo ?? false },
    })),
    sealbox: { audit_seq: (result.auditSeq ?? []) as JsonValue },
  };
}
