// The socket files: one per role with mode and group, stale files replaced,
// live ones and non-sockets left alone, removed on close; the peer's uid and
// pid in every record; closing a connection cancels its request.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat, writeFile, readFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { isSealboxError } from "../../../daemon/errors.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { createMethodTable } from "../../../daemon/rpc/methods.js";
import { resolveGroup } from "../../../daemon/transports/http-listeners.js";
import { startHttpSocket } from "../../../daemon/transports/http-socket.js";
import { request, startTestBox, type TestBox } from "../../helpers/http-box.js";
import { createMemoryLedger } from "../../helpers/memory-ledger.js";

async function startBare(path: string, group?: string) {
  const ledger = createMemoryLedger();
  return startHttpSocket({
    table: createMethodTable({ services: { audit: ledger, ledger } }),
    sockets: [{ role: "technician", path, mode: 0o660, ...(group ? { group } : {}) }],
    log: createMemoryLogger(),
  });
}

describe("role sockets", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sealbox-sock-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates the socket with mode 0660 and the configured group, and removes it on close", async () => {
    const path = join(dir, "run", "technician.sock");
    const gid = await resolveGroup("nogroup");
    const s = await startBare(path, "nogroup");
    const st = await stat(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, gid);
    assert.equal((await request(path, "GET", "/healthz")).status, 200);
    await s.close();
    await s.close(); // idempotent
    await assert.rejects(stat(path), /ENOENT/);
  });

  it("refuses a path another live server holds, replaces a stale socket, never deletes a regular file", async () => {
    const path = join(dir, "busy.sock");
    const first = await startBare(path);
    await assert.rejects(startBare(path), (e: unknown) => isSealboxError(e, "SOCKET_IN_USE") && /already serves/.test(e.message));
    await first.close();

    // A stale socket file left by a killed process (SIGKILL: no cleanup).
    const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((r) => child.stdout.once("data", r));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    assert.ok((await stat(path)).isSocket());
    const second = await startBare(path);
    assert.equal((await request(path, "GET", "/healthz")).status, 200);
    await second.close();

    const file = join(dir, "not-a-socket");
    await writeFile(file, "keep me");
    await assert.rejects(startBare(file), (e: unknown) => isSealboxError(e, "SOCKET_IN_USE") && /not a socket/.test(e.message));
    assert.equal(await readFile(file, "utf8"), "keep me");
  });

  it("an unknown group is a clear configuration error", async () => {
    await assert.rejects(startBare(join(dir, "g.sock"), "no-such-group-xyz"), (e: unknown) => isSealboxError(e, "BAD_CONFIG") && /no-such-group-xyz/.test(e.message));
  });
});

describe("connections and cancellation", () => {
  let box: TestBox;
  before(async () => {
    box = await startTestBox();
  });
  after(async () => {
    await box.close();
  });

  it("records the peer's uid and pid from SO_PEERCRED", async () => {
    await request(box.socket("operator"), "GET", "/sealbox/v1/status");
    assert.equal(box.ledger.records.at(-1)!.actor.peer, `uid=${process.getuid!()},pid=${process.pid}`);
  });

  it("the socket decides the role", async () => {
    for (const role of ["operator", "technician", "integrator", "admin"] as const) {
      await request(box.socket(role), "GET", "/sealbox/v1/status");
      assert.equal(box.ledger.records.at(-1)!.actor.role, role);
    }
  });

  it("closing the connection cancels a streamed answer", async () => {
    box.inference.tokenDelayMs = 100;
    box.inference.answer = "one two three four five six seven eight nine ten";
    const before = box.inference.cancelled;
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ socketPath: box.socket("operator"), method: "POST", path: "/v1/chat/completions", agent: false }, (res) => {
        res.once("data", () => {
          // First token arrived: hang up.
          clearTimeout(timer);
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => undefined);
      req.end(JSON.stringify({ messages: [{ role: "user", content: "count" }], stream: true }));
      const timer = setTimeout(() => reject(new Error("no data")), 5000);
    });
    for (let i = 0; i < 50 && box.inference.cancelled === before; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(box.inference.cancelled, before + 1);
    // The outcome record says how it ended.
    for (let i = 0; i < 50 && !box.ledger.records.some((r) => r.details?.finishReason === "cancelled"); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(box.ledger.records.some((r) => r.details?.finishReason === "cancelled" && r.actor.transport === "http-socket"));
  });

  it("closing the connection cancels a non-streamed answer too", async () => {
    box.inference.tokenDelayMs = 100;
    const before = box.inference.cancelled;
    const req = http.request({ socketPath: box.socket("operator"), method: "POST", path: "/sealbox/v1/ask", agent: false });
    req.on("error", () => undefined);
    req.end(JSON.stringify({ prompt: "slow" }));
    await new Promise((r) => setTimeout(r, 250));
    req.destroy();
    for (let i = 0; i < 50 && box.inference.cancelled === before; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(box.inference.cancelled, before + 1);
    box.inference.tokenDelayMs = 0;
  });
});
