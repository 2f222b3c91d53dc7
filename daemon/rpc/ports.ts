// The narrow views of the box's services that the method table calls. Each is
// what rpc needs and no more, so the real service (the inference engine, the
// ledger, the model store, the diode sender, the health monitor) drops in
// through a small adapter in daemon/rpc/adapters.ts, and tests pass plain
// objects. Every port is optional in the table: a missing one makes its
// methods answer MODEL_UNAVAILABLE or UNSUPPORTED instead of crashing.

import type { Actor, AuditRecord, JsonValue } from "../ledger/types.js";

export type JsonObject = { [key: string]: JsonValue };

// ---------------------------------------------------------------- inference

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface SamplingOptions {
  /** Upper bound on generated tokens. Defaults to the engine's limit. */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: string[];
}

/** Queue priority: the operator's console is served ahead of integrators. */
export type Priority = "high" | "normal" | "low";

export interface InferenceCallOptions {
  signal: AbortSignal;
  actor: Actor;
  priority: Priority;
  /** Each generated piece of text, in order, before the promise resolves. */
  onToken?: (text: string) => void;
  /** The sequence number of the request's write-ahead record, as soon as it is durable. */
  onAudit?: (seq: number) => void;
}

export type FinishReason = "stop" | "length" | "cancelled" | "deadline";

export interface GenerationResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Sequence numbers of the request's audit records (request, outcome). */
  auditSeq: number[];
  model: { name: string; sha256: string };
  timings?: { timeToFirstTokenMs?: number; totalMs?: number; tokensPerSecond?: number };
}

export interface EmbeddingResult {
  vectors: number[][];
  promptTokens: number;
  auditSeq: number[];
  model: { name: string; sha256: string };
}

export interface InferencePort {
  chat(req: { messages: ChatMessage[]; jsonSchema?: JsonValue } & SamplingOptions, options: InferenceCallOptions): Promise<GenerationResult>;
  complete(req: { prompt: string } & SamplingOptions, options: InferenceCallOptions): Promise<GenerationResult>;
  embed(req: { input: string[] }, options: Omit<InferenceCallOptions, "onToken">): Promise<EmbeddingResult>;
  /** Loaded model, queue depth and limits, for status and /metrics. */
  status(): InferenceStatus;
}

export interface InferenceStatus {
  state: "loading" | "ready" | "failed" | "closed";
  model?: { name: string; sha256: string; demo?: boolean };
  mode?: string;
  queueDepth: number;
  running: number;
  queueLimit?: number;
  /** Set for the demo model: its answers are random noise. */
  banner?: string;
  error?: string;
  /** The error code of a failed load (GPU_UNAVAILABLE, MODEL_UNAVAILABLE, …). */
  errorCode?: string;
  /** Set while a "cuda" box answers on the CPU (health.cpu_fallback): why. */
  fallback?: string;
  device?: string;
  sequences?: number;
  contextSize?: number;
  deterministic?: boolean;
  storeText?: boolean;
}

// ---------------------------------------------------------------- ledger

/** The ledger's read side (mirrors LedgerReader in daemon/ledger/types.ts). */
export interface LedgerReaderPort {
  size(): number;
  latestCheckpoint(): string | undefined;
  record(seq: number): AuditRecord | undefined;
  recordBytes(seq: number): Uint8Array | undefined;
  inclusionProof(seq: number, treeSize: number): Uint8Array[];
  consistencyProof(oldSize: number, newSize: number): Uint8Array[];
  onCheckpoint(listener: (size: number, note: string) => void): () => void;
}

export interface ExportPort {
  /** Writes an offline-verifiable bundle of records [from, to) into outDir. */
  exportBundle(req: { outDir: string; from?: number; to?: number }, actor: Actor): Promise<JsonObject>;
}

// ---------------------------------------------------------------- models, diode, health, key

export interface ModelInfo {
  sha256: string;
  name: string;
  sizeBytes: number;
  loaded: boolean;
  demo?: boolean;
  [key: string]: JsonValue | undefined;
}

export interface ModelPort {
  list(): Promise<ModelInfo[]>;
  import(req: { path: string; manifestPath: string }, actor: Actor): Promise<JsonObject>;
}

export interface DiodePort {
  status(): JsonObject;
}

export interface HealthPort {
  /** { state: "ok" | "degraded" | "critical", gpu: …, reasons: […] } */
  status(): JsonObject;
}

export interface KeyInfo {
  name: string;
  origin: "software" | "tpm";
  keyId: string;
  vkey?: string;
}

/** What the box knows about itself, for status. */
export interface BoxInfo {
  boxId: string;
  version: string;
  startedAt: string;
  key?: KeyInfo;
}
