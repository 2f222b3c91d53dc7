import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { FrameDecoder, FrameType, FLAG_MORE, type Frame } from "../../../daemon/transports/serial-frames.js";
import { decodeJson, encodeJson } from "../../../daemon/transports/serial-messages.js";
import { newCounters } from "../../../daemon/transports/serial-metrics.js";
import { AnswerStream, Outbox } from "../../../daemon/transports/serial-outbox.js";
import type { JsonValue } from "../../../daemon/ledger/types.js";

function harness(writeDelayMs = 0) {
  const frames: Frame[] = [];
  const writes: number[] = [];
  const dec = new FrameDecoder(16384);
  const counters = newCounters();
  const failures: unknown[] = [];
  const outbox = new Outbox(
    async (bytes) => {
      writes.push(bytes.length);
      dec.push(bytes, (e) => {
        if (e.kind === "frame") frames.push(e.frame);
        else throw new Error(`drop ${e.reason}`);
      });
      if (writeDelayMs > 0) await sleep(writeDelayMs);
    },
    counters,
    (e) => failures.push(e),
  );
  return { frames, writes, outbox, counters, failures };
}

function chunksOf(frames: Frame[]): JsonValue[] {
  const out: JsonValue[] = [];
  let parts: Uint8Array[] = [];
  for (const f of frames.filter((x) => x.type === FrameType.CHUNK)) {
    parts.push(f.payload);
    if (f.flags & FLAG_MORE) continue;
    out.push(...(decodeJson(Buffer.concat(parts)) as JsonValue[]));
    parts = [];
  }
  return out;
}

test("text chunks pushed in a burst are merged into full frames; the text is intact", async () => {
  const h = harness();
  const s = new AnswerStream(h.outbox, 5, 256, 10);
  let text = "";
  for (let i = 0; i < 2000; i++) {
    const t = `t${i}é"\n `;
    text += t;
    s.push(t);
  }
  s.end(FrameType.RESULT, encodeJson({ done: true }));
  await sleep(20);
  const chunkFrames = h.frames.filter((f) => f.type === FrameType.CHUNK);
  assert.equal(chunksOf(h.frames).join(""), text);
  assert.ok(chunkFrames.every((f) => f.payload.length <= 256));
  const payloadBytes = chunkFrames.reduce((n, f) => n + f.payload.length, 0);
  assert.ok(payloadBytes / chunkFrames.length > 240, `frames are nearly full (${(payloadBytes / chunkFrames.length).toFixed(0)} bytes on average)`);
  assert.deepEqual(h.frames.map((f) => f.seq), h.frames.map((_, i) => i), "seq counts every frame of the request");
  assert.equal(h.frames.at(-1)!.type, FrameType.RESULT);
  assert.equal(h.counters.framesSent, h.frames.length);
});

test("object chunks are never merged; a chunk larger than a frame is fragmented with MORE", async () => {
  const h = harness();
  const s = new AnswerStream(h.outbox, 1, 256, 0);
  s.push({ a: 1 });
  s.push({ a: 2 });
  s.push("x".repeat(600));
  s.push(null);
  s.end(FrameType.RESULT, encodeJson(null));
  await sleep(20);
  assert.deepEqual(chunksOf(h.frames), [{ a: 1 }, { a: 2 }, "x".repeat(600), null]);
  assert.ok(h.frames.some((f) => f.flags & FLAG_MORE));
});

test("a lone chunk on an idle line goes out after coalesceMs; while a write is on the line, chunks wait for it", async () => {
  // The line is held by hand: a write completes only when the test releases it.
  const frames: Frame[] = [];
  const releases: (() => void)[] = [];
  const dec = new FrameDecoder(16384);
  const outbox = new Outbox(
    (bytes) => {
      dec.push(bytes, (e) => e.kind === "frame" && frames.push(e.frame));
      return new Promise<void>((r) => releases.push(r));
    },
    newCounters(),
    () => {},
  );
  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 2000 && !cond(); i++) await sleep(5);
    assert.ok(cond(), "condition reached");
  };
  const s = new AnswerStream(outbox, 2, 1024, 5);
  s.push("first");
  await until(() => releases.length === 1);
  for (let i = 0; i < 10; i++) {
    s.push(`w${i}`);
    await sleep(2);
  }
  await sleep(30);
  assert.equal(releases.length, 1, "nothing more is written while the first write is on the line");
  releases[0]!();
  await until(() => releases.length === 2);
  releases[1]!();
  assert.deepEqual(chunksOf(frames), ["first", "w0w1w2w3w4w5w6w7w8w9"], "the waiting chunks went out together");
});

test("a write failure closes the outbox and is reported once", async () => {
  const counters = newCounters();
  const failures: unknown[] = [];
  const o = new Outbox(async () => Promise.reject(new Error("EIO")), counters, (e) => failures.push(e));
  o.send([{ version: 1, type: FrameType.PONG, flags: 0, requestId: 0, seq: 0, payload: new Uint8Array(0) }]);
  await sleep(5);
  o.send([{ version: 1, type: FrameType.PONG, flags: 0, requestId: 0, seq: 1, payload: new Uint8Array(0) }]);
  await sleep(5);
  assert.equal(failures.length, 1);
  assert.equal(o.busy, false);
});

test("dispose drops pending chunks and ignores later pushes", async () => {
  const h = harness();
  const s = new AnswerStream(h.outbox, 3, 1024, 10);
  s.push("never");
  s.dispose();
  s.push("sent");
  s.end(FrameType.RESULT, encodeJson(1));
  await sleep(30);
  assert.equal(h.frames.length, 0);
});
