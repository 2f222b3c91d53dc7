// HTTP/1.1 over unix sockets: one socket per role, the socket a connection
// came in on decides its role, file mode and group decide who may connect.
// One node:http server parses every connection; per-role net servers accept
// them, so each socket has its own bounded number of connections (more get a
// 503 at once) and an integrator's flood cannot starve the operator's socket.
//
// Hostile input costs bounded memory and never reaches the method table
// malformed: heads over maxHeaderBytes (431), bodies over maxBodyBytes (413),
// slow heads and bodies (408), bytes that are not UTF-8 or JSON (400),
// unknown paths (404), wrong methods (405) — each a JSON error with the
// registry's code.

import { randomBytes } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type net from "node:net";
import { SealboxError, toSealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import type { MethodTable } from "../rpc/methods.js";
import type { Role } from "../rpc/types.js";
import type { BoxMetrics } from "./box-metrics.js";
import { parseJsonBody, readBody } from "./http-body.js";
import { rawErrorResponse } from "./http-errors.js";
import { DEFAULT_HTTP_LIMITS, sendError, type Exchange, type HttpLimits, type Readiness, type RouteHost } from "./http-exchange.js";
import { closeListener, listenUnix, type Listener, type SocketSpec } from "./http-listeners.js";
import { matchRoute } from "./http-routes.js";
import type { LoadedModel } from "./openai-compat.js";
import { peerCred, peerCredUnavailable, peerLabel } from "./peer-cred.js";

export type { SocketSpec } from "./http-listeners.js";

export interface HttpSocketOptions {
  table: MethodTable;
  sockets: readonly SocketSpec[];
  log: Logger;
  metrics?: BoxMetrics;
  limits?: Partial<HttpLimits>;
  /** Defaults to ready. */
  readiness?: () => Readiness;
  /** The model answering now, for OpenAI's `model` field. */
  loadedModel?: () => LoadedModel | undefined;
}

export interface HttpSocketServer {
  readonly sockets: readonly SocketSpec[];
  /** Open connections per role. */
  connections(): Record<string, number>;
  /** Stops accepting, cancels running requests, closes every connection, removes the socket files. Idempotent. */
  close(): Promise<void>;
}

interface ConnInfo {
  role: Role;
  peer: string;
}

export async function startHttpSocket(options: HttpSocketOptions): Promise<HttpSocketServer> {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const log = options.log;
  const conns = new WeakMap<net.Socket, ConnInfo>();
  const open: Record<string, number> = {};
  const sockets = new Set<net.Socket>();
  const running = new Set<AbortController>();
  const host: RouteHost = {
    table: options.table,
    limits,
    log,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    loadedModel: options.loadedModel ?? (() => undefined),
    readiness: options.readiness ?? (() => ({ ready: true, reasons: [] })),
  };
  const peerCredMissing = peerCredUnavailable();
  if (peerCredMissing) log.warn("peer credentials unavailable; audit records will show peer '-'", { error: peerCredMissing });

  const server = http.createServer({
    headersTimeout: limits.headersTimeoutMs,
    // node's own backstop for the whole request; our body timer answers first with a JSON 408.
    requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs + 5_000,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    maxHeaderSize: limits.maxHeaderBytes,
  });
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    void handle(req, res);
  });
  server.on("clientError", (err: Error & { code?: string }, socket: net.Socket) => {
    // node's parser refused the request before any route saw it.
    const code =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "REQUEST_TIMEOUT"
        : err.code === "HPE_HEADER_OVERFLOW"
          ? "HEADERS_TOO_LARGE"
          : err.code === "ECONNRESET" || err.code === "HPE_INVALID_EOF_STATE" || err.code === "EPIPE"
            ? undefined
            : "BAD_REQUEST";
    const info = conns.get(socket);
    if (code) {
      options.metrics?.httpBadRequests.inc({ code });
      log.warn("HTTP request refused by the parser", { code, error: err.code ?? err.message, role: info?.role, peer: info?.peer });
    }
    const pending = (socket as unknown as { _httpMessage?: ServerResponse })._httpMessage;
    if (code && socket.writable && !pending?.headersSent) {
      const message =
        code === "REQUEST_TIMEOUT"
          ? `the request's headers did not arrive within ${limits.headersTimeoutMs} ms`
          : code === "HEADERS_TOO_LARGE"
            ? `the request's headers are larger than ${limits.maxHeaderBytes} bytes`
            : `malformed HTTP request (${err.code ?? "parse error"})`;
      socket.end(rawErrorResponse(code, message));
      setTimeout(() => socket.destroy(), 1000).unref();
    } else {
      socket.destroy();
    }
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const info = conns.get(req.socket) ?? { role: "operator" as Role, peer: "-" };
    const started = performance.now();
    const ac = new AbortController();
    running.add(ac);
    // Closing the connection cancels the request (the method sees ctx.signal abort).
    res.once("close", () => {
      running.delete(ac);
      if (!res.writableFinished) ac.abort();
    });
    let routeLabel = "unknown";
    const x: Exchange = {
      req,
      res,
      role: info.role,
      peer: info.peer,
      requestId: randomBytes(8).toString("hex"),
      query: new URLSearchParams(),
      pathParams: [],
      body: undefined,
      signal: ac.signal,
      abort: () => ac.abort(),
    };
    let rpcName: string | undefined;
    try {
      const rawUrl = req.url ?? "/";
      const q = rawUrl.indexOf("?");
      const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q);
      x.query = new URLSearchParams(q < 0 ? "" : rawUrl.slice(q + 1));
      const m = matchRoute(req.method ?? "GET", pathname);
      if (!m.route) {
        // The body of a request we will not serve is not read: close after answering.
        res.shouldKeepAlive = false;
        if (m.allowed.length > 0) {
          routeLabel = pathname;
          throw new SealboxError("METHOD_NOT_ALLOWED", `${pathname} takes ${[...new Set(m.allowed)].join(", ")}, not ${req.method}`, {
            details: { allowed: [...new Set(m.allowed)] },
          });
        }
        throw new SealboxError("NOT_FOUND", `no such path: ${pathname.slice(0, 200)} (see docs/http-api.md)`, { details: { path: pathname.slice(0, 200) } });
      }
      routeLabel = m.route.path;
      rpcName = m.route.rpc ?? (m.route.path === "/sealbox/v1/rpc/:method" ? m.params[0] : undefined);
      x.pathParams = m.params.map((p) => {
        try {
          return decodeURIComponent(p);
        } catch (e) {
          throw new SealboxError("BAD_REQUEST", "the path is not valid percent-encoded UTF-8", { cause: e });
        }
      });
      if (m.route.body) {
        try {
          x.body = parseJsonBody(await readBody(req, { maxBytes: limits.maxBodyBytes, bodyTimeoutMs: limits.bodyTimeoutMs }));
        } catch (e) {
          const err = toSealboxError(e, "BAD_REQUEST");
          options.metrics?.httpBadRequests.inc({ code: err.code });
          // The attempt is recorded like any failed call (the table refuses it as malformed).
          if (rpcName !== undefined && err.code !== "CANCELLED") {
            await options.table.recordRejected(rpcName, { role: x.role, transport: "http-socket", peer: x.peer }, err).catch((ae: unknown) => {
              log.error("a rejected request could not be recorded", { code: err.code, error: (ae as Error).message });
            });
          }
          throw err;
        }
      } else if (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0") {
        res.shouldKeepAlive = false;
      }
      await m.route.handle(x, host);
    } catch (e) {
      const err = toSealboxError(e);
      if (err.code === "INTERNAL") log.error("request failed", { route: routeLabel, error: err.message, stack: (e as Error).stack });
      if (!res.headersSent && !res.destroyed) sendError(x, err);
      else if (!res.writableEnded) res.destroy();
    } finally {
      options.metrics?.httpRequests.inc({ role: x.role, route: routeLabel, status: String(res.statusCode) });
      log.debug("http", { role: x.role, method: req.method, route: routeLabel, status: res.statusCode, ms: Math.round(performance.now() - started), requestId: x.requestId });
    }
  }

  const onConnection = (role: Role) => (socket: net.Socket) => {
    if ((open[role] ?? 0) >= limits.maxConnectionsPerSocket) {
      options.metrics?.httpRejectedConnections.inc({ role });
      log.warn("connection refused: too many connections", { role, limit: limits.maxConnectionsPerSocket });
      socket.on("error", () => undefined);
      // Read and drop what the client sends, so our answer is not lost to a reset.
      socket.resume();
      socket.end(rawErrorResponse("TOO_MANY_CONNECTIONS", `more than ${limits.maxConnectionsPerSocket} connections are open on the ${role} socket; retry later`));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    open[role] = (open[role] ?? 0) + 1;
    sockets.add(socket);
    socket.once("close", () => {
      open[role] = (open[role] ?? 1) - 1;
      sockets.delete(socket);
    });
    conns.set(socket, { role, peer: peerLabel(peerCred(socket)) });
    server.emit("connection", socket);
  };

  const listeners: Listener[] = [];
  try {
    for (const spec of options.sockets) {
      listeners.push(await listenUnix(spec, onConnection(spec.role)));
      open[spec.role] = 0;
      log.info("listening", { role: spec.role, socket: spec.path, mode: (spec.mode ?? 0o660).toString(8), group: spec.group ?? "-" });
    }
  } catch (e) {
    await Promise.all(listeners.map((l) => closeListener(l)));
    throw e;
  }
  // The http server never listens itself (the role sockets feed it); this
  // starts its header and request timeout checks.
  server.emit("listening");

  let closing: Promise<void> | undefined;
  return {
    sockets: options.sockets,
    connections: () => ({ ...open }),
    close() {
      closing ??= (async () => {
        for (const ac of running) ac.abort();
        const stopped = Promise.all(listeners.map((l) => closeListener(l)));
        server.close(() => undefined);
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
        await stopped;
      })();
      return closing;
    },
  };
}
