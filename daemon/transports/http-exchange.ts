// One HTTP request/response as the routes see it, and the small helpers every
// route uses to answer: JSON with the audit header, errors as JSON, method
// table calls with the connection's role and peer, streamed answers as SSE.

import type { IncomingMessage, ServerResponse } from "node:http";
import { SealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import type { Logger } from "../log.js";
import type { MethodTable } from "../rpc/methods.js";
import type { JsonObject } from "../rpc/ports.js";
import type { Role } from "../rpc/types.js";
import type { BoxMetrics } from "./box-metrics.js";
import { errorBody, httpStatusOf } from "./http-errors.js";
import type { LoadedModel } from "./openai-compat.js";
import { SseWriter } from "./sse.js";

export const TRANSPORT = "http-socket";
export const AUDIT_HEADER = "x-sealbox-audit-seq";

export interface HttpLimits {
  /** Largest request body. Defaults to 1 MiB. */
  maxBodyBytes: number;
  /** Time for the body after the headers. Defaults to 30 000 ms. */
  bodyTimeoutMs: number;
  /** Time for the request line and headers from the connection (or the previous response). Defaults to 10 000 ms. */
  headersTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. Defaults to 5 000 ms. */
  keepAliveTimeoutMs: number;
  /** Open connections per role socket; more get 503 at once. Defaults to 32. */
  maxConnectionsPerSocket: number;
  /** Largest request head (request line and headers). Defaults to 16 KiB. */
  maxHeaderBytes: number;
  /** Bytes a streaming reader may leave unread before the stream is cancelled. Defaults to 4 MiB. */
  maxStreamBufferBytes: number;
  /** Quiet streams send a comment this often. Defaults to 15 000 ms. */
  streamHeartbeatMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxBodyBytes: 1 << 20,
  bodyTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnectionsPerSocket: 32,
  maxHeaderBytes: 16 << 10,
  maxStreamBufferBytes: 4 << 20,
  streamHeartbeatMs: 15_000,
};

export interface Readiness {
  ready: boolean;
  /** Why not, for a person: "model loading", "ledger closed". */
  reasons: string[];
  [key: string]: JsonValue;
}

/** What the routes need from the server around them. */
export interface RouteHost {
  table: MethodTable;
  limits: HttpLimits;
  log: Logger;
  metrics?: BoxMetrics;
  loadedModel(): LoadedModel | undefined;
  readiness(): Readiness;
}

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  role: Role;
  peer: string;
  requestId: string;
  query: URLSearchParams;
  /** Values of the route's `:name` segments, in order. */
  pathParams: string[];
  body: JsonValue | undefined;
  /** Aborted when the client goes away (or its stream stalls). */
  signal: AbortSignal;
  abort(): void;
}

export function auditSeqOf(result: JsonValue | undefined): number[] {
  if (typeof result !== "object" || result === null || Array.isArray(result)) return [];
  const seq = result.auditSeq;
  return Array.isArray(seq) ? seq.filter((n): n is number => typeof n === "number") : [];
}

export function sendJson(x: Exchange, status: number, body: JsonValue, headers: Record<string, string> = {}): void {
  if (x.res.headersSent || x.res.destroyed) return;
  const text = JSON.stringify(body);
  x.res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    "x-request-id": x.requestId,
    ...headers,
  });
  x.res.end(text);
}

export function sendError(x: Exchange, e: unknown): void {
  const body = errorBody(e);
  const headers: Record<string, string> = {};
  const retryAfterMs = (body.error.details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  if (body.error.retryable) headers["retry-after"] = String(typeof retryAfterMs === "number" ? Math.max(1, Math.ceil(retryAfterMs / 1000)) : 1);
  // A body left unread (too large, too slow) means the connection cannot be reused.
  if (!x.req.complete) headers.connection = "close";
  sendJson(x, httpStatusOf(e), body as unknown as JsonValue, headers);
}

/** Sends the method table's result as JSON, its audit sequence numbers in a header too. */
export function sendResult(x: Exchange, result: JsonValue, body: JsonValue = result): void {
  const seq = auditSeqOf(result);
  sendJson(x, 200, body, seq.length ? { [AUDIT_HEADER]: seq.join(",") } : {});
}

export function call(x: Exchange, host: RouteHost, method: string, params: JsonValue, onChunk?: (chunk: JsonValue) => void): Promise<JsonValue> {
  return host.table.dispatch(method, params, {
    role: x.role,
    transport: TRANSPORT,
    peer: x.peer,
    signal: x.signal,
    ...(onChunk ? { onChunk } : {}),
  });
}

/**
 * Runs a streaming method and sends its chunks as SSE. The 200 and its
 * headers go out with the first chunk, so an error before any chunk is still
 * a plain HTTP error; the audit sequence number of the request record, when
 * the first chunk carries it, goes into the header.
 */
export async function streamCall(
  x: Exchange,
  host: RouteHost,
  method: string,
  params: JsonValue,
  write: {
    chunk(sse: SseWriter, chunk: JsonObject): void;
    result(sse: SseWriter, result: JsonObject): void;
    error(sse: SseWriter, e: unknown): void;
  },
): Promise<void> {
  const sse = new SseWriter(x.res, {
    maxBufferedBytes: host.limits.maxStreamBufferBytes,
    heartbeatMs: host.limits.streamHeartbeatMs,
    onStall: () => {
      host.log.warn("stream reader stalled; cancelling", { requestId: x.requestId, method });
      x.abort();
    },
  });
  const open = (chunk?: JsonObject): void => {
    if (sse.isOpen) return;
    const headers: Record<string, string> = { "x-request-id": x.requestId };
    if (typeof chunk?.auditSeq === "number") headers[AUDIT_HEADER] = String(chunk.auditSeq);
    sse.open(headers);
  };
  try {
    const result = await call(x, host, method, params, (chunk) => {
      if (typeof chunk !== "object" || chunk === null || Array.isArray(chunk)) return;
      open(chunk);
      write.chunk(sse, chunk);
    });
    if (!sse.isOpen && !x.res.headersSent) {
      const seq = auditSeqOf(result);
      sse.open({ "x-request-id": x.requestId, ...(seq.length ? { [AUDIT_HEADER]: seq.join(",") } : {}) });
    }
    write.result(sse, result as JsonObject);
  } catch (e) {
    if (!sse.isOpen) {
      sendError(x, e);
      return;
    }
    write.error(sse, e);
  } finally {
    sse.end();
  }
}

export function errorEventData(e: unknown): string {
  return JSON.stringify(errorBody(e));
}

/** Query parameters as method params: integers and booleans checked and named. */
export function queryInt(x: Exchange, name: string): number | undefined {
  const v = x.query.get(name);
  if (v === null || v === "") return undefined;
  if (!/^[0-9]{1,15}$/.test(v)) throw new SealboxError("BAD_REQUEST", `query ${name}: expected a non-negative integer, got ${JSON.stringify(v.slice(0, 40))}`);
  return Number(v);
}

export function queryBool(x: Exchange, name: string): boolean | undefined {
  const v = x.query.get(name);
  if (v === null) return undefined;
  if (v === "" || v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  throw new SealboxError("BAD_REQUEST", `query ${name}: expected 1/0 or true/false, got ${JSON.stringify(v.slice(0, 40))}`);
}

/** Whether the client asked for a stream (Accept: text/event-stream or ?stream=1). */
export function wantsStream(x: Exchange): boolean {
  return (x.req.headers.accept ?? "").includes("text/event-stream") || queryBool(x, "stream") === true;
}
