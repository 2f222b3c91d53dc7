// hal/serial's openSerialLink on a real pty pair: bytes both ways, bytes that
// arrive before a listener, the far end going away, close semantics, and
// the errors a wrong path or option gives.

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { isSealboxError } from "../../../daemon/errors.js";
import { openSerialLink } from "../../../hal/serial/index.js";
import { startPtyPair } from "../../helpers/socat.js";

const T = { timeout: 30_000 };

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await sleep(10);
  assert.ok(cond(), "condition reached");
}

test("bytes flow both ways, in order, and 1 MiB arrives intact", T, async () => {
  const pty = await startPtyPair();
  const a = await openSerialLink(pty.a);
  const b = await openSerialLink(pty.b, { baudRate: 9600, parity: "even", dataBits: 8, stopBits: 2 });
  try {
    const got: Uint8Array[] = [];
    b.onData((c) => got.push(c));
    const big = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7) & 0xff);
    await a.write(big);
    await until(() => got.reduce((n, c) => n + c.length, 0) >= big.length);
    assert.deepEqual(Buffer.concat(got), Buffer.from(big));
    const back: Uint8Array[] = [];
    a.onData((c) => back.push(c));
    await b.write(Uint8Array.of(1, 2, 3));
    await until(() => back.length > 0);
    assert.deepEqual([...Buffer.concat(back)], [1, 2, 3]);
  } finally {
    await a.close();
    await b.close();
    await pty.close();
  }
});

test("bytes that arrive before the first listener are kept for it; beyond the cap they are counted", T, async () => {
  const pty = await startPtyPair();
  const a = await openSerialLink(pty.a);
  const b = await openSerialLink(pty.b, { maxEarlyBytes: 1000 });
  try {
    await a.write(new Uint8Array(600).fill(5));
    await sleep(100);
    await a.write(new Uint8Array(600).fill(6));
    await until(() => b.droppedEarlyBytes > 0);
    const got: Uint8Array[] = [];
    b.onData((c) => got.push(c));
    assert.deepEqual(Buffer.concat(got), Buffer.alloc(600, 5));
    assert.equal(b.droppedEarlyBytes, 600);
  } finally {
    await a.close();
    await b.close();
    await pty.close();
  }
});

test("the far end going away closes the link with an error; writes then fail with SERIAL_ERROR", T, async () => {
  const pty = await startPtyPair();
  const a = await openSerialLink(pty.a);
  try {
    const seen: { closedWith: Error | undefined | null } = { closedWith: null };
    a.onData(() => {});
    a.onClose((e) => (seen.closedWith = e));
    await pty.close(); // at once: the read loop may not have started yet
    await until(() => seen.closedWith !== null);
    assert.ok(seen.closedWith instanceof Error, "closed with the reason");
    await assert.rejects(a.write(Uint8Array.of(1)), (e) => isSealboxError(e, "SERIAL_ERROR"));
    let late: Error | undefined | null = null;
    a.onClose((e) => (late = e));
    await until(() => late !== null);
    assert.equal(late, seen.closedWith, "a listener added after the close hears of it too");
  } finally {
    await a.close();
  }
});

test("close is idempotent, reports no error, and a second opener is refused while the port is locked", T, async () => {
  const pty = await startPtyPair();
  const a = await openSerialLink(pty.a);
  try {
    await assert.rejects(openSerialLink(pty.a), (e) => isSealboxError(e, "SERIAL_ERROR"));
    let closedWith: Error | undefined | null = null;
    a.onClose((e) => (closedWith = e));
    await Promise.all([a.close(), a.close()]);
    await a.close();
    assert.equal(closedWith, undefined);
    await assert.rejects(a.write(Uint8Array.of(1)), (e) => isSealboxError(e, "SERIAL_ERROR"));
    const again = await openSerialLink(pty.a);
    await again.close();
  } finally {
    await a.close();
    await pty.close();
  }
});

test("a missing device is SERIAL_ERROR; bad options are BAD_CONFIG", T, async () => {
  await assert.rejects(openSerialLink("/nonexistent/ttyX"), (e) => isSealboxError(e, "SERIAL_ERROR") && /\/nonexistent\/ttyX/.test(e.message));
  await assert.rejects(openSerialLink("/dev/null", { baudRate: 0 }), (e) => isSealboxError(e, "BAD_CONFIG"));
  await assert.rejects(openSerialLink("/dev/null", { parity: "sometimes" as never }), (e) => isSealboxError(e, "BAD_CONFIG"));
});
