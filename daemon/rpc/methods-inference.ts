// ask, chat, complete, embed: the methods that reach the language model. The
// inference service writes their provenance records itself (request before,
// outcome after, with the caller as actor), so the table audits them as "self".

import { SealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import { defineMethod, type MethodCall, type MethodSpec } from "./method-spec.js";
import { badParam, onlyKeys, optInt, optNumber, optObject, optString, optStringArray, reqString } from "./params.js";
import type {
  ChatMessage,
  EmbeddingResult,
  GenerationResult,
  InferenceCallOptions,
  InferencePort,
  JsonObject,
  Priority,
  SamplingOptions,
} from "./ports.js";
import type { Role } from "./types.js";
import { loadFailureError } from "./inference-slot.js";

const MAX_TEXT_CHARS = 1 << 20;
const MAX_MESSAGES = 256;
const MAX_EMBED_INPUTS = 256;
const SAMPLING_KEYS = ["maxTokens", "temperature", "topP", "topK", "seed", "stop"] as const;

/** The operator at the console is served ahead of machines on the serial line or socket. */
export function priorityFor(role: Role): Priority {
  if (role === "operator") return "high";
  if (role === "integrator") return "low";
  return "normal";
}

export function parseSampling(p: JsonObject): SamplingOptions {
  const s: SamplingOptions = {};
  const maxTokens = optInt(p, "maxTokens", 1, 1 << 16);
  if (maxTokens !== undefined) s.maxTokens = maxTokens;
  const temperature = optNumber(p, "temperature", 0, 2);
  if (temperature !== undefined) s.temperature = temperature;
  const topP = optNumber(p, "topP", 0, 1);
  if (topP !== undefined) s.topP = topP;
  const topK = optInt(p, "topK", 0, 1000);
  if (topK !== undefined) s.topK = topK;
  const seed = optInt(p, "seed", 0, 0xffffffff);
  if (seed !== undefined) s.seed = seed;
  const stop = optStringArray(p, "stop", 4, 256);
  if (stop !== undefined) s.stop = stop;
  return s;
}

function parseMessages(value: JsonValue | undefined): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_MESSAGES) {
    throw badParam("messages", `an array of 1 to ${MAX_MESSAGES} messages`, value);
  }
  return value.map((m, i) => {
    if (m === null || typeof m !== "object" || Array.isArray(m)) throw badParam(`messages[${i}]`, "an object {role, content}", m);
    const role = m.role;
    if (role !== "system" && role !== "user" && role !== "assistant") {
      throw badParam(`messages[${i}].role`, '"system", "user" or "assistant"', role);
    }
    const content = m.content;
    if (typeof content !== "string" || content.length > MAX_TEXT_CHARS) throw badParam(`messages[${i}].content`, "a string", content);
    return { role, content };
  });
}

function inference(call: MethodCall): InferencePort {
  const port = call.services.inference;
  if (!port) {
    throw new SealboxError("MODEL_UNAVAILABLE", "no model is configured on this box (start sealboxd with --model or --demo-model)");
  }
  const st = port.status();
  if (st.state === "loading") throw new SealboxError("MODEL_UNAVAILABLE", "the model is still loading; retry shortly", { details: { retryAfterMs: 1000 } });
  if (st.state === "failed") throw loadFailureError(st);
  return port;
}

function callOptions(call: MethodCall, streams: boolean): InferenceCallOptions {
  const options: InferenceCallOptions = {
    signal: call.ctx.signal,
    actor: call.actor,
    priority: priorityFor(call.ctx.role),
    onAudit: (seq) => call.emit({ auditSeq: seq }),
  };
  if (streams) options.onToken = (text) => call.emit({ text });
  return options;
}

export function generationResult(r: GenerationResult): JsonObject {
  const out: JsonObject = {
    text: r.text,
    finishReason: r.finishReason,
    usage: { promptTokens: r.promptTokens, completionTokens: r.completionTokens },
    model: { name: r.model.name, sha256: r.model.sha256 },
    auditSeq: r.auditSeq,
  };
  if (r.timings) {
    const t: JsonObject = {};
    for (const [k, v] of Object.entries(r.timings)) if (typeof v === "number") t[k] = v;
    out.timings = t;
  }
  return out;
}

function embeddingResult(r: EmbeddingResult): JsonObject {
  return {
    embeddings: r.vectors,
    usage: { promptTokens: r.promptTokens },
    model: { name: r.model.name, sha256: r.model.sha256 },
    auditSeq: r.auditSeq,
  };
}

interface AskParams extends SamplingOptions {
  prompt: string;
  system?: string;
}

const ask: MethodSpec<AskParams> = {
  name: "ask",
  summary: "ask one question; streams the answer's text",
  roles: ["operator", "integrator"],
  audit: "self",
  streams: true,
  category: "inference",
  parse(p) {
    onlyKeys(p, ["prompt", "system", ...SAMPLING_KEYS]);
    const out: AskParams = { prompt: reqString(p, "prompt", MAX_TEXT_CHARS), ...parseSampling(p) };
    const system = optString(p, "system", MAX_TEXT_CHARS);
    if (system !== undefined) out.system = system;
    return out;
  },
  async run(p, call) {
    const { prompt, system, ...sampling } = p;
    const messages: ChatMessage[] = system ? [{ role: "system", content: system }] : [];
    messages.push({ role: "user", content: prompt });
    return generationResult(await inference(call).chat({ messages, ...sampling }, callOptions(call, true)));
  },
};

interface ChatParams extends SamplingOptions {
  messages: ChatMessage[];
  jsonSchema?: JsonValue;
}

const chat: MethodSpec<ChatParams> = {
  name: "chat",
  summary: "answer a conversation (messages); streams; optional JSON schema for the answer",
  roles: ["operator", "integrator"],
  audit: "self",
  streams: true,
  category: "inference",
  parse(p) {
    onlyKeys(p, ["messages", "jsonSchema", ...SAMPLING_KEYS]);
    const out: ChatParams = { messages: parseMessages(p.messages), ...parseSampling(p) };
    const schema = optObject(p, "jsonSchema");
    if (schema !== undefined) out.jsonSchema = schema;
    return out;
  },
  async run(p, call) {
    return generationResult(await inference(call).chat(p, callOptions(call, true)));
  },
};

interface CompleteParams extends SamplingOptions {
  prompt: string;
}

const complete: MethodSpec<CompleteParams> = {
  name: "complete",
  summary: "continue a raw text prompt; streams",
  roles: ["operator", "integrator"],
  audit: "self",
  streams: true,
  category: "inference",
  parse(p) {
    onlyKeys(p, ["prompt", ...SAMPLING_KEYS]);
    return { prompt: reqString(p, "prompt", MAX_TEXT_CHARS), ...parseSampling(p) };
  },
  async run(p, call) {
    return generationResult(await inference(call).complete(p, callOptions(call, true)));
  },
};

const embed: MethodSpec<{ input: string[] }> = {
  name: "embed",
  summary: "embedding vectors of one or more texts",
  roles: ["operator", "integrator"],
  audit: "self",
  streams: false,
  category: "inference",
  parse(p) {
    onlyKeys(p, ["input"]);
    if (typeof p.input === "string") return { input: [p.input] };
    const input = optStringArray(p, "input", MAX_EMBED_INPUTS, MAX_TEXT_CHARS);
    if (input === undefined || input.length === 0) throw badParam("input", `a string or 1 to ${MAX_EMBED_INPUTS} strings`, p.input);
    return { input };
  },
  async run(p, call) {
    const { onAudit, ...options } = callOptions(call, false);
    return embeddingResult(await inference(call).embed(p, { ...options, onAudit }));
  },
};

export const INFERENCE_METHODS: readonly MethodSpec<unknown>[] = [
  defineMethod(ask),
  defineMethod(chat),
  defineMethod(complete),
  defineMethod(embed),
];
