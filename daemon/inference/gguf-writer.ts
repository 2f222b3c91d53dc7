// A GGUF v3 encoder: metadata and tensors in, file bytes out. Pure (no I/O).
//
// Layout (ggml docs/gguf.md, "File Structure"), all little-endian:
//   u32 magic "GGUF" · u32 version (3) · u64 tensor_count · u64 metadata_kv_count
//   metadata_kv_count × { gguf_string key · u32 value_type · value }
//   tensor_count × { gguf_string name · u32 n_dims · u64 ne[n_dims] · u32 ggml_type · u64 offset }
//   padding to `general.alignment` · tensor data, each tensor padded to the alignment
// gguf_string = u64 byte length + UTF-8 bytes (no terminator).
// Offsets are relative to the start of the data section and are exactly the
// running sum of padded tensor sizes (llama.cpp rejects any other layout).

import { Q8_0_BLOCK, quantizeQ8_0 } from "./ggml-q8.js";

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** gguf_metadata_value_type (gguf.md). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** The ggml tensor types this writer emits. */
export const GgmlTensorType = { F32: 0, Q8_0: 8 } as const;

export type GgufValue =
  | { type: "u32"; value: number }
  | { type: "i32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "string[]"; value: readonly string[] }
  | { type: "i32[]"; value: readonly number[] };

export interface GgufTensor {
  name: string;
  /** Dimensions in ggml order: ne[0] is the contiguous (input) dimension. */
  dims: readonly number[];
  data: Float32Array;
  /** How the values are stored: "f32" (default), or "q8_0" (ne[0] must be a multiple of 32). */
  storage?: "f32" | "q8_0";
}

/** The tensor's bytes as stored in the file. */
function tensorBytes(t: GgufTensor): Uint8Array {
  if (t.storage === "q8_0") return quantizeQ8_0(t.data);
  const bytes = new Uint8Array(t.data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < t.data.length; i++) view.setFloat32(i * 4, t.data[i]!, true);
  return bytes;
}

/** Grows a byte buffer as it is written; little-endian throughout. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f32(v: number): void {
    this.reserve(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`u64 out of range: ${v}`);
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  padTo(alignment: number): void {
    while (this.length % alignment !== 0) this.u8(0);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function writeValue(out: ByteSink, v: GgufValue): void {
  switch (v.type) {
    case "u32":
      out.u32(GgufValueType.UINT32);
      out.u32(v.value);
      return;
    case "i32":
      out.u32(GgufValueType.INT32);
      out.i32(v.value);
      return;
    case "f32":
      out.u32(GgufValueType.FLOAT32);
      out.f32(v.value);
      return;
    case "bool":
      out.u32(GgufValueType.BOOL);
      out.u8(v.value ? 1 : 0);
      return;
    case "string":
      out.u32(GgufValueType.STRING);
      out.string(v.value);
      return;
    case "string[]":
      out.u32(GgufValueType.ARRAY);
      out.u32(GgufValueType.STRING);
      out.u64(v.value.length);
      for (const s of v.value) out.string(s);
      return;
    case "i32[]":
      out.u32(GgufValueType.ARRAY);
      out.u32(GgufValueType.INT32);
      out.u64(v.value.length);
      for (const n of v.value) out.i32(n);
      return;
  }
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/**
 * Encodes a GGUF v3 file. Metadata keys are written in the order given, so the
 * same input always gives the same bytes. `general.alignment` is added when the
 * alignment is not the default.
 */
export function encodeGguf(
  metadata: ReadonlyArray<readonly [string, GgufValue]>,
  tensors: readonly GgufTensor[],
  alignment: number = GGUF_DEFAULT_ALIGNMENT,
): Uint8Array {
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
    throw new RangeError(`alignment must be a positive multiple of 8, got ${alignment}`);
  }
  const kv = [...metadata];
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && !kv.some(([k]) => k === "general.alignment")) {
    kv.push(["general.alignment", { type: "u32", value: alignment }]);
  }
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new Error(`duplicate tensor name ${t.name}`);
    names.add(t.name);
    const elements = t.dims.reduce((a, b) => a * b, 1);
    if (elements !== t.data.length) {
      throw new Error(`tensor ${t.name}: dims ${t.dims.join("×")} hold ${elements} elements, data has ${t.data.length}`);
    }
    if (t.storage === "q8_0" && (t.dims[0] ?? 0) % Q8_0_BLOCK !== 0) {
      throw new Error(`tensor ${t.name}: Q8_0 needs rows of a multiple of ${Q8_0_BLOCK} values, ne[0] is ${t.dims[0]}`);
    }
  }
  const data = tensors.map(tensorBytes);

  const out = new ByteSink();
  out.u32(GGUF_MAGIC);
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(kv.length);
  for (const [key, value] of kv) {
    out.string(key);
    writeValue(out, value);
  }
  let offset = 0;
  tensors.forEach((t, i) => {
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(t.storage === "q8_0" ? GgmlTensorType.Q8_0 : GgmlTensorType.F32);
    out.u64(offset);
    offset += alignUp(data[i]!.length, alignment);
  });
  out.padTo(alignment);
  for (const bytes of data) {
    out.bytes(bytes);
    out.padTo(alignment);
  }
  return out.result();
}
