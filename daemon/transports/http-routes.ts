// The HTTP API's paths (docs/http-api.md): the OpenAI-compatible subset under
// /v1, sealbox's own endpoints under /sealbox/v1, the generic method call
// /sealbox/v1/rpc/<method>, and the probes /healthz, /readyz, /metrics.
// Every path except the probes goes through the method table, so role
// checks and audit records are the same as on the serial line.

import { randomBytes } from "node:crypto";
import { SealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import type { JsonObject } from "../rpc/ports.js";
import {
  call,
  errorEventData,
  queryBool,
  queryInt,
  sendError,
  sendJson,
  sendResult,
  streamCall,
  wantsStream,
  type Exchange,
  type RouteHost,
} from "./http-exchange.js";
import {
  chatCompletionChunk,
  chatCompletionFinalChunk,
  chatCompletionResponse,
  completionChunk,
  completionFinalChunk,
  completionResponse,
  embeddingResponse,
  modelsResponse,
  parseChatCompletionRequest,
  parseCompletionRequest,
  parseEmbeddingRequest,
} from "./openai-compat.js";

export interface Route {
  method: "GET" | "POST";
  /** Segments; ":name" matches one segment. */
  path: string;
  /** The method table method it calls, for recording requests refused before dispatch. */
  rpc?: string;
  /** Whether it reads a JSON body. */
  body: boolean;
  handle(x: Exchange, host: RouteHost): Promise<void>;
}

function nowS(): number {
  return Math.floor(Date.now() / 1000);
}

function completionId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString("hex")}`;
}

function bodyObject(body: JsonValue | undefined): JsonObject {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) throw new SealboxError("BAD_REQUEST", "the request body must be a JSON object");
  return body;
}

/** A sealbox-native call: JSON in, JSON out, or SSE events "chunk", "result", "error" when streamed. */
async function nativeCall(x: Exchange, host: RouteHost, method: string, params: JsonValue): Promise<void> {
  if (wantsStream(x) && host.table.describe().some((m) => m.name === method && m.streams)) {
    await streamCall(x, host, method, params, {
      chunk: (sse, c) => sse.send(JSON.stringify(c), "chunk"),
      result: (sse, r) => sse.send(JSON.stringify(r), "result"),
      error: (sse, e) => sse.send(errorEventData(e), "error"),
    });
    return;
  }
  sendResult(x, await call(x, host, method, params));
}

function textOf(chunk: JsonObject): string | undefined {
  return typeof chunk.text === "string" ? chunk.text : undefined;
}

const openAiRoutes: Route[] = [
  {
    method: "POST",
    path: "/v1/chat/completions",
    rpc: "chat",
    body: true,
    async handle(x, host) {
      const parsed = parseChatCompletionRequest(x.body, host.loadedModel());
      const id = completionId("chatcmpl");
      const created = nowS();
      if (!parsed.stream) {
        const result = (await call(x, host, "chat", parsed.params)) as JsonObject;
        sendResult(x, result, chatCompletionResponse(result, id, created));
        return;
      }
      const model = host.loadedModel()?.name ?? "sealbox";
      let rolesent = false;
      await streamCall(x, host, "chat", parsed.params, {
        chunk(sse, c) {
          const text = textOf(c);
          if (text === undefined) return;
          if (!rolesent) {
            rolesent = true;
            sse.send(JSON.stringify(chatCompletionChunk(id, created, model, { role: "assistant", content: "" }, null)));
          }
          sse.send(JSON.stringify(chatCompletionChunk(id, created, model, { content: text }, null)));
        },
        result(sse, r) {
          sse.send(JSON.stringify(chatCompletionFinalChunk(r, id, created, parsed.includeUsage)));
          sse.send("[DONE]");
        },
        error: (sse, e) => sse.send(errorEventData(e)),
      });
    },
  },
  {
    method: "POST",
    path: "/v1/completions",
    rpc: "complete",
    body: true,
    async handle(x, host) {
      const parsed = parseCompletionRequest(x.body, host.loadedModel());
      const id = completionId("cmpl");
      const created = nowS();
      if (!parsed.stream) {
        const result = (await call(x, host, "complete", parsed.params)) as JsonObject;
        sendResult(x, result, completionResponse(result, id, created));
        return;
      }
      const model = host.loadedModel()?.name ?? "sealbox";
      await streamCall(x, host, "complete", parsed.params, {
        chunk(sse, c) {
          const text = textOf(c);
          if (text !== undefined) sse.send(JSON.stringify(completionChunk(id, created, model, text, null)));
        },
        result(sse, r) {
          sse.send(JSON.stringify(completionFinalChunk(r, id, created, parsed.includeUsage)));
          sse.send("[DONE]");
        },
        error: (sse, e) => sse.send(errorEventData(e)),
      });
    },
  },
  {
    method: "POST",
    path: "/v1/embeddings",
    rpc: "embed",
    body: true,
    async handle(x, host) {
      const parsed = parseEmbeddingRequest(x.body, host.loadedModel());
      const result = (await call(x, host, "embed", parsed.params)) as JsonObject;
      sendResult(x, result, embeddingResponse(result, parsed.encoding));
    },
  },
  {
    method: "GET",
    path: "/v1/models",
    rpc: "model.list",
    body: false,
    async handle(x, host) {
      const result = (await call(x, host, "model.list", {})) as JsonObject;
      sendResult(x, result, modelsResponse(result, nowS()));
    },
  },
];

function get(path: string, method: string, params: (x: Exchange) => JsonObject = () => ({})): Route {
  return { method: "GET", path, rpc: method, body: false, handle: (x, host) => nativeCall(x, host, method, params(x)) };
}

function post(path: string, method: string): Route {
  return { method: "POST", path, rpc: method, body: true, handle: (x, host) => nativeCall(x, host, method, bodyObject(x.body)) };
}

function defined(o: Record<string, JsonValue | undefined>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

function seqParam(x: Exchange): number {
  const s = x.pathParams[0] ?? "";
  if (!/^[0-9]{1,15}$/.test(s)) throw new SealboxError("BAD_REQUEST", `sequence number: expected a non-negative integer, got ${JSON.stringify(s.slice(0, 40))}`);
  return Number(s);
}

const sealboxRoutes: Route[] = [
  get("/sealbox/v1/status", "status"),
  get("/sealbox/v1/audit/head", "audit.head"),
  get("/sealbox/v1/audit/records", "audit.records", (x) => defined({ from: queryInt(x, "from"), count: queryInt(x, "count") })),
  get("/sealbox/v1/audit/records/:seq", "audit.record", (x) => ({ seq: seqParam(x) })),
  get("/sealbox/v1/audit/proof/:seq", "audit.proof", (x) => defined({ seq: seqParam(x), treeSize: queryInt(x, "tree_size") })),
  get("/sealbox/v1/audit/consistency", "audit.consistency", (x) => defined({ from: queryInt(x, "from"), to: queryInt(x, "to") })),
  get("/sealbox/v1/audit/tail", "audit.tail", (x) => defined({ from: queryInt(x, "from"), count: queryInt(x, "count"), follow: queryBool(x, "follow") })),
  post("/sealbox/v1/audit/export", "audit.export"),
  post("/sealbox/v1/audit/annotate", "audit.annotate"),
  get("/sealbox/v1/models", "model.list"),
  post("/sealbox/v1/models/import", "model.import"),
  get("/sealbox/v1/diode", "diode.status"),
  post("/sealbox/v1/ask", "ask"),
  get("/sealbox/v1/methods", "rpc.describe"),
  {
    // The whole method table, as on the serial line: body = params.
    method: "POST",
    path: "/sealbox/v1/rpc/:method",
    body: true,
    handle: (x, host) => nativeCall(x, host, x.pathParams[0] ?? "", x.body ?? null),
  },
];

const probeRoutes: Route[] = [
  {
    method: "GET",
    path: "/healthz",
    body: false,
    async handle(x) {
      // Liveness: the event loop answers. Not audited (no data, no action).
      sendJson(x, 200, { status: "ok" });
    },
  },
  {
    method: "GET",
    path: "/readyz",
    body: false,
    async handle(x, host) {
      const r = host.readiness();
      if (r.ready) {
        sendJson(x, 200, r);
        return;
      }
      sendJson(x, 503, { ...r, error: { code: "NOT_READY", message: `not ready: ${r.reasons.join("; ")}`, type: "service_unavailable", retryable: true } }, { "retry-after": "1" });
    },
  },
  {
    method: "GET",
    path: "/metrics",
    body: false,
    async handle(x, host) {
      if (!host.metrics) throw new SealboxError("UNSUPPORTED", "metrics are not enabled");
      const text = host.metrics.registry.render();
      x.res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": String(Buffer.byteLength(text)), "x-request-id": x.requestId });
      x.res.end(text);
    },
  },
];

export const ROUTES: readonly Route[] = [...openAiRoutes, ...sealboxRoutes, ...probeRoutes];

export type RouteMatch = { route: Route; params: string[] } | { route: undefined; allowed: string[] };

/** Finds the route for a method and path (already split from its query). Pure. */
export function matchRoute(method: string, pathname: string, routes: readonly Route[] = ROUTES): RouteMatch {
  const segs = pathname.split("/");
  const allowed: string[] = [];
  for (const route of routes) {
    const rsegs = route.path.split("/");
    if (rsegs.length !== segs.length) continue;
    const params: string[] = [];
    let ok = true;
    for (let i = 0; i < rsegs.length && ok; i++) {
      const r = rsegs[i]!;
      if (r.startsWith(":")) {
        if (segs[i] === "") ok = false;
        else params.push(segs[i]!);
      } else if (r !== segs[i]) ok = false;
    }
    if (!ok) continue;
    if (route.method === method || (method === "HEAD" && route.method === "GET")) return { route, params };
    allowed.push(route.method);
  }
  return { route: undefined, allowed };
}

export { sendError };
