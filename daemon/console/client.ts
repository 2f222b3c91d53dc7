// The console's client of the daemon's HTTP socket: every call goes to
// POST /sealbox/v1/rpc/<method> (the same method table as every transport),
// streamed as server-sent events when the caller wants chunks. Connection
// failures become the errors a person can act on: the daemon is not running
// (NOT_RUNNING), no permission on the socket (PERMISSION_DENIED, naming the
// group to join), the box is busy (BUSY, with the daemon's retry hint).

import { stat } from "node:fs/promises";
import { readFile } from "node:fs/promises";
import http from "node:http";
import { ERRORS, SealboxError, type ErrorCode } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import type { Role } from "../rpc/types.js";

export const FHS_RUN_DIR = "/run/sealbox";

export interface SocketChoice {
  /** --socket PATH: used as is. */
  socket?: string;
  /** --state DIR: DIR/run/<role>.sock. */
  state?: string;
  role: Role;
}

/** Which socket to use: --socket, else --state DIR (or $SEALBOX_STATE), else the FHS default /run/sealbox/<role>.sock. */
export function resolveSocket(choice: SocketChoice, env: NodeJS.ProcessEnv = process.env): string {
  if (choice.socket) return choice.socket;
  const state = choice.state ?? env.SEALBOX_STATE;
  if (state) return `${state.replace(/\/+$/, "")}/run/${choice.role}.sock`;
  return `${FHS_RUN_DIR}/${choice.role}.sock`;
}

async function groupName(gid: number): Promise<string> {
  const text = await readFile("/etc/group", "utf8").catch(() => "");
  for (const line of text.split("\n")) {
    const [name, , id] = line.split(":");
    if (id === String(gid) && name) return name;
  }
  return String(gid);
}

/** A connection error as a person should read it. */
export async function connectionError(socketPath: string, e: NodeJS.ErrnoException): Promise<SealboxError> {
  if (e.code === "ENOENT" || e.code === "ECONNREFUSED") {
    return new SealboxError("NOT_RUNNING", `the sealbox daemon is not running (nothing answers on ${socketPath}); start it with \`systemctl start sealbox\` or \`sealboxd --state DIR\``, {
      cause: e,
      details: { socket: socketPath },
    });
  }
  if (e.code === "EACCES" || e.code === "EPERM") {
    const st = await stat(socketPath).catch(() => undefined);
    const group = st ? await groupName(st.gid) : undefined;
    return new SealboxError(
      "PERMISSION_DENIED",
      `no permission to use ${socketPath}${group ? `: join the group '${group}' (then log in again)` : ""}, or use the socket of a role you have`,
      { cause: e, details: { socket: socketPath, ...(group ? { group } : {}) } },
    );
  }
  if (e.code === "ECONNRESET" || e.code === "EPIPE") {
    return new SealboxError("NOT_RUNNING", `the daemon closed the connection on ${socketPath} (it may be shutting down)`, { cause: e });
  }
  return new SealboxError("INTERNAL", `cannot talk to the daemon on ${socketPath}: ${e.message}`, { cause: e });
}

/** The daemon's JSON error as a SealboxError with the same code (unknown codes kept in details). */
export function remoteError(status: number, body: string): SealboxError {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
    const err = parsed.error;
    if (err && typeof err.message === "string") {
      const known = typeof err.code === "string" && err.code in ERRORS;
      return new SealboxError(known ? (err.code as ErrorCode) : "INTERNAL", err.message, {
        details: { ...(err.details ?? {}), httpStatus: status, ...(known ? {} : { remoteCode: err.code ?? null }) },
      });
    }
  } catch {
    // Not JSON: fall through and show what came back.
  }
  return new SealboxError("PROTOCOL_ERROR", `the daemon answered HTTP ${status}: ${body.slice(0, 200)}`);
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Receives each streamed chunk; when set, the call is streamed. */
  onChunk?: (chunk: JsonValue) => void;
}

/** Splits an SSE byte stream into events, across chunk boundaries. */
export class SseParser {
  private buffer = "";
  constructor(private readonly onEvent: (event: string | undefined, data: string) => void) {}

  push(text: string): void {
    this.buffer += text;
    for (;;) {
      const m = /\r?\n\r?\n/.exec(this.buffer);
      if (!m) break;
      const block = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      let event: string | undefined;
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (data.length > 0) this.onEvent(event, data.join("\n"));
    }
  }
}

export class SealboxClient {
  constructor(readonly socketPath: string) {}

  /** Calls a method of the daemon's table; resolves with its result. */
  call(method: string, params: JsonValue = {}, options: CallOptions = {}): Promise<{ [key: string]: JsonValue }> {
    const streaming = options.onChunk !== undefined;
    const body = JSON.stringify(params);
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        options.signal?.removeEventListener("abort", onAbort);
        fn();
      };
      const req = http.request({
        socketPath: this.socketPath,
        method: "POST",
        path: `/sealbox/v1/rpc/${encodeURIComponent(method)}`,
        agent: false,
        headers: {
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
          ...(streaming ? { accept: "text/event-stream" } : {}),
        },
      });
      const onAbort = (): void => {
        req.destroy();
        done(() => reject(new SealboxError("CANCELLED", "cancelled")));
      };
      if (options.signal?.aborted) {
        onAbort();
        return;
      }
      options.signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (settled) return;
        void connectionError(this.socketPath, e).then((err) => done(() => reject(err)));
      });
      req.on("response", (res) => {
        res.setEncoding("utf8");
        const isSse = (res.headers["content-type"] ?? "").startsWith("text/event-stream");
        if (res.statusCode === 200 && isSse) {
          const parser = new SseParser((event, data) => {
            let value: JsonValue;
            try {
              value = JSON.parse(data) as JsonValue;
            } catch {
              done(() => reject(new SealboxError("PROTOCOL_ERROR", `the daemon sent an event that is not JSON: ${data.slice(0, 100)}`)));
              req.destroy();
              return;
            }
            if (event === "chunk") options.onChunk?.(value);
            else if (event === "result") done(() => resolve(value as { [key: string]: JsonValue }));
            else if (event === "error") done(() => reject(remoteError(500, data)));
          });
          res.on("data", (t: string) => parser.push(t));
          res.on("end", () => done(() => reject(new SealboxError("PROTOCOL_ERROR", "the daemon ended the stream without a result"))));
          res.on("error", (e) => done(() => reject(new SealboxError("NOT_RUNNING", `the connection to the daemon broke: ${e.message}`, { cause: e }))));
          return;
        }
        let text = "";
        res.on("data", (t: string) => {
          if (text.length < 64 << 20) text += t;
        });
        res.on("end", () => {
          if (res.statusCode !== 200) {
            done(() => reject(remoteError(res.statusCode ?? 0, text)));
            return;
          }
          try {
            done(() => resolve(JSON.parse(text) as { [key: string]: JsonValue }));
          } catch {
            done(() => reject(new SealboxError("PROTOCOL_ERROR", `the daemon's answer is not JSON: ${text.slice(0, 100)}`)));
          }
        });
        res.on("error", (e) => done(() => reject(new SealboxError("NOT_RUNNING", `the connection to the daemon broke: ${e.message}`, { cause: e }))));
      });
      req.end(body);
    });
  }

  /** GET a probe path (/healthz, /readyz): status code and parsed body. */
  probe(path: string): Promise<{ status: number; body: JsonValue }> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath: this.socketPath, path, agent: false }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (t: string) => (text += t));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as JsonValue });
          } catch {
            resolve({ status: res.statusCode ?? 0, body: text });
          }
        });
      });
      req.on("error", (e: NodeJS.ErrnoException) => void connectionError(this.socketPath, e).then(reject));
    });
  }
}

export { ERRORS };
