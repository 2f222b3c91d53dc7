import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dequantizeQ8_0, fromHalfBits, quantizeQ8_0, Q8_0_BLOCK_BYTES, toHalfBits } from "../../../daemon/inference/ggml-q8.js";

describe("IEEE half conversion", () => {
  it("matches known binary16 encodings", () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite half
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [1 / 3, 0x3555],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [value, bits] of cases) assert.equal(toHalfBits(value), bits, `toHalfBits(${value})`);
    assert.equal(toHalfBits(Number.NaN) & 0x7c00, 0x7c00);
    assert.ok(toHalfBits(Number.NaN) & 0x3ff);
  });

  it("rounds to nearest, ties to even, and overflows to infinity", () => {
    assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00); // tie, even stays
    assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02); // tie, odd rounds up
    assert.equal(toHalfBits(1 + 2 ** -11 + 2 ** -20), 0x3c01); // above the tie
    assert.equal(toHalfBits(65520), 0x7c00); // rounds past the largest finite
    assert.equal(toHalfBits(2 ** -26), 0x0000); // below half the smallest subnormal
    assert.equal(toHalfBits(3 * 2 ** -26), 0x0001);
  });

  it("round-trips every finite half", () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      const back = toHalfBits(fromHalfBits(h));
      // ±0 are the only two encodings of one value.
      assert.equal(back, h, `half 0x${h.toString(16)}`);
    }
  });
});

describe("Q8_0 blocks", () => {
  it("stores a scale of max|x|/127 and codes rounded half away from zero", () => {
    const values = new Float32Array(32);
    for (let i = 0; i < 32; i++) values[i] = i - 16; // −16…15: max|x| 16
    const bytes = quantizeQ8_0(values);
    assert.equal(bytes.length, Q8_0_BLOCK_BYTES);
    const view = new DataView(bytes.buffer);
    assert.equal(view.getUint16(0, true), toHalfBits(16 / 127));
    assert.equal(view.getInt8(2), -127); // −16
    assert.equal(view.getInt8(2 + 16), 0);
    assert.equal(view.getInt8(2 + 31), Math.round(15 * (127 / 16)));
    // 0.5/d lands exactly on a tie when d = 1/127·…: use a block whose max is 127 so d = 1.
    const ties = new Float32Array(32);
    ties[0] = 127;
    ties[1] = 2.5;
    ties[2] = -2.5;
    const t = new DataView(quantizeQ8_0(ties).buffer);
    assert.equal(t.getInt8(3), 3);
    assert.equal(t.getInt8(4), -3);
  });

  // Half a step from rounding the code, plus the half-precision scale's own error (2^-11 relative) times the largest code.
  it("reconstructs within half a step of the block's scale", () => {
    let s = 12345;
    const values = new Float32Array(32 * 64);
    for (let i = 0; i < values.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      values[i] = (s / 2 ** 32 - 0.5) * (1 + (i >> 5)); // a different range per block
    }
    const back = dequantizeQ8_0(quantizeQ8_0(values));
    for (let b = 0; b < values.length; b += 32) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(values[b + i]!));
      const step = amax / 127;
      for (let i = 0; i < 32; i++) assert.ok(Math.abs(back[b + i]! - values[b + i]!) <= step * 0.5 + step * 127 * 2 ** -11 + 1e-7, `value ${b + i}`);
    }
  });

  it("codes an all-zero block as zeros with a zero scale", () => {
    assert.deepEqual([...quantizeQ8_0(new Float32Array(32))], new Array(Q8_0_BLOCK_BYTES).fill(0));
  });

  it("refuses lengths that are not whole blocks", () => {
    assert.throws(() => quantizeQ8_0(new Float32Array(33)), /multiple of 32/);
    assert.throws(() => dequantizeQ8_0(new Uint8Array(35)), /34-byte blocks/);
  });
});
