import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { buildDemoGguf } from "../../../daemon/inference/demo-gguf.js";
import { GGUF_LIMITS, NeedMoreBytes, parseGgufHeader } from "../../../daemon/inference/gguf-reader.js";
import { encodeGguf, GgufValueType } from "../../../daemon/inference/gguf-writer.js";

const isBad = (re?: RegExp) => (e: unknown) => isSealboxError(e, "BAD_FORMAT") && (re === undefined || re.test(e.message));

/** A small valid file to mutate: two keys, two tensors. */
const small = encodeGguf(
  [
    ["general.architecture", { type: "string", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "string[]", value: ["a", "b"] }],
  ],
  [
    { name: "w", dims: [4, 2], data: new Float32Array(8) },
    { name: "n", dims: [4], data: new Float32Array(4) },
  ],
);

function patch(bytes: Uint8Array, offset: number, write: (v: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  write(new DataView(copy.buffer, offset));
  return copy;
}

describe("parseGgufHeader", () => {
  it("reads the demo model: version, alignment, metadata, tensors, data offset", () => {
    const bytes = buildDemoGguf();
    const s = parseGgufHeader(bytes, bytes.length);
    assert.equal(s.version, 3);
    assert.equal(s.alignment, 32);
    assert.equal(s.metadata.get("general.architecture"), "llama");
    assert.equal(s.metadata.get("llama.block_count"), 2);
    assert.equal(s.metadata.get("tokenizer.ggml.add_bos_token"), false);
    assert.deepEqual(s.metadata.get("tokenizer.ggml.merges"), { arrayLength: 104 });
    assert.equal(s.tensors.length, 21);
    assert.deepEqual(s.tensors[0], { name: "token_embd.weight", dims: [64, 363], type: 0, offset: 0 });
    assert.equal(s.dataOffset % 32, 0);
    const last = s.tensors[s.tensors.length - 1]!;
    assert.equal(s.dataOffset + last.offset + last.dims.reduce((a, b) => a * b, 1) * 4, bytes.length);
  });

  it("asks for more bytes (never guesses) at every cut inside the header, and succeeds once it has them", () => {
    const bytes = buildDemoGguf();
    const full = parseGgufHeader(bytes, bytes.length);
    for (let cut = 0; cut < full.dataOffset - 31; cut++) {
      assert.throws(
        () => parseGgufHeader(bytes.subarray(0, cut), bytes.length),
        (e: unknown) => e instanceof NeedMoreBytes && e.atLeast > cut,
        `cut at ${cut}`,
      );
    }
    assert.deepEqual(parseGgufHeader(bytes.subarray(0, full.dataOffset), bytes.length).tensors, full.tensors);
  });

  it("refuses a file truncated anywhere before its last tensor's data ends", () => {
    // The padding after the last tensor is not data: llama.cpp only needs offset + size within the file.
    const end = small.length - 16;
    assert.equal(parseGgufHeader(small.subarray(0, end), end).tensors.length, 2);
    for (let size = 0; size < end; size++) {
      assert.throws(() => parseGgufHeader(small.subarray(0, size), size), isBad(), `size ${size}`);
    }
    assert.equal(parseGgufHeader(small, small.length).tensors.length, 2);
  });

  it("refuses garbage, other magics and versions", () => {
    const text = new TextEncoder().encode("GGUF but not really, just text padding padding padding");
    assert.throws(() => parseGgufHeader(text, text.length), isBad(/version/));
    assert.throws(() => parseGgufHeader(patch(small, 0, (v) => v.setUint32(0, 0x46554746, true)), small.length), isBad(/magic/));
    assert.throws(() => parseGgufHeader(patch(small, 4, (v) => v.setUint32(0, 1, true)), small.length), isBad(/version 1/));
    assert.throws(() => parseGgufHeader(new Uint8Array(64), 64), isBad(/magic/));
  });

  it("refuses counts and lengths beyond the limits or the file, without allocating for them", () => {
    assert.throws(() => parseGgufHeader(patch(small, 8, (v) => v.setBigUint64(0, 2n ** 63n, true)), small.length), isBad(/tensor count/));
    assert.throws(() => parseGgufHeader(patch(small, 16, (v) => v.setBigUint64(0, BigInt(GGUF_LIMITS.maxKeys + 1), true)), small.length), isBad(/key count/));
    // First key's length: huge, then just past the file.
    assert.throws(() => parseGgufHeader(patch(small, 24, (v) => v.setBigUint64(0, 2n ** 40n, true)), small.length), isBad(/length/));
    assert.throws(() => parseGgufHeader(patch(small, 24, (v) => v.setBigUint64(0, BigInt(small.length), true)), small.length), isBad(/file ends/));
    // More keys than there are: runs into the tensor infos and fails cleanly.
    assert.throws(() => parseGgufHeader(patch(small, 16, (v) => v.setBigUint64(0, 50n, true)), small.length), isBad());
  });

  it("refuses bad value types, bad bools, non-UTF-8 strings and nested arrays", () => {
    const keyLen = "general.architecture".length;
    const typeAt = 24 + 8 + keyLen;
    assert.throws(() => parseGgufHeader(patch(small, typeAt, (v) => v.setUint32(0, 13, true)), small.length), isBad(/value type 13/));
    const b = encodeGguf([["flag", { type: "bool", value: true }]], []);
    // header 24 · key "flag" (8 + 4) · type 4 · value at 40 (the file is then padded to 32).
    assert.throws(() => parseGgufHeader(patch(b, 40, (v) => v.setUint8(0, 2)), b.length), isBad(/bool value 2/));
    const s = encodeGguf([["k", { type: "string", value: "ab" }]], []);
    // header 24 · key "k" (8 + 1) · type 4 · length 8 · "ab" at 45.
    assert.throws(() => parseGgufHeader(patch(s, 45, (v) => v.setUint8(0, 0xff)), s.length), isBad(/not UTF-8/));
    const arr = encodeGguf([["k", { type: "i32[]", value: [1] }]], []);
    const itemTypeAt = 24 + 8 + 1 + 4;
    assert.throws(() => parseGgufHeader(patch(arr, itemTypeAt, (v) => v.setUint32(0, GgufValueType.ARRAY, true)), arr.length), isBad(/nested array/));
    const dup = encodeGguf([["k", { type: "u32", value: 1 }], ["k", { type: "u32", value: 2 }]], []);
    assert.throws(() => parseGgufHeader(dup, dup.length), isBad(/duplicate key/));
  });

  it("refuses bad tensor infos: dimensions, types, alignment, data outside the file", () => {
    const parsed = parseGgufHeader(small, small.length);
    // Find the first tensor info: after the metadata; its n_dims follows the name "w".
    const nameAt = parsed.dataOffset - 200 > 0 ? small.indexOf(0x77, 24) : -1; // 'w'
    let infoAt = -1;
    for (let i = 24; i < parsed.dataOffset; i++) {
      if (small[i] === 0x77 && new DataView(small.buffer, i - 8).getBigUint64(0, true) === 1n) {
        infoAt = i + 1;
        break;
      }
    }
    assert.ok(nameAt > 0 && infoAt > 0);
    assert.throws(() => parseGgufHeader(patch(small, infoAt, (v) => v.setUint32(0, 5, true)), small.length), isBad(/5 dimensions/));
    assert.throws(() => parseGgufHeader(patch(small, infoAt, (v) => v.setUint32(0, 0, true)), small.length), isBad(/0 dimensions/));
    assert.throws(() => parseGgufHeader(patch(small, infoAt + 4, (v) => v.setBigUint64(0, 0n, true)), small.length), isBad(/empty dimension/));
    assert.throws(() => parseGgufHeader(patch(small, infoAt + 4, (v) => v.setBigUint64(0, 2n ** 60n, true)), small.length), isBad());
    assert.throws(() => parseGgufHeader(patch(small, infoAt + 20, (v) => v.setUint32(0, 99, true)), small.length), isBad(/type 99/));
    assert.throws(() => parseGgufHeader(patch(small, infoAt + 24, (v) => v.setBigUint64(0, 4n, true)), small.length), isBad(/not aligned/));
    assert.throws(() => parseGgufHeader(patch(small, infoAt + 24, (v) => v.setBigUint64(0, 1024n, true)), small.length), isBad(/past the end/));
    assert.throws(() => parseGgufHeader(patch(small, infoAt + 4, (v) => v.setBigUint64(0, 400n, true)), small.length), isBad(/past the end/));
  });

  it("refuses an alignment that is not a power of two", () => {
    const b = encodeGguf([["general.alignment", { type: "u32", value: 24 }]], []);
    assert.throws(() => parseGgufHeader(b, b.length), isBad(/power of two/));
  });
});
