// Runs RaptorQ encoding of prepared blocks on a worker thread (fec-worker.ts),
// one job at a time per worker, results in order of submission. If the
// worker cannot start, or dies, encoding falls back to the calling thread:
// slower, never wrong.

import { Worker } from "node:worker_threads";
import { SealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { encodePrepared, type PreparedBlock } from "./block-builder.js";
import type { EncodeJob, EncodeResult } from "./fec-worker.js";

export interface BlockEncoder {
  encode(p: PreparedBlock): Promise<Uint8Array[]>;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Encodes on the calling thread (tests, and the fallback). */
export const inlineEncoder: BlockEncoder = {
  encode: async (p) => encodePrepared(p),
  close: async () => undefined,
};

export function startEncoderWorker(log: Logger): BlockEncoder {
  let worker: Worker | undefined;
  let nextId = 1;
  const waiting = new Map<number, { resolve(v: Uint8Array[]): void; reject(e: Error): void; symbolBytes: number }>();
  let closed = false;
  try {
    worker = new Worker(new URL("./fec-worker.js", import.meta.url));
    worker.unref();
    worker.on("message", (r: EncodeResult) => {
      const w = waiting.get(r.id);
      if (!w) return;
      waiting.delete(r.id);
      if ("error" in r) return w.reject(new SealboxError("DIODE_ERROR", `diode encoder: ${r.error}`));
      const size = 4 + w.symbolBytes;
      const all = new Uint8Array(r.packets);
      w.resolve(Array.from({ length: r.count }, (_, i) => all.subarray(i * size, (i + 1) * size)));
    });
    const fail = (why: string): void => {
      if (!closed) log.warn("diode encoder worker stopped; encoding on the main thread", { why });
      worker = undefined;
      for (const w of waiting.values()) w.reject(new SealboxError("DIODE_ERROR", `diode encoder worker: ${why}`));
      waiting.clear();
    };
    worker.on("error", (e) => fail(e.message));
    worker.on("exit", (code) => fail(`exited ${code}`));
  } catch (e) {
    log.warn("no encoder worker; encoding on the main thread", { error: (e as Error).message });
    worker = undefined;
  }
  return {
    encode(p) {
      if (closed) return Promise.reject(new SealboxError("DIODE_ERROR", "diode encoder closed"));
      if (!worker) return inlineEncoder.encode(p);
      const id = nextId++;
      const job: EncodeJob = { id, object: p.object, symbolBytes: p.fields.symbolBytes, k: p.k, skip: p.skip, repair: p.repair };
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject, symbolBytes: p.fields.symbolBytes });
        worker!.postMessage(job);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      const w = worker;
      worker = undefined;
      for (const x of waiting.values()) x.reject(new SealboxError("DIODE_ERROR", "diode encoder closed"));
      waiting.clear();
      if (w) await w.terminate();
    },
  };
}
