import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { cobsDecode, cobsEncode, cobsFrame, CobsStreamDecoder } from "../../../daemon/diode/cobs.js";

function bytes(...xs: number[]): Uint8Array {
  return Uint8Array.from(xs);
}

function patterned(n: number, zeroEvery = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = zeroEvery > 0 && i % zeroEvery === 0 ? 0 : (i % 255) + 1;
  return b;
}

describe("COBS", () => {
  // Vectors from the COBS paper's examples and the usual edge cases.
  const vectors: [string, number[], number[]][] = [
    ["empty", [], [1]],
    ["one zero", [0], [1, 1]],
    ["two zeros", [0, 0], [1, 1, 1]],
    ["zero inside", [0x11, 0x22, 0x00, 0x33], [3, 0x11, 0x22, 2, 0x33]],
    ["no zeros", [0x11, 0x22, 0x33, 0x44], [5, 0x11, 0x22, 0x33, 0x44]],
    ["trailing zero", [0x11, 0, 0, 0], [2, 0x11, 1, 1, 1]],
  ];
  for (const [name, input, encoded] of vectors) {
    it(`encodes and decodes: ${name}`, () => {
      assert.deepEqual([...cobsEncode(bytes(...input))], encoded);
      assert.deepEqual([...cobsDecode(bytes(...encoded))!], input);
    });
  }

  it("round-trips lengths around the 254-byte group boundary, with and without zeros", () => {
    for (const n of [0, 1, 253, 254, 255, 256, 507, 508, 509, 1000, 70_000]) {
      for (const z of [0, 3, 254, 255]) {
        const input = patterned(n, z);
        const enc = cobsEncode(input);
        assert.equal(enc.includes(0), false, `n=${n} z=${z}: no zero in the encoding`);
        assert.ok(enc.length <= n + Math.ceil(n / 254) + 1);
        assert.deepEqual(cobsDecode(enc), input, `n=${n} z=${z}`);
      }
    }
  });

  it("rejects malformed encodings", () => {
    assert.equal(cobsDecode(bytes(5, 1, 2)), undefined); // group runs past the end
    assert.equal(cobsDecode(bytes(3, 1, 0)), undefined); // zero inside a group
    assert.equal(cobsDecode(bytes(0)), undefined); // zero code
  });

  it("splits a stream at every byte offset and recovers all frames, with garbage around them", () => {
    const frames = [patterned(10), patterned(300, 7), patterned(1), patterned(0), patterned(600, 255)].filter((f) => f.length > 0);
    // A sender starts the line with a delimiter, so garbage before it cannot merge with the first frame.
    const parts: Uint8Array[] = [bytes(0x41, 0x42, 0x43, 0), ...frames.map(cobsFrame), bytes(7, 7, 7)];
    const stream = Buffer.concat(parts);
    for (let cut = 0; cut <= stream.length; cut++) {
      const got: Uint8Array[] = [];
      const d = new CobsStreamDecoder((f) => got.push(f));
      d.push(stream.subarray(0, cut));
      d.push(stream.subarray(cut));
      // The leading garbage decodes as a (junk) frame or is malformed; the real frames all arrive intact.
      const real = got.filter((g) => frames.some((f) => Buffer.compare(Buffer.from(f), Buffer.from(g)) === 0));
      assert.equal(real.length, frames.length, `cut at ${cut}`);
    }
  });

  it("feeds byte by byte", () => {
    const frames = [patterned(5), patterned(400, 9)];
    const stream = Buffer.concat(frames.map(cobsFrame));
    const got: Uint8Array[] = [];
    const d = new CobsStreamDecoder((f) => got.push(f));
    for (const b of stream) d.push(bytes(b));
    assert.deepEqual(got.map((g) => [...g]), frames.map((f) => [...f]));
  });

  it("bounds memory: an endless run without a delimiter is dropped and counted, the next frame survives", () => {
    const got: Uint8Array[] = [];
    const d = new CobsStreamDecoder((f) => got.push(f), 1000);
    for (let i = 0; i < 100; i++) d.push(patterned(500));
    d.push(bytes(0));
    d.push(cobsFrame(patterned(20)));
    assert.equal(d.stats.oversized, 1);
    assert.deepEqual(got.map((g) => g.length), [20]);
  });

  it("counts malformed blocks and keeps going", () => {
    const got: Uint8Array[] = [];
    const d = new CobsStreamDecoder((f) => got.push(f));
    d.push(bytes(9, 1, 2, 0));
    d.push(cobsFrame(bytes(1, 2, 3)));
    assert.equal(d.stats.malformed, 1);
    assert.deepEqual(got.map((g) => [...g]), [[1, 2, 3]]);
  });
});
