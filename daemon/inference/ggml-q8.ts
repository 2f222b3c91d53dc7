// ggml's Q8_0 block quantization: what quantized models on the box are read
// as, and what lets the CPU path batch sequences the way a real model does
// (one pass over the int8 weights serves every sequence in the batch).
//
// A Q8_0 block (ggml-common.h, block_q8_0) covers 32 consecutive values of a
// row: u16 d (IEEE half, little-endian) · 32 × i8 q, value ≈ d × q.
// Quantizing as ggml's reference does: d = max|x| / 127, q = round(x / d)
// (halves away from zero), d = 0 when the block is all zeros.

export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary32 → binary16 bits, round to nearest even (as the F16C instruction ggml uses does). */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit 1 in, round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

/** binary16 bits → number. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Bytes of `count` values as Q8_0; `count` must be a multiple of 32 (ggml requires it per row). */
export function q8_0Bytes(count: number): number {
  if (count % Q8_0_BLOCK !== 0) throw new RangeError(`Q8_0 needs a multiple of ${Q8_0_BLOCK} values, got ${count}`);
  return (count / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
}

/** Quantizes `values` (a multiple of 32 long) to Q8_0 blocks. Pure and deterministic. */
export function quantizeQ8_0(values: Float32Array): Uint8Array {
  const out = new Uint8Array(q8_0Bytes(values.length));
  const view = new DataView(out.buffer);
  for (let b = 0, o = 0; b < values.length; b += Q8_0_BLOCK, o += Q8_0_BLOCK_BYTES) {
    let amax = 0;
    for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(values[b + i]!));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    view.setUint16(o, toHalfBits(d), true);
    for (let i = 0; i < Q8_0_BLOCK; i++) {
      const x = values[b + i]! * id;
      // C's roundf: halves away from zero (Math.round rounds them up).
      view.setInt8(o + 2 + i, Math.sign(x) * Math.round(Math.abs(x)));
    }
  }
  return out;
}

/** The inverse, for tests and readers: Q8_0 blocks → values. */
export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  if (bytes.length % Q8_0_BLOCK_BYTES !== 0) throw new RangeError(`Q8_0 data must be whole ${Q8_0_BLOCK_BYTES}-byte blocks, got ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array((bytes.length / Q8_0_BLOCK_BYTES) * Q8_0_BLOCK);
  for (let o = 0, v = 0; o < bytes.length; o += Q8_0_BLOCK_BYTES) {
    const d = fromHalfBits(view.getUint16(o, true));
    for (let i = 0; i < Q8_0_BLOCK; i++) out[v++] = d * view.getInt8(o + 2 + i);
  }
  return out;
}
