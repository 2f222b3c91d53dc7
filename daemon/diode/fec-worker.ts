// A worker thread that RaptorQ-encodes diode blocks, so the channel's event
// loop keeps sending at its paced rate while the next blocks are encoded
// (encoding a 1.4 MB block takes tens of milliseconds). Messages in:
// { id, object, symbolBytes, k, skip, repair }; out: { id, packets, count }
// with the packets concatenated in one transferred buffer, or { id, error }.

import { parentPort } from "node:worker_threads";
import { encodeObject } from "./fec.js";

export interface EncodeJob {
  id: number;
  object: Uint8Array;
  symbolBytes: number;
  k: number;
  skip: number;
  repair: number;
}

export type EncodeResult = { id: number; packets: ArrayBuffer; count: number } | { id: number; error: string };

parentPort?.on("message", (job: EncodeJob) => {
  try {
    const all = encodeObject(job.object, job.symbolBytes, job.skip + job.repair);
    const chosen = job.skip > 0 ? all.slice(0, job.k).concat(all.slice(job.k + job.skip)) : all;
    const size = 4 + job.symbolBytes;
    const out = new Uint8Array(chosen.length * size);
    chosen.forEach((p, i) => out.set(p, i * size));
    const result: EncodeResult = { id: job.id, packets: out.buffer, count: chosen.length };
    parentPort!.postMessage(result, [out.buffer]);
  } catch (e) {
    const result: EncodeResult = { id: job.id, error: e instanceof Error ? e.message : String(e) };
    parentPort!.postMessage(result);
  }
});
