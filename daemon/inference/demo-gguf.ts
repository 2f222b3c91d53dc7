// The demo model: a tiny llama-architecture GGUF with random weights and a
// byte-level BPE tokenizer with a ChatML template. It loads and runs in
// llama.cpp like a real model, so the whole inference path can be exercised
// with no download — but its answers are noise.
//
// Byte-identical for a given seed and options: the weights come from an
// integer PRNG (mulberry32) and an Irwin–Hall sum, with no Math.log/cos whose
// last bits may vary between engines.

import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { sha256HexAnySize } from "./sha256-any-size.js";
import { buildByteBpeVocab } from "./byte-bpe-vocab.js";
import { encodeGguf, type GgufTensor, type GgufValue } from "./gguf-writer.js";
import { mulberry32 } from "../mulberry32.js";

/** The ChatML template (what `<|im_start|>`/`<|im_end|>` models ship), as Jinja for llama.cpp and other readers. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface DemoGgufOptions {
  /** Seed of the random weights. Defaults to 1. */
  seed?: number;
  /** Width of the residual stream. Defaults to 64. */
  embeddingLength?: number;
  /** Number of transformer blocks. Defaults to 2. */
  blockCount?: number;
  /** Attention heads (and KV heads); must divide embeddingLength. Defaults to 4. */
  headCount?: number;
  /** Hidden width of the feed-forward layers. Defaults to 2 × embeddingLength. */
  feedForwardLength?: number;
  /** Training context length written to the metadata, in tokens. Defaults to 2048. */
  contextLength?: number;
  /**
   * Make the end-of-turn and other control tokens (practically) impossible to
   * generate, so that every answer runs to its token limit: benchmarks need
   * answers of a known length. Defaults to false (the model ends an answer at
   * random, about once in every vocabulary-size tokens).
   */
  noEndTokens?: boolean;
  /**
   * How the weight matrices are stored: "f32" (default) or "q8_0" (ggml's 8-bit
   * blocks, as quantized real models are; widths must be multiples of 32).
   * Norm vectors stay F32 either way, as in llama.cpp's own quantizer.
   */
  weights?: "f32" | "q8_0";
}

export interface DemoGgufInfo {
  /** SHA-256 of the file, lowercase hex. */
  sha256: string;
  sizeBytes: number;
}

/** Approximately normal (Irwin–Hall of 4 uniforms), mean 0 and standard deviation `std`. */
function fillNormal(rand: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  const k = std * Math.sqrt(3);
  for (let i = 0; i < n; i++) out[i] = (rand() + rand() + rand() + rand() - 2) * k;
  return out;
}

function resolve(options: DemoGgufOptions): Required<DemoGgufOptions> {
  const embeddingLength = options.embeddingLength ?? 64;
  const headCount = options.headCount ?? 4;
  const r: Required<DemoGgufOptions> = {
    seed: options.seed ?? 1,
    embeddingLength,
    blockCount: options.blockCount ?? 2,
    headCount,
    feedForwardLength: options.feedForwardLength ?? embeddingLength * 2,
    contextLength: options.contextLength ?? 2048,
    noEndTokens: options.noEndTokens ?? false,
    weights: options.weights ?? "f32",
  };
  const positive = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  };
  if (!Number.isInteger(r.seed) || r.seed < 0 || r.seed > 0xffffffff) throw new RangeError(`seed must be an integer in 0…2^32-1, got ${r.seed}`);
  positive("embeddingLength", r.embeddingLength);
  positive("blockCount", r.blockCount);
  positive("headCount", r.headCount);
  positive("feedForwardLength", r.feedForwardLength);
  positive("contextLength", r.contextLength);
  const headDim = r.embeddingLength / r.headCount;
  // RoPE rotates pairs of dimensions, so a head must have an even width.
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new RangeError(`embeddingLength ${r.embeddingLength} / headCount ${r.headCount} must be an even integer`);
  }
  if (r.weights !== "f32" && r.weights !== "q8_0") throw new RangeError(`weights must be "f32" or "q8_0", got ${String(r.weights)}`);
  if (r.weights === "q8_0" && (r.embeddingLength % 32 !== 0 || r.feedForwardLength % 32 !== 0)) {
    throw new RangeError(`q8_0 weights need embeddingLength and feedForwardLength that are multiples of 32`);
  }
  return r;
}

/** Builds the demo GGUF in memory. Pure: the same options give the same bytes. */
export function buildDemoGguf(options: DemoGgufOptions = {}): Uint8Array {
  const o = resolve(options);
  const vocab = buildByteBpeVocab();
  const V = vocab.tokens.length;
  const E = o.embeddingLength;
  const F = o.feedForwardLength;
  const rand = mulberry32(o.seed);
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  // A weight matrix W[out][in] is stored with `in` contiguous: ggml dims [in, out].
  const matrix = (inDim: number, outDim: number): Float32Array => fillNormal(rand, inDim * outDim, 1 / Math.sqrt(inDim));

  const tokenEmbd = fillNormal(rand, E * V, 1);
  const tensors: GgufTensor[] = [{ name: "token_embd.weight", dims: [E, V], data: tokenEmbd }];
  for (let b = 0; b < o.blockCount; b++) {
    const p = `blk.${b}`;
    const attnOutput = matrix(E, E);
    const ffnDown = matrix(F, E);
    if (o.noEndTokens) {
      // Keep residual dimension 0 untouched by every block (its output row is
      // zero), so it carries the embedding's constant +1 to the output norm.
      attnOutput.fill(0, 0, E);
      ffnDown.fill(0, 0, F);
    }
    tensors.push(
      { name: `${p}.attn_norm.weight`, dims: [E], data: ones(E) },
      { name: `${p}.attn_q.weight`, dims: [E, E], data: matrix(E, E) },
      { name: `${p}.attn_k.weight`, dims: [E, E], data: matrix(E, E) },
      { name: `${p}.attn_v.weight`, dims: [E, E], data: matrix(E, E) },
      { name: `${p}.attn_output.weight`, dims: [E, E], data: attnOutput },
      { name: `${p}.ffn_norm.weight`, dims: [E], data: ones(E) },
      { name: `${p}.ffn_gate.weight`, dims: [E, F], data: matrix(E, F) },
      { name: `${p}.ffn_up.weight`, dims: [E, F], data: matrix(E, F) },
      { name: `${p}.ffn_down.weight`, dims: [F, E], data: ffnDown },
    );
  }
  // Logits of about unit-normal hidden states get a standard deviation near 3:
  // peaked enough to look like choices, flat enough to vary with the seed.
  const output = fillNormal(rand, E * V, 3 / Math.sqrt(E));
  if (o.noEndTokens) {
    for (let t = 0; t < V; t++) tokenEmbd[t * E] = 1;
    for (const id of Object.values(vocab.control)) {
      // After RMS norm, dimension 0 is always positive, so this row's logit is always strongly negative.
      output.fill(0, id * E, (id + 1) * E);
      output[id * E] = -60;
    }
  }
  tensors.push({ name: "output_norm.weight", dims: [E], data: ones(E) }, { name: "output.weight", dims: [E, V], data: output });
  if (o.weights === "q8_0") for (const t of tensors) if (t.dims.length === 2) t.storage = "q8_0";

  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const metadata: Array<[string, GgufValue]> = [
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: "sealbox-demo" }],
    ["general.description", { type: "string", value: "sealbox demo model: random weights, its answers are noise" }],
    // llama_ftype: 0 all F32, 7 mostly Q8_0.
    ["general.file_type", u32(o.weights === "q8_0" ? 7 : 0)],
    ["general.alignment", u32(32)],
    ["sealbox.demo.seed", u32(o.seed)],
    ["sealbox.demo.no_end_tokens", { type: "bool", value: o.noEndTokens }],
    ...(o.weights === "q8_0" ? ([["sealbox.demo.weights", { type: "string", value: "q8_0" }]] as Array<[string, GgufValue]>) : []),
    ["llama.context_length", u32(o.contextLength)],
    ["llama.embedding_length", u32(E)],
    ["llama.block_count", u32(o.blockCount)],
    ["llama.feed_forward_length", u32(F)],
    ["llama.attention.head_count", u32(o.headCount)],
    ["llama.attention.head_count_kv", u32(o.headCount)],
    // llama.cpp requires n_rot = head width for llama ("invalid n_rot" otherwise).
    ["llama.rope.dimension_count", u32(E / o.headCount)],
    ["llama.rope.freq_base", { type: "f32", value: 10000 }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
    ["llama.vocab_size", u32(V)],
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "gpt-2" }],
    ["tokenizer.ggml.tokens", { type: "string[]", value: vocab.tokens }],
    ["tokenizer.ggml.token_type", { type: "i32[]", value: vocab.tokenTypes }],
    ["tokenizer.ggml.merges", { type: "string[]", value: vocab.merges }],
    ["tokenizer.ggml.bos_token_id", u32(vocab.control["<|endoftext|>"])],
    ["tokenizer.ggml.eos_token_id", u32(vocab.control["<|im_end|>"])],
    ["tokenizer.ggml.eot_token_id", u32(vocab.control["<|im_end|>"])],
    ["tokenizer.ggml.padding_token_id", u32(vocab.control["<|endoftext|>"])],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
    ["tokenizer.ggml.add_eos_token", { type: "bool", value: false }],
    ["tokenizer.chat_template", { type: "string", value: CHATML_TEMPLATE }],
  ];
  return encodeGguf(metadata, tensors, 32);
}

/**
 * Writes the demo model to `path` (parent folders created; written to a
 * temporary name and renamed, so a reader never sees half a file).
 */
export async function writeDemoGguf(path: string, options: DemoGgufOptions = {}): Promise<DemoGgufInfo> {
  const bytes = buildDemoGguf(options);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, bytes, { mode: 0o644 });
  await rename(tmp, path);
  return { sha256: sha256HexAnySize(bytes), sizeBytes: bytes.length };
}
