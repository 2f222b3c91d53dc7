import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GGUF_MAGIC, encodeGguf, GgufValueType } from "../../../daemon/inference/gguf-writer.js";

/** Reads a gguf_string at `off`: [text, next offset]. */
function readString(view: DataView, bytes: Uint8Array, off: number): [string, number] {
  const n = Number(view.getBigUint64(off, true));
  return [new TextDecoder().decode(bytes.subarray(off + 8, off + 8 + n)), off + 8 + n];
}

describe("encodeGguf", () => {
  const t1 = { name: "a", dims: [3], data: new Float32Array([1, 2, 3]) };
  const t2 = { name: "b", dims: [2, 2], data: new Float32Array([-1, 0.5, 0, 4]) };
  const bytes = encodeGguf([["general.architecture", { type: "string", value: "llama" }], ["x.n", { type: "u32", value: 7 }]], [t1, t2], 32);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  it("writes the v3 header: magic, version, tensor and key counts", () => {
    assert.equal(view.getUint32(0, true), GGUF_MAGIC);
    assert.deepEqual([...bytes.subarray(0, 4)], [0x47, 0x47, 0x55, 0x46]); // "GGUF"
    assert.equal(view.getUint32(4, true), 3);
    assert.equal(view.getBigUint64(8, true), 2n);
    assert.equal(view.getBigUint64(16, true), 2n);
  });

  it("writes keys, typed values and tensor infos with consecutive aligned offsets, then aligned data", () => {
    let off = 24;
    let key: string;
    [key, off] = readString(view, bytes, off);
    assert.equal(key, "general.architecture");
    assert.equal(view.getUint32(off, true), GgufValueType.STRING);
    let value: string;
    [value, off] = readString(view, bytes, off + 4);
    assert.equal(value, "llama");
    [key, off] = readString(view, bytes, off);
    assert.equal(key, "x.n");
    assert.equal(view.getUint32(off, true), GgufValueType.UINT32);
    assert.equal(view.getUint32(off + 4, true), 7);
    off += 8;
    const infos: { name: string; dims: number[]; offset: number }[] = [];
    for (let i = 0; i < 2; i++) {
      let name: string;
      [name, off] = readString(view, bytes, off);
      const nd = view.getUint32(off, true);
      off += 4;
      const dims: number[] = [];
      for (let d = 0; d < nd; d++, off += 8) dims.push(Number(view.getBigUint64(off, true)));
      assert.equal(view.getUint32(off, true), 0, "F32");
      infos.push({ name, dims, offset: Number(view.getBigUint64(off + 4, true)) });
      off += 12;
    }
    assert.deepEqual(infos, [
      { name: "a", dims: [3], offset: 0 },
      { name: "b", dims: [2, 2], offset: 32 }, // 12 bytes padded to 32
    ]);
    const dataStart = Math.ceil(off / 32) * 32;
    assert.deepEqual(bytes.subarray(off, dataStart), new Uint8Array(dataStart - off), "zero padding");
    assert.deepEqual([1, 2, 3].map((_, i) => view.getFloat32(dataStart + i * 4, true)), [1, 2, 3]);
    assert.deepEqual([0, 1, 2, 3].map((i) => view.getFloat32(dataStart + 32 + i * 4, true)), [-1, 0.5, 0, 4]);
    assert.equal(bytes.length, dataStart + 64, "last tensor padded too");
  });

  it("is deterministic", () => {
    const again = encodeGguf([["general.architecture", { type: "string", value: "llama" }], ["x.n", { type: "u32", value: 7 }]], [t1, t2], 32);
    assert.deepEqual(again, bytes);
  });

  it("encodes arrays, bools, i32 and f32", () => {
    const b = encodeGguf(
      [
        ["s", { type: "string[]", value: ["p", "qq"] }],
        ["i", { type: "i32[]", value: [-1, 2] }],
        ["t", { type: "bool", value: true }],
        ["f", { type: "f32", value: 0.5 }],
        ["n", { type: "i32", value: -5 }],
      ],
      [],
    );
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let off = 24;
    [, off] = readString(v, b, off);
    assert.equal(v.getUint32(off, true), GgufValueType.ARRAY);
    assert.equal(v.getUint32(off + 4, true), GgufValueType.STRING);
    assert.equal(v.getBigUint64(off + 8, true), 2n);
    off += 16;
    let s: string;
    [s, off] = readString(v, b, off);
    assert.equal(s, "p");
    [s, off] = readString(v, b, off);
    assert.equal(s, "qq");
    [, off] = readString(v, b, off);
    assert.deepEqual([v.getUint32(off, true), v.getUint32(off + 4, true), v.getBigUint64(off + 8, true)], [GgufValueType.ARRAY, GgufValueType.INT32, 2n]);
    assert.deepEqual([v.getInt32(off + 16, true), v.getInt32(off + 20, true)], [-1, 2]);
    off += 24;
    [, off] = readString(v, b, off);
    assert.deepEqual([v.getUint32(off, true), v.getUint8(off + 4)], [GgufValueType.BOOL, 1]);
    off += 5;
    [, off] = readString(v, b, off);
    assert.deepEqual([v.getUint32(off, true), v.getFloat32(off + 4, true)], [GgufValueType.FLOAT32, 0.5]);
    off += 8;
    [, off] = readString(v, b, off);
    assert.deepEqual([v.getUint32(off, true), v.getInt32(off + 4, true)], [GgufValueType.INT32, -5]);
  });

  it("adds general.alignment when it is not the default", () => {
    const b = encodeGguf([], [t1], 64);
    const text = new TextDecoder("latin1").decode(b);
    assert.ok(text.includes("general.alignment"));
    assert.equal(new DataView(b.buffer).getBigUint64(16, true), 1n);
    assert.equal(b.length % 64, 0);
  });

  it("refuses tensors whose data does not fill their dims, duplicate names and bad alignments", () => {
    assert.throws(() => encodeGguf([], [{ name: "x", dims: [2, 2], data: new Float32Array(3) }]), /hold 4 elements, data has 3/);
    assert.throws(() => encodeGguf([], [t1, { ...t1 }]), /duplicate tensor name a/);
    assert.throws(() => encodeGguf([], [t1], 12), /alignment/);
    assert.throws(() => encodeGguf([], [t1], 0), /alignment/);
  });
});
