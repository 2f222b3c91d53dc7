// The one set of getLlama() options sealbox uses, shared by the runtime
// (runtime.ts) and the CUDA kernel self-test's child (cuda-probe-child.ts), so
// the self-test opens llama.cpp exactly as the daemon does.
//
// Never "auto": a plain getLlama() picks Vulkan (software lavapipe) on a box
// without a GPU (FACTS.md), and would build from source or download binaries
// when no prebuilt one fits. Here it never builds and never downloads.

import { LlamaLogLevel, type LlamaOptions } from "node-llama-cpp";
import type { Logger } from "../log.js";

export type InferenceMode = "cuda" | "cpu";

/** llama.cpp's log lines into sealbox's logger (errors and warnings keep their level). */
function bridgeLogger(logger: Logger | undefined): (level: LlamaLogLevel, message: string) => void {
  return (level, message) => {
    if (!logger) return;
    const text = message.trimEnd();
    if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) logger.error(text);
    else if (level === LlamaLogLevel.warn) logger.warn(text);
    else logger.debug(text);
  };
}

export interface LlamaOptionsInput {
  mode: InferenceMode;
  /** llama.cpp's CPU thread cap for the whole process (threads per context × contexts). */
  maxThreads: number;
  logger?: Logger;
}

/** getLlama() options for `mode`: CUDA or the CPU, prebuilt binaries only, llama.cpp's warnings and errors logged. */
export function llamaOptions(input: LlamaOptionsInput): LlamaOptions {
  return {
    gpu: input.mode === "cuda" ? "cuda" : false,
    build: "never",
    skipDownload: true,
    usePrebuiltBinaries: true,
    progressLogs: false,
    maxThreads: input.maxThreads,
    logLevel: LlamaLogLevel.warn,
    logger: bridgeLogger(input.logger),
  };
}
