// A strict reader of a GGUF file's header (ggml docs/gguf.md): magic, version,
// metadata and tensor infos, every length and count checked against the file's
// size and fixed limits. The engine runs it before handing a file to
// node-llama-cpp, whose own reader trusts the counts it reads: a file that is
// not GGUF at all made it loop for minutes. Pure core (bytes in, summary out);
// inspectGgufFile reads as much of the file's head as the header needs.
//
// Layout (little-endian): u32 magic "GGUF" · u32 version · u64 tensor_count ·
// u64 kv_count · kv_count × (string key, u32 type, value) · tensor_count ×
// (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset) ·
// padding to general.alignment · data. string = u64 length + UTF-8.

import { open } from "node:fs/promises";
import { SealboxError } from "../errors.js";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufValueType } from "./gguf-writer.js";

export const GGUF_LIMITS = {
  maxTensors: 1 << 16,
  maxKeys: 1 << 16,
  maxStringBytes: 1 << 20,
  maxArrayLength: 1 << 24,
  maxDims: 4, // GGML_MAX_DIMS
  /** The whole header (metadata + tensor infos); real models' are a few MiB (large vocabularies). */
  maxHeaderBytes: 256 << 20,
} as const;

/** [elements per block, bytes per block] of the ggml types whose size is checked against the file. */
const TYPE_BLOCK: Record<number, [number, number]> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  30: [1, 2], // BF16
};
const MAX_GGML_TYPE = 63;

export interface GgufTensorInfo {
  name: string;
  dims: number[];
  type: number;
  /** Relative to the data section. */
  offset: number;
}

export interface GgufSummary {
  version: number;
  alignment: number;
  /** Scalar and string metadata; arrays appear as their length only. */
  metadata: Map<string, string | number | boolean | bigint | { arrayLength: number }>;
  tensors: GgufTensorInfo[];
  /** Absolute offset of the data section. */
  dataOffset: number;
}

/** Thrown by the pure parser when the bytes given end before the header does. */
export class NeedMoreBytes extends Error {
  constructor(readonly atLeast: number) {
    super(`the GGUF header continues past byte ${atLeast}`);
  }
}

function malformed(message: string, offset: number): SealboxError {
  return new SealboxError("BAD_FORMAT", `not a valid GGUF file: ${message} (at byte ${offset})`, { details: { offset } });
}

class Cursor {
  off = 0;
  private readonly view: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly fileSizeBytes: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): void {
    if (this.off + n > this.fileSizeBytes) throw malformed(`${n} bytes needed but the file ends`, this.off);
    if (this.off + n > this.bytes.length) throw new NeedMoreBytes(this.off + n);
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.off++);
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.off, true);
    this.off += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.off, true);
    this.off += 8;
    return v;
  }
  /** A u64 that must be a count within `max`. */
  count(what: string, max: number): number {
    const at = this.off;
    const v = this.u64();
    if (v > BigInt(max)) throw malformed(`${what} ${v} is more than ${max}`, at);
    return Number(v);
  }
  string(what: string): string {
    const at = this.off;
    const n = this.count(`${what} length`, GGUF_LIMITS.maxStringBytes);
    this.need(n);
    const s = this.bytes.subarray(this.off, this.off + n);
    this.off += n;
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(s);
    } catch {
      throw malformed(`${what} is not UTF-8`, at);
    }
  }
  skip(n: number): void {
    this.need(n);
    this.off += n;
  }
}

const FIXED_SIZE: Record<number, number> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

function readScalar(c: Cursor, type: number): string | number | boolean | bigint {
  const at = c.off;
  const size = FIXED_SIZE[type]!;
  c.need(size);
  const view = new DataView(new Uint8Array(8).buffer);
  for (let i = 0; i < size; i++) view.setUint8(i, c.u8());
  switch (type) {
    case GgufValueType.UINT8:
      return view.getUint8(0);
    case GgufValueType.INT8:
      return view.getInt8(0);
    case GgufValueType.UINT16:
      return view.getUint16(0, true);
    case GgufValueType.INT16:
      return view.getInt16(0, true);
    case GgufValueType.UINT32:
      return view.getUint32(0, true);
    case GgufValueType.INT32:
      return view.getInt32(0, true);
    case GgufValueType.FLOAT32:
      return view.getFloat32(0, true);
    case GgufValueType.BOOL: {
      const b = view.getUint8(0);
      if (b > 1) throw malformed(`bool value ${b}`, at);
      return b === 1;
    }
    case GgufValueType.UINT64:
      return view.getBigUint64(0, true);
    case GgufValueType.INT64:
      return view.getBigInt64(0, true);
    default:
      return view.getFloat64(0, true);
  }
}

function readValue(c: Cursor, type: number, key: string): string | number | boolean | bigint | { arrayLength: number } {
  if (type === GgufValueType.STRING) return c.string(`value of ${key}`);
  if (type in FIXED_SIZE) return readScalar(c, type);
  if (type !== GgufValueType.ARRAY) throw malformed(`value type ${type} of ${key}`, c.off - 4);
  const itemType = c.u32();
  // The format allows arrays of arrays; no model key uses them, and refusing them bounds the work.
  if (itemType === GgufValueType.ARRAY) throw malformed(`nested array in ${key}`, c.off - 4);
  const n = c.count(`array length of ${key}`, GGUF_LIMITS.maxArrayLength);
  if (itemType in FIXED_SIZE) c.skip(n * FIXED_SIZE[itemType]!);
  else if (itemType === GgufValueType.STRING) for (let i = 0; i < n; i++) c.string(`${key}[${i}]`);
  else throw malformed(`array item type ${itemType} of ${key}`, c.off - 12);
  return { arrayLength: n };
}

/**
 * Parses the header from the file's first bytes. `fileSizeBytes` is the whole
 * file's size: lengths are checked against it. Throws NeedMoreBytes when
 * `bytes` ends before the header does, BAD_FORMAT when the header is invalid.
 */
export function parseGgufHeader(bytes: Uint8Array, fileSizeBytes: number): GgufSummary {
  const c = new Cursor(bytes, fileSizeBytes);
  if (c.u32() !== GGUF_MAGIC) throw malformed("no GGUF magic", 0);
  const version = c.u32();
  if (version !== 2 && version !== 3) throw malformed(`version ${version} (2 and 3 are supported)`, 4);
  const tensorCount = c.count("tensor count", GGUF_LIMITS.maxTensors);
  const keyCount = c.count("metadata key count", GGUF_LIMITS.maxKeys);
  const metadata: GgufSummary["metadata"] = new Map();
  for (let i = 0; i < keyCount; i++) {
    const at = c.off;
    const key = c.string("metadata key");
    if (metadata.has(key)) throw malformed(`duplicate key ${key}`, at);
    metadata.set(key, readValue(c, c.u32(), key));
  }
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const a = metadata.get("general.alignment");
  if (a !== undefined) {
    if (typeof a !== "number" || !Number.isInteger(a) || a < 1 || (a & (a - 1)) !== 0) throw malformed(`general.alignment ${String(a)} is not a power of two`, 0);
    alignment = a;
  }
  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const at = c.off;
    const name = c.string("tensor name");
    if (names.has(name)) throw malformed(`duplicate tensor ${name}`, at);
    names.add(name);
    const nDims = c.u32();
    if (nDims < 1 || nDims > GGUF_LIMITS.maxDims) throw malformed(`tensor ${name} has ${nDims} dimensions`, c.off - 4);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const n = c.count(`dimension of ${name}`, Number.MAX_SAFE_INTEGER);
      if (n < 1) throw malformed(`tensor ${name} has an empty dimension`, c.off - 8);
      dims.push(n);
      elements *= n;
      if (elements > Number.MAX_SAFE_INTEGER) throw malformed(`tensor ${name} is too large`, at);
    }
    const type = c.u32();
    if (type > MAX_GGML_TYPE) throw malformed(`tensor ${name} has type ${type}`, c.off - 4);
    const offset = c.count(`offset of ${name}`, Number.MAX_SAFE_INTEGER);
    if (offset % alignment !== 0) throw malformed(`tensor ${name} offset ${offset} is not aligned to ${alignment}`, c.off - 8);
    tensors.push({ name, dims, type, offset });
  }
  const dataOffset = Math.ceil(c.off / alignment) * alignment;
  for (const t of tensors) {
    const block = TYPE_BLOCK[t.type];
    const elements = t.dims.reduce((x, y) => x * y, 1);
    const sizeBytes = block ? Math.ceil(elements / block[0]) * block[1] : 1;
    if (dataOffset + t.offset + sizeBytes > fileSizeBytes) {
      throw malformed(`tensor ${t.name} (${sizeBytes} bytes at ${dataOffset + t.offset}) runs past the end of the file (${fileSizeBytes} bytes)`, dataOffset + t.offset);
    }
  }
  return { version, alignment, metadata, tensors, dataOffset };
}

/** Reads and checks the header of a GGUF file, reading only as much of the file as it needs. */
export async function inspectGgufFile(path: string): Promise<GgufSummary> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    let length = Math.min(size, 1 << 20);
    for (;;) {
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh.read(buf, 0, length, 0);
      try {
        return parseGgufHeader(buf.subarray(0, bytesRead), size);
      } catch (e) {
        if (!(e instanceof NeedMoreBytes)) throw e;
        if (length >= GGUF_LIMITS.maxHeaderBytes) throw malformed(`header longer than ${GGUF_LIMITS.maxHeaderBytes} bytes`, length);
        length = Math.min(size, GGUF_LIMITS.maxHeaderBytes, Math.max(e.atLeast, length * 4));
      }
    }
  } finally {
    await fh.close();
  }
}
