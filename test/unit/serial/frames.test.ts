import { test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeFrame,
  fragment,
  frameBytes,
  FrameDecoder,
  FrameType,
  FLAG_MORE,
  maxLineBytes,
  type DecodeEvent,
  type Frame,
} from "../../../daemon/transports/serial-frames.js";
import { cobsEncode, cobsMaxEncodedBytes } from "../../../daemon/transports/serial-cobs.js";
import { crc32c } from "../../../daemon/transports/serial-crc.js";

const enc = new TextEncoder();
const frame = (type: number, requestId: number, seq: number, payload: string | Uint8Array, flags = 0): Frame => ({
  version: 1,
  type,
  flags,
  requestId,
  seq,
  payload: typeof payload === "string" ? enc.encode(payload) : payload,
});

/** Fixtures named for what they exercise. */
const fixtures: [string, Frame][] = [
  ["empty-payload-ping", frame(FrameType.PING, 0, 0, "")],
  ["hello", frame(FrameType.HELLO, 0, 0, '{"versions":[1],"maxPayloadBytes":1024,"nonce":"' + "ab".repeat(32) + '"}')],
  ["request-with-zeros-in-header", frame(FrameType.REQUEST, 256, 0x01000000, '{"method":"echo","params":{"x":0}}')],
  ["payload-of-zeros", frame(FrameType.CHUNK, 1, 2, new Uint8Array(300))],
  ["payload-no-zeros-long", frame(FrameType.RESULT, 65535, 0xffffffff, new Uint8Array(1024).fill(0x41))],
  ["fragment-more-flag", frame(FrameType.REQUEST, 7, 3, "part", FLAG_MORE)],
];

function decodeAll(chunks: Uint8Array[], maxPayloadBytes = 1024): DecodeEvent[] {
  const d = new FrameDecoder(maxPayloadBytes);
  const out: DecodeEvent[] = [];
  for (const c of chunks) d.push(c, (e) => out.push(e));
  return out;
}

function frames(events: DecodeEvent[]): Frame[] {
  return events.filter((e): e is Extract<DecodeEvent, { kind: "frame" }> => e.kind === "frame").map((e) => e.frame);
}

function drops(events: DecodeEvent[]): string[] {
  return events.filter((e): e is Extract<DecodeEvent, { kind: "drop" }> => e.kind === "drop").map((e) => e.reason);
}

test("a frame on the line is 0x00, COBS of header+payload+CRC, 0x00", () => {
  const f = frame(FrameType.PING, 0, 0, "");
  const raw = frameBytes(f);
  assert.deepEqual([...raw.subarray(0, 11)], [1, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(Buffer.from(raw.subarray(11)).readUInt32BE(0), crc32c(raw, 0, 11));
  const line = encodeFrame(f);
  assert.equal(line[0], 0);
  assert.equal(line[line.length - 1], 0);
  assert.ok(!line.subarray(1, -1).includes(0));
  assert.ok(line.length <= maxLineBytes(0));
});

for (const [name, f] of fixtures) {
  test(`fixture ${name}: decodes whole, byte by byte, and split at every offset`, () => {
    const line = encodeFrame(f);
    assert.deepEqual(frames(decodeAll([line])), [f]);
    assert.deepEqual(frames(decodeAll([...line].map((b) => Uint8Array.of(b)))), [f]);
    for (let cut = 1; cut < line.length; cut++) {
      const ev = decodeAll([line.subarray(0, cut), line.subarray(cut)]);
      assert.deepEqual(frames(ev), [f], `split at ${cut}`);
      assert.deepEqual(drops(ev), [], `split at ${cut}`);
    }
  });

  test(`fixture ${name}: garbage before, between and after is dropped and counted, frames survive`, () => {
    const line = encodeFrame(f);
    const garbage = Uint8Array.from([0x41, 0x42, 0xff, 0x13, 0x37]);
    const stream = Buffer.concat([garbage, line, garbage, line, garbage]);
    for (let cut = 0; cut <= stream.length; cut += 3) {
      const ev = decodeAll([stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(frames(ev), [f, f]);
      // The garbage before each frame is closed off by the frame's leading 0x00; the trailing garbage has no delimiter yet.
      assert.equal(drops(ev).length, 2, `cut ${cut}: ${drops(ev).join(",")}`);
    }
  });

  test(`fixture ${name}: every truncation is dropped, never a wrong frame`, () => {
    const line = encodeFrame(f);
    for (let len = 2; len < line.length - 1; len++) {
      const truncated = Buffer.concat([line.subarray(0, len), Uint8Array.of(0)]);
      const ev = decodeAll([truncated]);
      assert.deepEqual(frames(ev), [], `truncated to ${len}`);
      assert.equal(drops(ev).length, 1, `truncated to ${len}`);
    }
  });
}

test("every single-bit corruption of a frame is dropped (CRC-32C catches all 1-bit errors)", () => {
  const line = encodeFrame(frame(FrameType.REQUEST, 3, 0, '{"method":"echo"}'));
  for (let i = 1; i < line.length - 1; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = line.slice();
      bad[i]! ^= 1 << bit;
      const ev = decodeAll([bad]);
      assert.deepEqual(frames(ev), [], `byte ${i} bit ${bit}`);
      assert.ok(drops(ev).length >= 1, `byte ${i} bit ${bit} must be counted`);
    }
  }
});

test("a CRC-valid frame whose length field disagrees is dropped as 'length'", () => {
  const raw = frameBytes(frame(FrameType.PING, 0, 0, "abcd"));
  raw[10] = 3; // says 3 payload bytes, has 4
  new DataView(raw.buffer).setUint32(raw.length - 4, crc32c(raw, 0, raw.length - 4));
  const out = new Uint8Array(cobsMaxEncodedBytes(raw.length) + 2);
  const n = cobsEncode(raw, out, 1);
  assert.deepEqual(drops(decodeAll([out.subarray(0, n + 2)])), ["length"]);
});

test("a frame shorter than header+CRC is dropped as 'short'", () => {
  const out = new Uint8Array(20);
  const n = cobsEncode(Uint8Array.of(1, 2, 3), out, 1);
  assert.deepEqual(drops(decodeAll([out.subarray(0, n + 2)])), ["short"]);
});

test("oversize: a payload over the limit, and an endless run without delimiter, are dropped; memory stays fixed", () => {
  assert.deepEqual(drops(decodeAll([encodeFrame(frame(FrameType.RESULT, 1, 0, new Uint8Array(300).fill(1)))], 256)), ["oversize"]);
  const d = new FrameDecoder(256);
  const ev: DecodeEvent[] = [];
  const junk = new Uint8Array(4096).fill(0x55);
  for (let i = 0; i < 256; i++) d.push(junk, (e) => ev.push(e)); // 1 MiB without a 0x00
  assert.equal(ev.length, 0, "nothing is emitted before the delimiter");
  d.push(Uint8Array.of(0), (e) => ev.push(e));
  assert.deepEqual(drops(ev), ["oversize"]);
  assert.equal(ev[0]!.lineBytes, 1024 * 1024 + 1);
  const good = frame(FrameType.PING, 0, 1, "");
  d.push(encodeFrame(good), (e) => ev.push(e));
  assert.deepEqual(frames(ev), [good], "back in step after the oversize run");
});

test("zeros alone are idle fill: neither frames nor drops", () => {
  assert.deepEqual(decodeAll([new Uint8Array(100)]), []);
});

test("fragment splits a message into frames of at most the limit with MORE on all but the last", () => {
  const payload = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  const fs = fragment(FrameType.RESULT, 9, 5, payload, 256);
  assert.deepEqual(fs.map((f) => [f.seq, f.flags, f.payload.length]), [[5, 1, 256], [6, 1, 256], [7, 1, 256], [8, 0, 232]]);
  assert.deepEqual(Buffer.concat(fs.map((f) => f.payload)), Buffer.from(payload));
  assert.equal(fragment(FrameType.RESULT, 9, 0, new Uint8Array(0), 256).length, 1, "an empty message is one frame");
  assert.equal(fragment(FrameType.RESULT, 9, 0, new Uint8Array(256), 256).length, 1, "exactly the limit is one frame");
});

test("hostile input: random bytes never throw and never yield a frame that fails re-encoding", () => {
  let seed = 42;
  const rnd = (): number => (seed = (seed * 1664525 + 1013904223) >>> 0) >>> 24;
  const d = new FrameDecoder(1024);
  let got = 0;
  for (let i = 0; i < 2000; i++) {
    const chunk = Uint8Array.from({ length: 1 + (rnd() % 64) }, () => (rnd() < 16 ? 0 : rnd()));
    d.push(chunk, (e) => {
      if (e.kind === "frame") {
        got++;
        assert.deepEqual(frames(decodeAll([encodeFrame(e.frame)])), [e.frame], "a frame that passed the checks re-encodes to itself");
      }
    });
  }
  assert.ok(got <= 1, "random bytes pass CRC-32C essentially never");
});
