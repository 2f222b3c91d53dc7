// Opens llama.cpp through node-llama-cpp in exactly the configured mode.
// Never "auto": a plain getLlama() picks Vulkan (software lavapipe) on a box
// without a GPU (FACTS.md), and would build from source or download binaries
// when no prebuilt one fits. Here it never builds, never downloads, and a
// "cuda" box with no usable CUDA device fails loudly instead of running slowly
// on the CPU.

import { cpus } from "node:os";
import { open } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { getLlama, getModuleVersion, LlamaLogLevel, type Llama } from "node-llama-cpp";
import { SealboxError } from "../errors.js";
import type { Logger } from "../log.js";

export type InferenceMode = "cuda" | "cpu";

export interface RuntimeOptions {
  /** "cuda" on the appliance; "cpu" explicitly (development, tests, fallback). */
  mode: InferenceMode;
  /** CPU threads llama.cpp may use per context. Defaults to the number of CPU cores. */
  threads?: number;
  /** Contexts that will evaluate at once (llama.cpp's thread cap is threads × contexts). Defaults to 1. */
  contexts?: number;
  logger?: Logger;
}

/** What the audit records say about the software and device that produced an answer. */
export interface RuntimeInfo {
  nodeLlamaCpp: string;
  /** The llama.cpp release node-llama-cpp was built from, and its commit when known. */
  llamaCpp: { release: string; commit: string };
  mode: InferenceMode;
  /** GPU name(s) in cuda mode, the CPU model in cpu mode. */
  device: string;
  /** CPU threads per context. */
  threads: number;
}

export interface Runtime {
  readonly llama: Llama;
  readonly info: RuntimeInfo;
  close(): Promise<void>;
}

/** The commit of the llama.cpp source shipped in the package (its git bundle's header names it). */
async function llamaCppCommit(): Promise<string> {
  const bundle = fileURLToPath(new URL("../llama/gitRelease.bundle", import.meta.resolve("node-llama-cpp")));
  let fh;
  try {
    fh = await open(bundle, "r");
    const buf = Buffer.alloc(256);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    // "# v2 git bundle\n<40 hex> HEAD\n" (git-bundle(5)).
    const m = /^#[^\n]*\n([0-9a-f]{40}) /.exec(buf.subarray(0, bytesRead).toString("latin1"));
    return m?.[1] ?? "unknown";
  } catch {
    // The bundle is a reference copy of the source; a package installed without it still runs.
    return "unknown";
  } finally {
    await fh?.close();
  }
}

function bridgeLogger(logger: Logger | undefined): (level: LlamaLogLevel, message: string) => void {
  return (level, message) => {
    if (!logger) return;
    const text = message.trimEnd();
    if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) logger.error(text);
    else if (level === LlamaLogLevel.warn) logger.warn(text);
    else logger.debug(text);
  };
}

export async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { mode } = options;
  if (mode !== "cuda" && mode !== "cpu") throw new SealboxError("BAD_CONFIG", `inference mode must be "cuda" or "cpu", got ${JSON.stringify(mode)}`);
  const threads = options.threads ?? Math.max(1, cpus().length);
  if (!Number.isInteger(threads) || threads < 1) throw new SealboxError("BAD_CONFIG", `inference threads must be a positive integer, got ${threads}`);

  let llama: Llama;
  try {
    llama = await getLlama({
      gpu: mode === "cuda" ? "cuda" : false,
      build: "never",
      skipDownload: true,
      usePrebuiltBinaries: true,
      progressLogs: false,
      maxThreads: threads * Math.max(1, options.contexts ?? 1),
      logLevel: LlamaLogLevel.warn,
      logger: bridgeLogger(options.logger),
    });
  } catch (e) {
    if (mode === "cuda") {
      throw new SealboxError("GPU_UNAVAILABLE", `CUDA inference is configured but llama.cpp's CUDA build cannot run here: ${(e as Error).message}`, {
        cause: e,
        details: { mode },
      });
    }
    throw new SealboxError("INFERENCE_FAILED", `llama.cpp could not be loaded: ${(e as Error).message}`, { cause: e });
  }

  let device: string;
  if (mode === "cuda") {
    const names = llama.gpu === "cuda" ? await llama.getGpuDeviceNames() : [];
    const vram = llama.gpu === "cuda" ? await llama.getVramState() : { total: 0 };
    if (llama.gpu !== "cuda" || names.length === 0 || vram.total === 0) {
      await llama.dispose();
      throw new SealboxError("GPU_UNAVAILABLE", `CUDA inference is configured but no CUDA device is usable (backend ${String(llama.gpu)}, ${names.length} device(s), ${vram.total} bytes of VRAM)`, {
        details: { mode, backend: String(llama.gpu), devices: names.length },
      });
    }
    device = names.join(", ");
  } else {
    device = cpus()[0]?.model.trim() ?? "unknown CPU";
  }

  const info: RuntimeInfo = {
    nodeLlamaCpp: await getModuleVersion(),
    llamaCpp: { release: llama.llamaCppRelease.release, commit: await llamaCppCommit() },
    mode,
    device,
    threads,
  };
  let closing: Promise<void> | undefined;
  return {
    llama,
    info,
    close: () => (closing ??= llama.dispose()),
  };
}
