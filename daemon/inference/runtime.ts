// Opens llama.cpp through node-llama-cpp in exactly the configured mode
// (llama-options.ts: never "auto", never building or downloading). A "cuda"
// box with no usable CUDA device fails loudly instead of running slowly on the
// CPU — and so does one whose CUDA build loads but cannot run its kernels on
// this GPU: before the runtime is returned, a child process runs real kernels
// (cuda-probe.ts), because such a build aborts the process at its first decode.

import { cpus } from "node:os";
import { open } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { getLlama, getModuleVersion, type Llama } from "node-llama-cpp";
import { SealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { probeCudaKernels, type CudaProbeOptions } from "./cuda-probe.js";
import { llamaOptions, type InferenceMode } from "./llama-options.js";

export type { InferenceMode } from "./llama-options.js";

export interface RuntimeOptions {
  /** "cuda" on the appliance; "cpu" explicitly (development, tests, fallback). */
  mode: InferenceMode;
  /** CPU threads llama.cpp may use per context. Defaults to the number of CPU cores. */
  threads?: number;
  /** Contexts that will evaluate at once (llama.cpp's thread cap is threads × contexts). Defaults to 1. */
  contexts?: number;
  /**
   * The CUDA kernel self-test (cuda-probe.ts), run in cuda mode once the device
   * checks pass: false turns it off; `timeoutMs` (defaults to 180 000) bounds it.
   * Never runs in cpu mode. Defaults to on. (`command` is a test seam.)
   */
  kernelProbe?: false | Pick<CudaProbeOptions, "timeoutMs" | "command">;
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

export async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { mode } = options;
  if (mode !== "cuda" && mode !== "cpu") throw new SealboxError("BAD_CONFIG", `inference mode must be "cuda" or "cpu", got ${JSON.stringify(mode)}`);
  const threads = options.threads ?? Math.max(1, cpus().length);
  if (!Number.isInteger(threads) || threads < 1) throw new SealboxError("BAD_CONFIG", `inference threads must be a positive integer, got ${threads}`);

  let llama: Llama;
  try {
    llama = await getLlama(llamaOptions({ mode, maxThreads: threads * Math.max(1, options.contexts ?? 1), logger: options.logger }));
  } catch (e) {
    if (mode === "cuda") {
      // node-llama-cpp says only "NoBinaryFoundError" when its CUDA build does not load (it tried it and
      // found the NVIDIA driver or the CUDA runtime libraries missing); say what that means here.
      const why = (e as Error).name === "NoBinaryFoundError" || (e as Error).message === "NoBinaryFoundError" ? "its CUDA build did not load (no NVIDIA driver, or libcuda/libcudart/libcublas not found)" : (e as Error).message;
      throw new SealboxError("GPU_UNAVAILABLE", `CUDA inference is configured but llama.cpp's CUDA build cannot run here: ${why}`, {
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
    if (options.kernelProbe !== false) {
      try {
        await probeCudaKernels({ ...options.kernelProbe, mode: "cuda", logger: options.logger });
      } catch (e) {
        await llama.dispose();
        throw e;
      }
    }
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
