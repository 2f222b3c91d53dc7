// An in-process HTTP socket server over the real method table, with the
// in-memory ledger and the fake inference port, on unix sockets in a temp
// dir: what the HTTP and console tests talk to when they do not need the
// whole daemon. Plus a tiny node:http client for unix sockets.

import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../../daemon/log.js";
import { createMethodTable, type MethodTable } from "../../daemon/rpc/methods.js";
import type { Services } from "../../daemon/rpc/method-spec.js";
import { ROLES, type Role } from "../../daemon/rpc/types.js";
import { addScrapeCollectors, createBoxMetrics, instrumentInference, timedAuditLog, type BoxMetrics } from "../../daemon/transports/box-metrics.js";
import type { HttpLimits, Readiness } from "../../daemon/transports/http-exchange.js";
import { startHttpSocket, type HttpSocketServer } from "../../daemon/transports/http-socket.js";
import { createFakeInference, type FakeInference } from "./fake-inference.js";
import { createMemoryLedger, type MemoryLedger } from "./memory-ledger.js";

export interface TestBox {
  dir: string;
  ledger: MemoryLedger;
  inference: FakeInference;
  table: MethodTable;
  metrics: BoxMetrics;
  server: HttpSocketServer;
  logLines: string[];
  socket(role: Role): string;
  readiness: Readiness;
  close(): Promise<void>;
}

export async function startTestBox(options: { limits?: Partial<HttpLimits>; services?: Partial<Services>; dir?: string } = {}): Promise<TestBox> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "sealbox-http-")));
  const ledger = createMemoryLedger();
  const metrics = createBoxMetrics();
  const audit = timedAuditLog(ledger, metrics);
  const inference = createFakeInference({ audit });
  const log = createMemoryLogger();
  const table = createMethodTable({
    services: {
      audit,
      ledger,
      inference: instrumentInference(inference, metrics),
      box: { boxId: "box-test", version: "0.1.0", startedAt: new Date().toISOString(), key: { name: "sealbox.local/box-test", origin: "software", keyId: "00112233" } },
      log,
      ...options.services,
    },
    onCall: (o) => metrics.observeCall(o),
  });
  const readiness: Readiness = { ready: true, reasons: [] };
  addScrapeCollectors(metrics, { inference: () => inference, ledger: () => ledger, ready: () => readiness.ready, connections: () => server.connections() });
  const socket = (role: Role): string => join(dir, "run", `${role}.sock`);
  const server = await startHttpSocket({
    table,
    sockets: ROLES.map((role) => ({ role, path: socket(role) })),
    log,
    metrics,
    limits: options.limits ?? {},
    readiness: () => readiness,
    loadedModel: () => inference.status().model,
  });
  return {
    dir,
    ledger,
    inference,
    table,
    metrics,
    server,
    logLines: log.lines,
    socket,
    readiness,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json(): any;
}

/** One request over a unix socket with node:http (a real HTTP client library). */
export function request(
  socketPath: string,
  method: string,
  path: string,
  body?: string | Buffer | object,
  headers: Record<string, string> = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const req = http.request(
      { socketPath, method, path, agent: false, headers: { ...(payload !== undefined ? { "content-type": "application/json" } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (payload !== undefined) req.end(payload);
    else req.end();
  });
}

/** Parses an SSE body into events. */
export function parseSse(text: string): { event: string | undefined; data: string }[] {
  const events: { event: string | undefined; data: string }[] = [];
  for (const block of text.split("\n\n")) {
    if (block.trim() === "" || block.startsWith(":")) continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    if (data.length > 0) events.push({ event, data: data.join("\n") });
  }
  return events;
}
