// The CUDA kernel self-test's child program (cuda-probe.ts spawns it): opens
// llama.cpp with the daemon's own getLlama() options, writes the demo model
// into a fresh temp dir, loads it with every layer on the device, evaluates a
// short prompt and samples a few tokens — so matmul, attention, norm and
// sampling kernels really run — then prints ONE JSON line and exits 0:
//
//   {"ok":true,"device":"NVIDIA H200","tokens":4,"ms":812}
//
// On an error it can catch it prints {"ok":false,"error":"…"} and exits 1. A
// CUDA error inside ggml aborts the process instead (SIGABRT): that is what
// the parent is for. llama.cpp's warnings and errors go to stderr.
//
//   node cuda-probe-child.js [--mode cuda|cpu] [--tokens N] [--parent-pipe]
//
// --mode cpu runs the same steps on the CPU (one thread): the tests prove the
// program here. --parent-pipe: exit when stdin closes (the parent is gone).

import { mkdtemp, rm } from "node:fs/promises";
import { rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { getLlama, LlamaCompletion, type Llama } from "node-llama-cpp";
import { writeDemoGguf } from "./demo-gguf.js";
import { llamaOptions, type InferenceMode } from "./llama-options.js";
import { isEntryPoint } from "../entry-point.js";
import { createLogger } from "../log.js";

const PROMPT = "Shift report, boiler house, night of the 14th:";

function answer(v: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(v) + "\n");
}

async function probe(mode: InferenceMode, maxTokens: number, dir: string): Promise<{ device: string; tokens: number }> {
  const logger = createLogger({ component: "llama.cpp", minLevel: "warn", journald: false });
  const llama: Llama = await getLlama(llamaOptions({ mode, maxThreads: 1, logger }));
  try {
    let device: string;
    if (mode === "cuda") {
      if (llama.gpu !== "cuda") throw new Error(`llama.cpp opened the ${String(llama.gpu)} backend, not CUDA`);
      device = (await llama.getGpuDeviceNames()).join(", ") || "unnamed CUDA device";
    } else {
      device = cpus()[0]?.model.trim() ?? "unknown CPU";
    }
    const path = join(dir, "probe.gguf");
    // A fixed seed: the same bytes every time. No end tokens, so generation runs to maxTokens.
    await writeDemoGguf(path, { seed: 1, noEndTokens: true });
    const model = await llama.loadModel({ modelPath: path, gpuLayers: mode === "cuda" ? "max" : 0 });
    const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 1 });
    let tokens = 0;
    await new LlamaCompletion({ contextSequence: context.getSequence() }).generateCompletionWithMeta(PROMPT, {
      maxTokens,
      temperature: 0.8,
      topK: 40,
      seed: 1,
      onToken: (t) => void (tokens += t.length),
    });
    await context.dispose();
    await model.dispose();
    return { device, tokens };
  } finally {
    await llama.dispose();
  }
}

async function main(): Promise<number> {
  const started = performance.now();
  let values;
  try {
    ({ values } = parseArgs({ options: { mode: { type: "string", default: "cuda" }, tokens: { type: "string", default: "4" }, "parent-pipe": { type: "boolean", default: false } } }));
  } catch (e) {
    answer({ ok: false, error: (e as Error).message });
    return 64;
  }
  const mode = values.mode as InferenceMode;
  const maxTokens = Number(values.tokens);
  if ((mode !== "cuda" && mode !== "cpu") || !Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > 64) {
    answer({ ok: false, error: "usage: cuda-probe-child [--mode cuda|cpu] [--tokens 1..64] [--parent-pipe]" });
    return 64;
  }
  const dir = await mkdtemp(join(tmpdir(), "sealbox-cuda-probe-"));
  // A SIGTERM from the parent's timeout, or the parent gone: remove the temp dir, then go.
  const bail = (code: number) => () => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on("SIGTERM", bail(143));
  if (values["parent-pipe"]) {
    process.stdin.on("end", bail(2));
    process.stdin.on("error", bail(2));
    process.stdin.resume();
  }
  try {
    const r = await probe(mode, maxTokens, dir);
    answer({ ok: true, device: r.device, tokens: r.tokens, ms: Math.round(performance.now() - started) });
    return 0;
  } catch (e) {
    answer({ ok: false, error: (e as Error).message });
    return 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Only as a program, not when imported (the device kit's load check imports every module).
// Exits explicitly: the stdin watch (and node-llama-cpp's handles) would keep the process alive.
if (isEntryPoint(import.meta.url)) process.exit(await main());
