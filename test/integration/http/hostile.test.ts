// Bad input on the HTTP socket: each a clear JSON error with the registry's
// code and status, bounded memory, and the daemon unaffected afterwards.

import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";

import { request, startTestBox, type TestBox } from "../../helpers/http-box.js";

interface RawReply {
  text: string;
  status: number;
  body: any;
  closed: boolean;
}

/** Writes bytes on a fresh connection and collects what comes back until the server closes or waitMs passes. */
function raw(socketPath: string, bytes: string | Buffer | (string | Buffer)[], waitMs = 5000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socketPath);
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      c.destroy();
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const bodyStart = text.indexOf("\r\n\r\n");
      let body: unknown;
      try {
        body = JSON.parse(text.slice(bodyStart + 4));
      } catch {
        body = undefined;
      }
      resolve({ text, status, body, closed });
    };
    const timer = setTimeout(finish, waitMs);
    c.on("data", (d: Buffer) => chunks.push(d));
    c.on("end", () => {
      closed = true;
      finish();
    });
    c.on("close", () => {
      closed = true;
      finish();
    });
    c.on("error", (e: NodeJS.ErrnoException) => {
      // The server may close while we still write (413): what it sent still counts.
      if (e.code === "EPIPE" || e.code === "ECONNRESET") return;
      reject(e);
    });
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) c.write(b);
  });
}

describe("HTTP socket under hostile input", () => {
  let box: TestBox;
  before(async () => {
    box = await startTestBox({ limits: { headersTimeoutMs: 400, bodyTimeoutMs: 400, maxBodyBytes: 64 << 10, maxHeaderBytes: 8 << 10, maxConnectionsPerSocket: 4 } });
  });
  after(async () => {
    await box.close();
  });

  it("malformed JSON: 400 BAD_REQUEST, and the attempt is recorded", async () => {
    const r = await request(box.socket("operator"), "POST", "/v1/chat/completions", '{"messages": [');
    assert.equal(r.status, 400);
    assert.equal(r.json().error.code, "BAD_REQUEST");
    assert.equal(r.json().error.type, "invalid_request_error");
    assert.match(r.json().error.message, /not valid JSON/);
    const rec = box.ledger.records.at(-1)!;
    assert.equal(rec.action, "chat");
    assert.equal(rec.outcome, "failure");
    assert.equal(rec.details?.code, "BAD_REQUEST");
  });

  it("wrong types: 400 naming the field", async () => {
    const a = await request(box.socket("operator"), "POST", "/v1/chat/completions", { messages: "hello" });
    assert.equal(a.status, 400);
    assert.match(a.json().error.message, /'messages' must be an array/);
    const b = await request(box.socket("operator"), "POST", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], max_tokens: "four" });
    assert.equal(b.status, 400);
    assert.match(b.json().error.message, /params\.maxTokens: expected an integer/);
    const c = await request(box.socket("operator"), "POST", "/sealbox/v1/ask", [1, 2, 3]);
    assert.equal(c.status, 400);
    const d = await request(box.socket("operator"), "POST", "/v1/chat/completions", "42");
    assert.equal(d.status, 400);
  });

  it("non-UTF-8 body: 400", async () => {
    const body = Buffer.from([0x7b, 0x22, 0x70, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    const r = await request(box.socket("operator"), "POST", "/sealbox/v1/ask", body);
    assert.equal(r.status, 400);
    assert.match(r.json().error.message, /not valid UTF-8/);
  });

  it("oversized body, declared: 413 at once, connection closed", async () => {
    const r = await raw(box.socket("operator"), "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n{");
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, "TOO_LARGE");
    assert.match(r.text, /\r\nConnection: close\r\n/i);
    assert.ok(r.closed);
  });

  it("oversized body, chunked and never-ending: 413, memory bounded", async () => {
    const before = process.memoryUsage();
    const chunk = Buffer.alloc(64 << 10, 0x61);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    for (let round = 0; round < 5; round++) {
      const parts: (string | Buffer)[] = ["POST /sealbox/v1/ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"];
      for (let i = 0; i < 64; i++) parts.push(frame); // 4 MiB offered per round
      const r = await raw(box.socket("operator"), parts);
      assert.equal(r.status, 413, r.text.slice(0, 200));
    }
    global.gc?.();
    const grownMiB = (process.memoryUsage().arrayBuffers - before.arrayBuffers) / (1 << 20);
    // 20 MiB offered; what the server holds per request is bounded by maxBodyBytes (64 KiB) plus socket buffers.
    assert.ok(grownMiB < 12, `array buffers grew by ${grownMiB.toFixed(1)} MiB`);
  });

  it("slow headers: 408 REQUEST_TIMEOUT as JSON", async () => {
    const r = await raw(box.socket("operator"), "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    assert.equal(r.status, 408, r.text);
    assert.equal(r.body.error.code, "REQUEST_TIMEOUT");
    assert.ok(r.closed);
  });

  it("slow body: 408 REQUEST_TIMEOUT as JSON", async () => {
    const r = await raw(box.socket("operator"), 'POST /sealbox/v1/ask HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt":');
    assert.equal(r.status, 408, r.text);
    assert.equal(r.body.error.code, "REQUEST_TIMEOUT");
    assert.match(r.body.error.message, /body did not arrive within 400 ms/);
  });

  it("headers too large: 431 as JSON", async () => {
    const r = await raw(box.socket("operator"), `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20000)}\r\n\r\n`);
    assert.equal(r.status, 431, r.text.slice(0, 200));
    assert.equal(r.body.error.code, "HEADERS_TOO_LARGE");
  });

  it("garbage instead of HTTP: 400 as JSON", async () => {
    const r = await raw(box.socket("operator"), Buffer.from("\x00\x01\x02 not http at all\r\n\r\n", "binary"));
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.code, "BAD_REQUEST");
  });

  it("a path that is not valid percent-encoding: 400", async () => {
    const r = await request(box.socket("admin"), "POST", "/sealbox/v1/rpc/%FF%FE", "{}");
    assert.equal(r.status, 400);
  });

  it("too many connections on one socket: 503 TOO_MANY_CONNECTIONS, bounded; other sockets unaffected", async () => {
    const idle: net.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const c = net.connect(box.socket("integrator"));
      c.on("error", () => undefined);
      await new Promise((r) => c.once("connect", r));
      idle.push(c);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(box.server.connections().integrator, 4);
    const r = await raw(box.socket("integrator"), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 503, r.text);
    assert.equal(r.body.error.code, "TOO_MANY_CONNECTIONS");
    assert.equal(r.body.error.retryable, true);
    assert.match(r.text, /Retry-After: 1/);
    // The operator's socket has its own budget.
    assert.equal((await request(box.socket("operator"), "GET", "/healthz")).status, 200);
    for (const c of idle) c.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await request(box.socket("integrator"), "GET", "/healthz")).status, 200);
    const m = await request(box.socket("operator"), "GET", "/metrics");
    assert.match(m.text, /sealbox_http_rejected_connections_total\{role="integrator"\} 1/);
  });

  it("the daemon is unaffected: a normal request still works and no connection is left open", async () => {
    const r = await request(box.socket("operator"), "POST", "/v1/chat/completions", { messages: [{ role: "user", content: "still there?" }] });
    assert.equal(r.status, 200);
    assert.equal(r.json().choices[0].message.content, "the answer is forty two");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(Object.values(box.server.connections()).reduce((a, b) => a + b, 0), 0);
  });
});
