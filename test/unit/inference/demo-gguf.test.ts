import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { buildByteBpeVocab, byteToUnicode, CONTROL_TOKENS, TokenType } from "../../../daemon/inference/byte-bpe-vocab.js";
import { buildDemoGguf } from "../../../daemon/inference/demo-gguf.js";
import { parseGgufHeader } from "../../../daemon/inference/gguf-reader.js";

const readGgufHeader = (b: Uint8Array) => parseGgufHeader(b, b.length);

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

describe("byte-level BPE vocabulary", () => {
  it("maps the 256 bytes to 256 distinct single code points, printable ones to themselves", () => {
    const map = byteToUnicode();
    assert.equal(new Set(map).size, 256);
    assert.equal(map[0x41], "A");
    assert.equal(map[0x20], "\u0120"); // space → Ġ, as in GPT-2
    assert.equal(map[0x0a], "\u010a"); // newline → Ċ
    for (const c of map) assert.equal([...c].length, 1);
  });

  it("has bytes at ids 0–255, merges whose parts exist earlier, control tokens last", () => {
    const v = buildByteBpeVocab();
    assert.equal(new Set(v.tokens).size, v.tokens.length, "token texts unique");
    assert.deepEqual(v.tokens.slice(0, 256), byteToUnicode());
    const seen = new Set(v.tokens.slice(0, 256));
    v.merges.forEach((m, i) => {
      const [l, r, ...rest] = m.split(" ");
      assert.equal(rest.length, 0, `merge ${i} has two parts`);
      assert.ok(seen.has(l!) && seen.has(r!), `merge ${i} (${m}) uses earlier tokens`);
      assert.equal(v.tokens[256 + i], l! + r!);
      seen.add(l! + r!);
    });
    assert.deepEqual(CONTROL_TOKENS.map((t) => v.tokens[v.control[t]]), [...CONTROL_TOKENS]);
    for (const t of CONTROL_TOKENS) assert.equal(v.tokenTypes[v.control[t]], TokenType.CONTROL);
    assert.equal(v.tokenTypes.filter((t) => t === TokenType.NORMAL).length, v.tokens.length - CONTROL_TOKENS.length);
  });
});

describe("buildDemoGguf", () => {
  it("is byte-identical for a seed and differs between seeds", () => {
    const a = buildDemoGguf({ seed: 7 });
    const b = buildDemoGguf({ seed: 7 });
    const c = buildDemoGguf({ seed: 8 });
    assert.equal(sha(a), sha(b));
    assert.notEqual(sha(a), sha(c));
    assert.equal(a.length, c.length);
  });

  it("pins the default model's bytes (a change of generator is a change of every recorded demo hash)", () => {
    const bytes = buildDemoGguf();
    assert.equal(bytes.length, 523936);
    assert.equal(sha(bytes), "f5db47290e0f00ca7e8fa12abcb0ada620478893247e624e19030466736d73b4");
  });

  it("grows with the options", () => {
    const small = buildDemoGguf();
    const big = buildDemoGguf({ embeddingLength: 128, blockCount: 3, headCount: 8 });
    assert.ok(big.length > small.length * 3);
  });

  it("refuses impossible shapes", () => {
    assert.throws(() => buildDemoGguf({ embeddingLength: 64, headCount: 5 }), /even integer/);
    assert.throws(() => buildDemoGguf({ embeddingLength: 6, headCount: 2 }), /even integer/); // head width 3
    assert.throws(() => buildDemoGguf({ blockCount: 0 }), /positive integer/);
    assert.throws(() => buildDemoGguf({ seed: -1 }), /seed/);
    assert.throws(() => buildDemoGguf({ seed: 2 ** 32 }), /seed/);
    assert.throws(() => buildDemoGguf({ contextLength: 1.5 }), /positive integer/);
  });

  it("stores the matrices as Q8_0 when asked: deterministic, about 3.7× smaller, norms still F32", () => {
    const opts = { seed: 4, embeddingLength: 128, blockCount: 2, headCount: 4, weights: "q8_0" as const };
    const a = buildDemoGguf(opts);
    assert.equal(sha(a), sha(buildDemoGguf(opts)));
    const f32 = buildDemoGguf({ ...opts, weights: "f32" });
    assert.ok(a.length < f32.length / 3.3, `${a.length} vs ${f32.length}`);
    const info = readGgufHeader(a);
    const types = new Map(info.tensors.map((t) => [t.name, t.type]));
    assert.equal(types.get("blk.0.attn_q.weight"), 8);
    assert.equal(types.get("token_embd.weight"), 8);
    assert.equal(types.get("blk.0.attn_norm.weight"), 0);
  });

  it("refuses Q8_0 for widths that are not multiples of 32", () => {
    assert.throws(() => buildDemoGguf({ embeddingLength: 48, headCount: 4, weights: "q8_0" }), /multiples of 32/);
    assert.throws(() => buildDemoGguf({ weights: "q4" as never }), /weights must be/);
  });

  it("noEndTokens changes the weights, not the layout", () => {
    const a = buildDemoGguf({ seed: 3 });
    const b = buildDemoGguf({ seed: 3, noEndTokens: true });
    assert.equal(a.length, b.length);
    assert.notEqual(sha(a), sha(b));
  });
});
