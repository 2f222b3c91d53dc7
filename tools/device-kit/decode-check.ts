// Single-request decode speed of sealbox's inference engine (node-llama-cpp
// 3.21.1, its prebuilt llama.cpp) on generated models, against the memory
// bandwidth limit: each decoded token reads every weight once, so
// tokens/s × weight bytes per token is the bandwidth decode used.
//
// Runs from the device kit (run-on-device.sh) on a lent GPU in "cuda" mode,
// and in "cpu" mode for the kit's dry run here. Prints one line per model
// and, last, one JSON line of every figure (bench/ convention).
//
//   node decode-check.js --mode cuda|cpu --dir DIR [--models demo,big-q8,big-f32]
//        [--tokens 256] [--rounds 3] [--threads N] [--peak-gbps X] [--make-only]
//
// --make-only writes the models into DIR (NAME.gguf, NAME.json with its
// SHA-256) and exits, so big models can be generated in parallel processes
// while another check runs; a later run reuses them.

import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { isSealboxError } from "../../daemon/errors.js";
import { writeDemoGguf, type DemoGgufOptions } from "../../daemon/inference/demo-gguf.js";
import { InferenceEngine } from "../../daemon/inference/engine.js";
import { inspectGgufFile } from "../../daemon/inference/gguf-reader.js";
import type { InferenceMode } from "../../daemon/inference/runtime.js";
import { createLogger } from "../../daemon/log.js";
import { median, peakMemoryGbps, weightBytesPerToken } from "./decode-figures.js";

/** The larger shape: a ~0.8 B-parameter llama (what the 2026-11-26 llama-bench run used, there in F16). */
const BIG = { embeddingLength: 2048, blockCount: 16, headCount: 16, feedForwardLength: 5632 };

export const MODELS: Record<string, DemoGgufOptions> = {
  // The demo model (64 wide, 2 blocks): launch- and JavaScript-bound, says nothing about bandwidth.
  demo: { seed: 1, noEndTokens: true },
  // 512 wide, 8 blocks: small enough for a CPU dry run.
  "mid-q8": { seed: 1, noEndTokens: true, embeddingLength: 512, blockCount: 8, headCount: 8, feedForwardLength: 1408, weights: "q8_0" },
  "big-q8": { seed: 1, noEndTokens: true, ...BIG, weights: "q8_0" }, // ~0.87 GB
  "big-f32": { seed: 1, noEndTokens: true, ...BIG, weights: "f32" }, // ~3.3 GB
};

const PROMPT = "Shift report, boiler house, night of the 14th:\n";
const sampling = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 42 };
// llama.cpp's warnings and errors on stderr: on a new machine they say why something failed.
const logger = createLogger({ component: "llama.cpp", minLevel: "warn" });
const r2 = (x: number): number => Math.round(x * 100) / 100;
const say = (line: string): void => void process.stdout.write(line + "\n");

interface ModelFile {
  path: string;
  sha256: string;
  sizeBytes: number;
  generateS: number;
}

/** Writes NAME.gguf once; NAME.json records its hash so a second process reuses it. */
async function ensureModel(dir: string, name: string): Promise<ModelFile> {
  const opts = MODELS[name];
  if (!opts) throw new Error(`unknown model ${JSON.stringify(name)} (have: ${Object.keys(MODELS).join(", ")})`);
  const path = join(dir, `${name}.gguf`);
  const meta = join(dir, `${name}.json`);
  try {
    const m = JSON.parse(await readFile(meta, "utf8")) as ModelFile;
    if ((await stat(path)).size === m.sizeBytes) return m;
  } catch {
    // Not made yet (or half made): make it below.
  }
  const t0 = performance.now();
  const info = await writeDemoGguf(path, opts);
  const m: ModelFile = { path, ...info, generateS: r2((performance.now() - t0) / 1000) };
  await writeFile(meta, JSON.stringify(m) + "\n");
  return m;
}

async function check(name: string, file: ModelFile, mode: InferenceMode, tokens: number, rounds: number, threads: number | undefined, peakOverride: number | undefined) {
  const summary = await inspectGgufFile(file.path);
  const { weightBytes, perTokenBytes } = weightBytesPerToken(summary, file.sizeBytes);
  const t0 = performance.now();
  const engine = await InferenceEngine.open({ modelPath: file.path, modelSha256: file.sha256, mode, threads, contextSize: 1024, sequences: 1, contexts: 1, logger });
  const openS = (performance.now() - t0) / 1000;
  try {
    const prompt = engine.prepareCompletion(PROMPT);
    const run = () => engine.generate({ kind: "complete", prompt, maxTokens: tokens, sampling });
    // The first answer pays one-time costs (CUDA JIT of the PTX kernels, cuBLAS handles, graph capture).
    const w0 = performance.now();
    const warm = await run();
    const firstAnswerS = (performance.now() - w0) / 1000;
    const endToEnd: number[] = [];
    const decode: number[] = [];
    let generated = warm.tokens.length;
    for (let i = 0; i < rounds; i++) {
      const out = await run();
      generated = out.tokens.length;
      endToEnd.push(out.tokens.length / (out.generateMs / 1000));
      // After the first token, every step is one decode of one token: the bandwidth-bound part.
      if (out.firstTokenMs !== undefined && out.tokens.length > 1) decode.push((out.tokens.length - 1) / ((out.generateMs - out.firstTokenMs) / 1000));
    }
    const decodeTps = median(decode);
    const gbps = (decodeTps * perTokenBytes) / 1e9;
    const device = engine.info.runtime.device;
    const peak = peakOverride ?? (mode === "cuda" ? peakMemoryGbps(device) : undefined);
    const out = {
      model: name,
      options: MODELS[name],
      mode,
      device,
      node_llama_cpp: engine.info.runtime.nodeLlamaCpp,
      llama_cpp: engine.info.runtime.llamaCpp,
      model_bytes: file.sizeBytes,
      model_sha256: file.sha256,
      weight_bytes: weightBytes,
      weight_bytes_per_token: perTokenBytes,
      generate_model_s: file.generateS,
      open_s: r2(openS),
      first_answer_s: r2(firstAnswerS),
      tokens_per_answer: generated,
      rounds,
      tokens_per_s: r2(median(endToEnd)),
      decode_tokens_per_s: r2(decodeTps),
      weights_gb_per_s: r2(gbps),
      peak_gb_per_s: peak ?? null,
      fraction_of_peak: peak ? r2(gbps / peak) : null,
    };
    say(
      `[${name}] ${mode} on ${device}: ${(file.sizeBytes / 1e9).toFixed(3)} GB, ${(perTokenBytes / 1e6).toFixed(1)} MB of weights per token; ` +
        `open ${out.open_s} s, first ${tokens}-token answer ${out.first_answer_s} s; median of ${rounds}: ${out.tokens_per_s} tok/s end to end, ` +
        `${out.decode_tokens_per_s} tok/s decode → ${out.weights_gb_per_s} GB/s of weights` +
        (peak ? ` = ${Math.round((gbps / peak) * 100)} % of ${peak} GB/s peak` : ""),
    );
    return out;
  } finally {
    await engine.close();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      mode: { type: "string" },
      dir: { type: "string" },
      models: { type: "string", default: "demo,big-q8,big-f32" },
      tokens: { type: "string", default: "256" },
      rounds: { type: "string", default: "3" },
      threads: { type: "string" },
      "peak-gbps": { type: "string" },
      "make-only": { type: "boolean", default: false },
    },
  });
  const mode = values.mode as InferenceMode;
  if ((mode !== "cuda" && mode !== "cpu") || !values.dir) {
    process.stderr.write("usage: decode-check --mode cuda|cpu --dir DIR [--models a,b] [--tokens N] [--rounds N] [--threads N] [--peak-gbps X] [--make-only]\n");
    return 64;
  }
  const names = values.models!.split(",").filter((s) => s !== "");
  const results: unknown[] = [];
  for (const name of names) {
    const file = await ensureModel(values.dir, name);
    if (values["make-only"]) {
      say(`[${name}] written: ${file.sizeBytes} bytes in ${file.generateS} s, sha256 ${file.sha256}`);
      continue;
    }
    const threads = values.threads === undefined ? undefined : Number(values.threads);
    const peak = values["peak-gbps"] === undefined ? undefined : Number(values["peak-gbps"]);
    results.push(await check(name, file, mode, Number(values.tokens), Number(values.rounds), threads, peak));
  }
  if (!values["make-only"]) say(JSON.stringify({ decode: results }));
  return 0;
}

try {
  process.exitCode = await main();
} catch (e) {
  // A coded error (GPU_UNAVAILABLE from the CUDA kernel self-test, MODEL_REJECTED, …): its
  // one-paragraph message and its exit code, as sealboxd would end its start.
  if (!isSealboxError(e)) throw e;
  process.stderr.write(`decode-check: ${e.code}: ${e.message}\n`);
  process.exitCode = e.spec.exitCode;
}
