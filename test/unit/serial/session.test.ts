// The session state machine end to end over an in-memory line: a real
// SerialServer and a real SerialClient (or a raw peer writing hand-made
// frames), a fake dispatch and an in-memory audit log.

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { isSealboxError } from "../../../daemon/errors.js";
import { SerialClient } from "../../../daemon/transports/serial-client.js";
import { FLAG_MORE, FrameType, encodeFrame, fragment, type Frame } from "../../../daemon/transports/serial-frames.js";
import { bytesToHex, encodeJson } from "../../../daemon/transports/serial-messages.js";
import { totalDropped } from "../../../daemon/transports/serial-metrics.js";
import type { JsonValue } from "../../../daemon/ledger/types.js";
import { createLinkPair, TEST_PSK } from "../../helpers/serial-fakes.js";
import { json, RawPeer } from "../../helpers/serial-raw.js";
import { memoryServer } from "../../helpers/serial-setup.js";

type Obj = { [k: string]: JsonValue };
const isErr = (id: number) => (f: Frame) => f.type === FrameType.ERROR && f.requestId === id;

test("handshake, echo, streamed text, object chunks, errors, ping: every request type through the client", async () => {
  const h = await memoryServer();
  try {
    const c = await SerialClient.connect(h.peer, { psk: TEST_PSK, client: "unit" });
    assert.equal(c.negotiated.version, 1);
    assert.equal(c.negotiated.maxPayloadBytes, 1024);
    assert.equal(h.server.sessionState, "ready");

    assert.deepEqual(await c.call("echo", { a: [1, "ü", null] }), { a: [1, "ü", null] });
    const call = h.dispatch.calls[0]!;
    assert.equal(call.ctx.role, "integrator");
    assert.equal(call.ctx.transport, "serial");
    assert.equal(call.ctx.peer, "mem0");

    const chunks: JsonValue[] = [];
    assert.deepEqual(await c.call("stream", { count: 500 }, { onChunk: (x) => chunks.push(x) }), { count: 500 });
    assert.equal(chunks.join(""), Array.from({ length: 500 }, (_, i) => `tok${i} `).join(""));
    assert.ok(chunks.length < 50, `text chunks were coalesced (${chunks.length} chunk messages)`);

    const objs: JsonValue[] = [];
    await c.call("objects", { count: 3 }, { onChunk: (x) => objs.push(x) });
    assert.deepEqual(objs, [{ i: 0 }, { i: 1 }, { i: 2 }]);

    await assert.rejects(c.call("fail", { code: "MODEL_UNAVAILABLE", message: "no model" }), (e) => isSealboxError(e, "MODEL_UNAVAILABLE") && e.message === "no model" && e.details?.why === "test");
    await assert.rejects(c.call("crash"), (e) => isSealboxError(e, "INTERNAL") && e.message === "internal error");
    assert.ok(h.logger.lines.some((l) => l.includes("secret internal detail")), "the real error stays in the journal");
    await assert.rejects(c.call("nope"), (e) => isSealboxError(e, "NOT_FOUND"));

    await c.ping(Uint8Array.of(1, 2, 3));
    const auth = h.audit.events.find((e) => e.action === "serial.auth")!;
    assert.equal(auth.outcome, "success");
    assert.equal(auth.details!.client, "unit");
    const m = h.server.metrics();
    assert.equal(m.authSuccesses, 1);
    assert.equal(m.requestsStarted, 6);
    assert.equal(m.errorsSent.INTERNAL, 1);
    assert.equal(totalDropped(m), 0);
    c.close();
  } finally {
    await h.close();
  }
});

test("messages larger than a frame are fragmented both ways", async () => {
  const h = await memoryServer({ limits: { maxPayloadBytes: 256, maxMessageBytes: 8192 } });
  try {
    const c = await SerialClient.connect(h.peer, { psk: TEST_PSK, maxPayloadBytes: 256 });
    const big = "é".repeat(3000);
    assert.equal(await c.call("echo", big), big);
    assert.equal(await c.call("big", { bytes: 20_000 }), "x".repeat(20_000));
    await assert.rejects(c.call("echo", "y".repeat(9000)), (e) => isSealboxError(e, "TOO_LARGE"));
    assert.equal(await c.call("echo", 1), 1, "the session goes on after a refused message");
    assert.ok(h.server.metrics().framesReceived > 30);
    c.close();
  } finally {
    await h.close();
  }
});

test("cancel stops a running call with CANCELLED and aborts the method", async () => {
  const h = await memoryServer();
  try {
    const c = await SerialClient.connect(h.peer, { psk: TEST_PSK });
    const ac = new AbortController();
    const p = c.call("slow", { ms: 60_000 }, { signal: ac.signal });
    await sleep(20);
    ac.abort();
    await assert.rejects(p, (e) => isSealboxError(e, "CANCELLED"));
    await sleep(10);
    assert.equal(h.dispatch.aborted, 1);
    assert.equal(h.server.metrics().requestsCancelled, 1);
    assert.equal(await c.call("echo", "after"), "after");
    c.close();
  } finally {
    await h.close();
  }
});

test("before authentication: REQUEST and CANCEL get UNAUTHENTICATED, AUTH without HELLO too; PING is answered", async () => {
  const h = await memoryServer();
  try {
    const raw = new RawPeer(h.peer);
    await raw.send(FrameType.REQUEST, 5, 0, { method: "echo", params: 1 });
    assert.equal((json(await raw.waitFor(isErr(5))) as Obj).code, "UNAUTHENTICATED");
    await raw.send(FrameType.CANCEL, 6, 1);
    assert.equal((json(await raw.waitFor(isErr(6))) as Obj).code, "UNAUTHENTICATED");
    await raw.send(FrameType.AUTH, 0, 0, { mac: "00".repeat(32) });
    assert.equal((json(await raw.waitFor(isErr(0))) as Obj).code, "UNAUTHENTICATED");
    await raw.send(FrameType.PING, 0, 77, Uint8Array.of(9, 9));
    const pong = await raw.waitFor((f) => f.type === FrameType.PONG);
    assert.equal(pong.seq, 77);
    assert.deepEqual([...pong.payload], [9, 9]);
    assert.equal(h.dispatch.calls.length, 0, "nothing reached the method table");
    assert.equal(h.server.metrics().authFailures, 0, "no handshake was attempted");
  } finally {
    await h.close();
  }
});

test("a wrong key is refused, audited, and rate-limited with backoff; the right key works after it", async () => {
  let nowMs = 1_000_000;
  const h = await memoryServer({ now: () => nowMs, authInitialBackoffMs: 1000, authMaxBackoffMs: 60_000 });
  try {
    await assert.rejects(SerialClient.connect(h.peer, { psk: new Uint8Array(32).fill(1) }), (e) => isSealboxError(e, "UNAUTHENTICATED") && e.details?.session === "closed" && e.details?.retryAfterMs === 1000);
    nowMs += 400;
    await assert.rejects(SerialClient.connect(h.peer, { psk: TEST_PSK }), (e) => isSealboxError(e, "RATE_LIMITED") && e.details?.retryAfterMs === 600);
    const refused = h.audit.events.filter((e) => e.outcome === "refused");
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.details!.reason, "bad-mac");
    nowMs += 600;
    const c = await SerialClient.connect(h.peer, { psk: TEST_PSK });
    assert.equal(await c.call("echo", 2), 2);
    const m = h.server.metrics();
    assert.equal(m.authFailures, 1);
    assert.equal(m.authRateLimited, 1);
    assert.equal(m.authSuccesses, 1);
    c.close();
  } finally {
    await h.close();
  }
});

test("the client refuses a box that cannot prove the key", async () => {
  const [boxEnd, plcEnd] = createLinkPair();
  try {
    const box = new RawPeer(boxEnd); // plays the box
    const client = SerialClient.connect(plcEnd, { psk: TEST_PSK, timeoutMs: 2000 });
    const hello = await box.waitFor((f) => f.type === FrameType.HELLO);
    await box.send(FrameType.CHALLENGE, 0, hello.seq, { version: 1, nonce: "11".repeat(32), maxPayloadBytes: 1024, maxMessageBytes: 65536, maxInFlight: 4, idleTimeoutMs: 30000, handshakeTimeoutMs: 10000 });
    const auth = await box.waitFor((f) => f.type === FrameType.AUTH);
    await box.send(FrameType.WELCOME, 0, auth.seq, { mac: "22".repeat(32) });
    await assert.rejects(client, (e) => isSealboxError(e, "UNAUTHENTICATED") && /box's proof/.test(e.message));
  } finally {
    await plcEnd.close();
  }
});

test("version negotiation: no common version and a frame of another version are refused with UNSUPPORTED", async () => {
  const h = await memoryServer();
  try {
    const raw = new RawPeer(h.peer);
    await raw.send(FrameType.HELLO, 0, 0, { versions: [2, 3], maxPayloadBytes: 1024, nonce: "01".repeat(32) });
    const e1 = json(await raw.waitFor(isErr(0))) as Obj;
    assert.equal(e1.code, "UNSUPPORTED");
    assert.deepEqual((e1.details as Obj).supported, [1]);
    assert.equal(e1.session, "closed");
    const n = raw.frames.length;
    await raw.write(encodeFrame({ version: 2, type: FrameType.HELLO, flags: 0, requestId: 0, seq: 0, payload: new Uint8Array(0) }));
    assert.equal((json(await raw.waitFor(isErr(0), 5000, n)) as Obj).code, "UNSUPPORTED");
    assert.equal(h.server.metrics().framesDropped.version, 1);
    // A HELLO listing 1 among others gets version 1.
    const n2 = raw.frames.length;
    await raw.send(FrameType.HELLO, 0, 0, { versions: [1, 7], maxPayloadBytes: 1024, nonce: "01".repeat(32) });
    assert.equal((json(await raw.waitFor((f) => f.type === FrameType.CHALLENGE, 5000, n2)) as Obj).version, 1);
  } finally {
    await h.close();
  }
});

test("protocol violations: unknown type, reserved flags, MORE on PING, big PING, malformed JSON, id 0 — each answered and counted", async () => {
  const h = await memoryServer();
  try {
    const raw = new RawPeer(h.peer);
    await raw.authenticate(TEST_PSK);
    const cases: [() => Promise<void>, number, string][] = [
      [() => raw.send(0x55, 11, 0), 11, "PROTOCOL_ERROR"],
      [() => raw.send(FrameType.REQUEST, 12, 0, { method: "echo" }, 0x80), 12, "PROTOCOL_ERROR"],
      [() => raw.send(FrameType.PING, 13, 0, new Uint8Array(0), FLAG_MORE), 13, "PROTOCOL_ERROR"],
      [() => raw.send(FrameType.PING, 14, 0, new Uint8Array(65)), 14, "TOO_LARGE"],
      [() => raw.send(FrameType.REQUEST, 15, 0, new TextEncoder().encode("{nope")), 15, "BAD_REQUEST"],
      [() => raw.send(FrameType.REQUEST, 16, 0, { params: 1 }), 16, "BAD_REQUEST"],
      [() => raw.send(FrameType.REQUEST, 17, 0, Uint8Array.of(0x22, 0xc3, 0x22)), 17, "BAD_REQUEST"],
      [() => raw.send(FrameType.REQUEST, 0, 0, { method: "echo" }), 0, "PROTOCOL_ERROR"],
    ];
    for (const [send, id, code] of cases) {
      const n = raw.frames.length;
      await send();
      assert.equal((json(await raw.waitFor(isErr(id), 5000, n)) as Obj).code, code, `request ${id}`);
    }
    const d = h.server.metrics().framesDropped;
    assert.equal(d["unexpected-type"], 1);
    assert.equal(d.flags, 2);
    assert.equal(d["too-large"], 1);
    assert.equal(d.malformed, 3);
    assert.equal(h.dispatch.calls.length, 0);
    assert.equal(h.server.sessionState, "ready", "violations do not end the session");
  } finally {
    await h.close();
  }
});

test("frames only the box sends are dropped without an answer: a looped-back line makes no echo storm", async () => {
  const h = await memoryServer();
  try {
    const raw = new RawPeer(h.peer);
    await raw.authenticate(TEST_PSK);
    await raw.send(FrameType.REQUEST, 1, 0, { method: "stream", params: { count: 50 } });
    await raw.waitFor((f) => f.type === FrameType.RESULT);
    const before = raw.frames.length;
    // Send the box everything it sent us.
    for (const b of h.serverLink.written) await raw.write(b);
    await sleep(50);
    assert.equal(raw.frames.length, before, "no answer to its own frames");
    assert.ok(h.server.metrics().framesDropped["unexpected-type"] >= 3);
    assert.ok(h.logger.lines.some((l) => l.includes("warn") && l.includes("serial frame dropped")), "drops are logged at warn");
  } finally {
    await h.close();
  }
});

test("fragmented requests: a sequence gap or a first frame with seq ≠ 0 is refused; over the limit is TOO_LARGE once", async () => {
  const h = await memoryServer({ limits: { maxPayloadBytes: 256, maxMessageBytes: 1024 } });
  try {
    const raw = new RawPeer(h.peer);
    await raw.authenticate(TEST_PSK, undefined, 256);
    const body = encodeJson({ method: "echo", params: "z".repeat(600) });
    const fs = fragment(FrameType.REQUEST, 21, 0, body, 256);
    assert.equal(fs.length, 3);
    let n = raw.frames.length;
    await raw.write(encodeFrame(fs[0]!));
    await raw.write(encodeFrame(fs[2]!));
    assert.match((json(await raw.waitFor(isErr(21), 5000, n)) as Obj).message as string, /expected seq 1, got 2/);

    n = raw.frames.length;
    await raw.send(FrameType.REQUEST, 22, 4, { method: "echo" });
    assert.match((json(await raw.waitFor(isErr(22), 5000, n)) as Obj).message as string, /starts at seq 0/);

    n = raw.frames.length;
    for (const f of fragment(FrameType.REQUEST, 23, 0, encodeJson({ method: "echo", params: "q".repeat(3000) }), 256)) await raw.write(encodeFrame(f));
    await sleep(30);
    const errs = raw.frames.slice(n).filter(isErr(23));
    assert.equal(errs.length, 1, "one ERROR for the whole oversized request");
    assert.equal((json(errs[0]!) as Obj).code, "TOO_LARGE");

    n = raw.frames.length;
    for (const f of fs) await raw.write(encodeFrame({ ...f, requestId: 24 }));
    const r = await raw.waitFor((f) => f.type === FrameType.RESULT && f.requestId === 24 && (f.flags & FLAG_MORE) === 0, 5000, n);
    assert.ok(r);
  } finally {
    await h.close();
  }
});

test("in-flight limit gives BUSY; a reused id still running gives PROTOCOL_ERROR", async () => {
  const h = await memoryServer({ limits: { maxInFlight: 2 } });
  try {
    const raw = new RawPeer(h.peer);
    await raw.authenticate(TEST_PSK);
    await raw.send(FrameType.REQUEST, 1, 0, { method: "slow" });
    await raw.send(FrameType.REQUEST, 2, 0, { method: "slow" });
    await raw.send(FrameType.REQUEST, 3, 0, { method: "echo" });
    assert.equal((json(await raw.waitFor(isErr(3))) as Obj).code, "BUSY");
    await raw.send(FrameType.CANCEL, 2, 1);
    assert.equal((json(await raw.waitFor(isErr(2))) as Obj).code, "CANCELLED");
    await raw.send(FrameType.REQUEST, 1, 0, { method: "echo" });
    await sleep(20);
    const e1 = raw.frames.filter(isErr(1));
    assert.equal((json(e1.at(-1)!) as Obj).code, "PROTOCOL_ERROR");
    // A CANCEL for an id not running is a no-op (it raced the answer).
    const n = raw.frames.length;
    await raw.send(FrameType.CANCEL, 99, 1);
    await sleep(20);
    assert.equal(raw.frames.length, n);
  } finally {
    await h.close();
  }
});

test("an idle session is dropped after idleTimeoutMs: running requests are cancelled, the end is audited", async () => {
  const h = await memoryServer({ limits: { idleTimeoutMs: 400 } });
  try {
    const raw = new RawPeer(h.peer);
    await raw.authenticate(TEST_PSK);
    await raw.send(FrameType.REQUEST, 1, 0, { method: "slow" });
    const e = json(await raw.waitFor(isErr(0), 5000)) as Obj;
    assert.equal(e.code, "DEADLINE");
    assert.equal(e.session, "closed");
    assert.equal(h.dispatch.aborted, 1);
    assert.equal(h.server.sessionState, "idle");
    assert.equal(h.server.metrics().sessionsExpired, 1);
    await sleep(10);
    const end = h.audit.events.find((x) => x.action === "serial.session.end")!;
    assert.equal(end.details!.reason, "idle");
    assert.equal(end.details!.cancelledRequests, 1);
    const n = raw.frames.length;
    await raw.send(FrameType.REQUEST, 2, 0, { method: "echo" });
    assert.equal((json(await raw.waitFor(isErr(2), 5000, n)) as Obj).code, "UNAUTHENTICATED");
  } finally {
    await h.close();
  }
});

test("PINGs keep a session alive past the idle timeout", async () => {
  const h = await memoryServer({ limits: { idleTimeoutMs: 1500 } });
  try {
    const c = await SerialClient.connect(h.peer, { psk: TEST_PSK, pingIntervalMs: 100 });
    await sleep(3200);
    assert.equal(h.server.sessionState, "ready");
    assert.equal(await c.call("echo", 3), 3);
    c.close();
  } finally {
    await h.close();
  }
});

test("no AUTH within the handshake timeout ends the attempt with DEADLINE", async () => {
  const h = await memoryServer({ limits: { handshakeTimeoutMs: 100 } });
  try {
    const raw = new RawPeer(h.peer);
    await raw.send(FrameType.HELLO, 0, 0, { versions: [1], maxPayloadBytes: 1024, nonce: "03".repeat(32) });
    assert.equal((json(await raw.waitFor(isErr(0))) as Obj).code, "DEADLINE");
    assert.equal(h.server.sessionState, "idle");
  } finally {
    await h.close();
  }
});

test("no audit, no session: when the ledger refuses the success record, the session does not open", async () => {
  const h = await memoryServer();
  try {
    h.audit.failWith = "LEDGER_FULL";
    await assert.rejects(SerialClient.connect(h.peer, { psk: TEST_PSK }), (e) => isSealboxError(e, "LEDGER_FULL"));
    assert.equal(h.server.sessionState, "idle");
    assert.equal(h.server.metrics().authSuccesses, 0);
  } finally {
    await h.close();
  }
});

test("a new HELLO ends the running session and cancels its requests", async () => {
  const h = await memoryServer();
  try {
    const raw = new RawPeer(h.peer);
    await raw.authenticate(TEST_PSK);
    await raw.send(FrameType.REQUEST, 1, 0, { method: "slow" });
    await sleep(10);
    await raw.authenticate(TEST_PSK, new Uint8Array(32).fill(8));
    assert.equal(h.dispatch.aborted, 1);
    assert.equal(h.server.sessionState, "ready");
    const n = raw.frames.length;
    await raw.send(FrameType.REQUEST, 1, 0, { method: "echo", params: "again" });
    assert.ok(await raw.waitFor((f) => f.type === FrameType.RESULT && f.requestId === 1, 5000, n));
  } finally {
    await h.close();
  }
});

test("an AUTH with a malformed payload counts as a failed handshake", async () => {
  const h = await memoryServer();
  try {
    const raw = new RawPeer(h.peer);
    await raw.send(FrameType.HELLO, 0, 0, { versions: [1], maxPayloadBytes: 1024, nonce: "03".repeat(32) });
    await raw.waitFor((f) => f.type === FrameType.CHALLENGE);
    await raw.send(FrameType.AUTH, 0, 1, { mac: bytesToHex(new Uint8Array(5)) });
    assert.equal((json(await raw.waitFor(isErr(0))) as Obj).code, "UNAUTHENTICATED");
    assert.equal(h.audit.events.at(-1)!.details!.reason, "malformed-auth");
  } finally {
    await h.close();
  }
});

test("the port's configured role is the callers' role and the audit actor's", async () => {
  const h = await memoryServer({ role: "technician" });
  try {
    const c = await SerialClient.connect(h.peer, { psk: TEST_PSK });
    await c.call("echo", 1);
    assert.equal(h.dispatch.calls[0]!.ctx.role, "technician");
    assert.equal(h.audit.events[0]!.actor.role, "technician");
    c.close();
  } finally {
    await h.close();
  }
});
