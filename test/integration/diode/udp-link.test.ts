// The diode's UDP output on real loopback sockets: frames arrive whole and in
// order, backpressure says "wait" within a bounded queue and drains, a link
// with nobody listening counts its errors and keeps going, and only IP
// literals are accepted.

import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { openUdpLink } from "../../../daemon/diode/links.js";
import { ensureLoopback } from "../../helpers/loopback.js";

// Real UDP on 127.0.0.1: up even in a fresh `unshare -n` namespace.
before(ensureLoopback);

async function listener(): Promise<{ socket: Socket; port: number; got: Buffer[] }> {
  const socket = createSocket({ type: "udp4", recvBufferSize: 8 * 1024 * 1024 });
  const got: Buffer[] = [];
  socket.on("message", (m) => got.push(m));
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  return { socket, port: socket.address().port, got };
}

const frame = (i: number, size = 200): Uint8Array => {
  const b = new Uint8Array(size);
  new DataView(b.buffer).setUint32(0, i);
  b.fill(i & 0xff, 4);
  return b;
};

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("UDP diode link", () => {
  const closers: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  it("delivers every frame whole and in order, and counts them", async () => {
    const rx = await listener();
    closers.push(() => void rx.socket.close());
    const link = await openUdpLink({ host: "127.0.0.1", port: rx.port });
    closers.push(() => link.close());
    assert.equal(link.target, `127.0.0.1:${rx.port}`);
    // Fewer than one confirmation group (16) must still go out: nothing waits for a callback.
    for (let i = 0; i < 5; i++) link.send(frame(i));
    await until("5 frames", () => rx.got.length === 5);
    let sent = 5;
    const drained = (): Promise<void> => new Promise((r) => link.onDrain(r));
    while (sent < 2000) {
      if (!link.send(frame(sent++))) await drained();
    }
    await until("2000 frames", () => rx.got.length === 2000);
    rx.got.forEach((m, i) => {
      assert.equal(m.length, 200);
      assert.equal(m.readUInt32BE(0), i, `frame ${i} in order`);
      assert.equal(m[199], i & 0xff);
    });
    assert.equal(link.stats.framesSent, 2000);
    assert.equal(link.stats.bytesSent, 400_000);
    assert.equal(link.stats.sendErrors, 0);
  });

  it("says wait within maxInFlight plus one confirmation group, then drains", async () => {
    const rx = await listener();
    closers.push(() => void rx.socket.close());
    const link = await openUdpLink({ host: "127.0.0.1", port: rx.port, maxInFlight: 64 });
    closers.push(() => link.close());
    let drains = 0;
    link.onDrain(() => drains++);
    // No callback can run inside this synchronous loop, so the queue only grows.
    let accepted = 0;
    while (link.send(frame(accepted))) accepted++;
    accepted++; // the frame that got "wait" was taken too
    assert.ok(accepted >= 64 && accepted <= 64 + 15, `send said wait after ${accepted} frames`);
    await until("a drain", () => drains > 0);
    await until("every frame", () => rx.got.length === accepted);
    assert.ok(link.send(frame(accepted)), "after the drain the link takes frames again");
  });

  it("counts the errors of a link nobody listens to, and keeps sending", async () => {
    const probe = await listener();
    const port = probe.port;
    await new Promise<void>((r) => probe.socket.close(() => r()));
    const link = await openUdpLink({ host: "127.0.0.1", port });
    closers.push(() => link.close());
    // On loopback the kernel answers "port unreachable"; the connected socket reports it on later sends.
    for (let round = 0; round < 50 && link.stats.sendErrors === 0; round++) {
      for (let i = 0; i < 32; i++) link.send(frame(i));
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(link.stats.sendErrors > 0, "refusals are counted");
    assert.match(link.stats.lastError ?? "", /ECONNREFUSED/);
    assert.doesNotThrow(() => link.send(frame(0)));
  });

  it("accepts only IP literals and ports in range", async () => {
    for (const [host, port] of [["localhost", 9], ["example.invalid", 9], ["127.0.0.1", 0], ["127.0.0.1", 70000]] as const) {
      await assert.rejects(openUdpLink({ host, port }), (e: unknown) => isSealboxError(e) && e.code === "BAD_CONFIG", `${host}:${port}`);
    }
  });
});
