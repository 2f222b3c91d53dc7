// The serial transport over real kernel ptys (socat): the box's SerialServer
// on one end through serialport, the reference client or a raw peer on the other.

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { isSealboxError } from "../../../daemon/errors.js";
import { SerialClient } from "../../../daemon/transports/serial-client.js";
import { encodeFrame, FrameType, fragment, type Frame } from "../../../daemon/transports/serial-frames.js";
import { encodeJson } from "../../../daemon/transports/serial-messages.js";
import { totalDropped } from "../../../daemon/transports/serial-metrics.js";
import type { JsonValue } from "../../../daemon/ledger/types.js";
import { TEST_PSK } from "../../helpers/serial-fakes.js";
import { corpus, mutate, Prng } from "../../helpers/serial-fuzz.js";
import { json, RawPeer } from "../../helpers/serial-raw.js";
import { ptyServer } from "../../helpers/serial-setup.js";

type Obj = { [k: string]: JsonValue };
const TIMEOUT = { timeout: 60_000 };

test("every request type over a real pty pair", TIMEOUT, async () => {
  const h = await ptyServer();
  try {
    await h.server.whenOpen();
    const c = await SerialClient.connect(h.peer, { psk: TEST_PSK, client: "pty-test", maxPayloadBytes: 512 });
    assert.deepEqual(await c.call("echo", { hello: "box" }), { hello: "box" });
    const chunks: JsonValue[] = [];
    assert.deepEqual(await c.call("stream", { count: 3000, yieldEvery: 50 }, { onChunk: (x) => chunks.push(x) }), { count: 3000 });
    assert.equal(chunks.join(""), Array.from({ length: 3000 }, (_, i) => `tok${i} `).join(""));
    await assert.rejects(c.call("fail", { code: "HEALTH_CRITICAL" }), (e) => isSealboxError(e, "HEALTH_CRITICAL") && e.spec.retryable);
    const ac = new AbortController();
    const slow = c.call("slow", {}, { signal: ac.signal });
    await sleep(50);
    ac.abort();
    await assert.rejects(slow, (e) => isSealboxError(e, "CANCELLED"));
    await c.ping();
    assert.equal(await c.call("big", { bytes: 50_000 }), "x".repeat(50_000));
    assert.equal(await c.call("echo", "é".repeat(10_000)), "é".repeat(10_000));
    const m = h.server.metrics();
    assert.equal(totalDropped(m), 0, "a clean line drops nothing");
    assert.equal(m.authSuccesses, 1);
    assert.ok(h.dispatch.calls.every((x) => x.ctx.peer === h.paths.a && x.ctx.role === "integrator"));
    c.close();
  } finally {
    await h.close();
  }
});

test("frames split into pieces across separate writes, with garbage before, between and after", TIMEOUT, async () => {
  const h = await ptyServer();
  try {
    await h.server.whenOpen();
    const raw = new RawPeer(h.peer);
    await raw.write(Uint8Array.from([0xde, 0xad, 0xbe, 0xef]));
    await raw.authenticate(TEST_PSK);
    const req = encodeFrame({ version: 1, type: FrameType.REQUEST, flags: 0, requestId: 1, seq: 0, payload: encodeJson({ method: "echo", params: "split" }) });
    for (const cuts of [[1], [5, 6], [req.length - 1], [2, 10, 20]]) {
      const n = raw.frames.length;
      let at = 0;
      for (const cut of [...cuts, req.length]) {
        await raw.write(req.subarray(at, cut));
        await sleep(15);
        at = cut;
      }
      await raw.write(Uint8Array.from([0x41, 0x42, 0x43])); // garbage between
      const r = await raw.waitFor((f) => f.type === FrameType.RESULT && f.requestId === 1, 10_000, n);
      assert.equal(json(r), "split", `cuts ${cuts.join(",")}`);
    }
    await raw.write(Uint8Array.of(0));
    await sleep(50);
    const m = h.server.metrics();
    assert.ok(totalDropped(m) >= 5, `garbage runs were counted (${totalDropped(m)})`);
  } finally {
    await h.close();
  }
});

test("truncated, oversized and corrupted frames over the pty are dropped and counted; the session goes on", TIMEOUT, async () => {
  const h = await ptyServer({ limits: { maxPayloadBytes: 512 } });
  try {
    await h.server.whenOpen();
    const raw = new RawPeer(h.peer);
    await raw.authenticate(TEST_PSK, undefined, 512);
    const good = encodeFrame({ version: 1, type: FrameType.REQUEST, flags: 0, requestId: 2, seq: 0, payload: encodeJson({ method: "echo", params: 42 }) });
    const corrupted = good.slice();
    corrupted[8]! ^= 0x10;
    const oversized = encodeFrame({ version: 1, type: FrameType.REQUEST, flags: 0, requestId: 3, seq: 0, payload: new Uint8Array(2000).fill(0x20) });
    const before = h.server.metrics();
    await raw.write(good.subarray(0, good.length - 5));
    await raw.write(Uint8Array.of(0));
    await raw.write(corrupted);
    await raw.write(oversized);
    await raw.write(new Uint8Array(100_000).fill(0x61)); // a long run with no delimiter
    await raw.write(Uint8Array.of(0));
    const n = raw.frames.length;
    await raw.write(good);
    assert.equal(json(await raw.waitFor((f) => f.type === FrameType.RESULT && f.requestId === 2, 10_000, n)), 42);
    const after = h.server.metrics();
    const delta = (k: keyof typeof after.framesDropped): number => after.framesDropped[k] - before.framesDropped[k];
    assert.ok(delta("cobs") + delta("length") + delta("short") >= 1, "truncated");
    assert.ok(delta("crc") + delta("cobs") + delta("length") >= 2, "corrupted");
    assert.equal(delta("oversize"), 2, "the oversized frame and the long run");
    assert.equal(raw.frames.filter((f: Frame) => f.requestId === 2 && f.type === FrameType.RESULT).length, 1, "only the good frame was answered");
    assert.ok(h.logger.lines.filter((l) => l.includes("serial frame dropped")).length >= 4);
  } finally {
    await h.close();
  }
});

test("the far end vanishes (socat killed) and comes back: the box re-opens its port and serves a new session", TIMEOUT, async () => {
  const h = await ptyServer();
  try {
    await h.server.whenOpen();
    const c1 = await SerialClient.connect(h.peer, { psk: TEST_PSK });
    assert.equal(await c1.call("echo", 1), 1);
    const running = assert.rejects(c1.call("slow", {}), (e) => isSealboxError(e, "SERIAL_ERROR"));
    await sleep(30);
    await h.cutLine();
    await running;
    for (let i = 0; i < 100 && h.server.metrics().linkLosses === 0; i++) await sleep(20);
    assert.equal(h.server.metrics().linkLosses, 1);
    assert.equal(h.server.isOpen, false);
    for (let i = 0; i < 500 && h.server.metrics().linkOpenFailures === 0; i++) await sleep(20);
    assert.ok(h.server.metrics().linkOpenFailures >= 1, "re-open tried with backoff while the line was gone");
    for (let i = 0; i < 500 && h.dispatch.aborted === 0; i++) await sleep(20);
    assert.equal(h.dispatch.aborted, 1, "the running request was cancelled when the line went away");
    await h.restoreLine();
    await h.server.whenOpen();
    const c2 = await SerialClient.connect(h.peer, { psk: TEST_PSK });
    assert.equal(await c2.call("echo", 2), 2);
    assert.equal(h.server.metrics().linkOpens, 2);
    assert.ok(h.logger.lines.some((l) => l.includes("warn") && l.includes("serial port lost")));
    c2.close();
  } finally {
    await h.close();
  }
});

test("a few thousand mutated frames over the pty, then a correct client is served", TIMEOUT, async () => {
  const h = await ptyServer({ authInitialBackoffMs: 10, authMaxBackoffMs: 40 });
  try {
    await h.server.whenOpen();
    const rng = new Prng(7);
    const frames = corpus();
    for (let i = 0; i < 3000; i++) {
      const batch: Uint8Array[] = [];
      for (let j = 0; j < 20 && i < 3000; j++, i++) batch.push(mutate(rng, frames));
      await h.peer.write(Buffer.concat(batch));
    }
    await h.peer.write(Uint8Array.of(0));
    await sleep(200);
    const c = await SerialClient.connect(h.peer, { psk: TEST_PSK, timeoutMs: 10_000 });
    assert.equal(await c.call("echo", "alive"), "alive");
    const m = h.server.metrics();
    assert.ok(totalDropped(m) > 500, `drops counted: ${totalDropped(m)}`);
    c.close();
  } finally {
    await h.close();
  }
});

test("a fragmented request over the pty, each fragment in its own write", TIMEOUT, async () => {
  const h = await ptyServer({ limits: { maxPayloadBytes: 256 } });
  try {
    await h.server.whenOpen();
    const raw = new RawPeer(h.peer);
    await raw.authenticate(TEST_PSK, undefined, 256);
    const n = raw.frames.length;
    for (const f of fragment(FrameType.REQUEST, 9, 0, encodeJson({ method: "echo", params: { text: "p".repeat(1000) } }), 256)) {
      await raw.write(encodeFrame(f));
      await sleep(5);
    }
    const parts: Uint8Array[] = [];
    await raw.waitFor((f) => f.type === FrameType.RESULT && f.requestId === 9 && f.flags === 0, 10_000, n);
    for (const f of raw.frames.slice(n).filter((x) => x.type === FrameType.RESULT)) parts.push(f.payload);
    assert.deepEqual(JSON.parse(Buffer.concat(parts).toString()) as Obj, { text: "p".repeat(1000) });
  } finally {
    await h.close();
  }
});
