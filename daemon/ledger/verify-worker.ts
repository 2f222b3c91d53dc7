// Worker thread for verifying big bundles: checks whole lines of
// records.jsonl (decode, canonical form, seq, box) and returns their leaf
// hashes. The main thread keeps the order and the Merkle range. Pure.

import { parentPort } from "node:worker_threads";
import { SealboxError } from "../errors.js";
import { MAX_RECORD_BYTES } from "./record.js";
import { checkRecordLine, fail } from "./verify-core.js";

export interface VerifyJob {
  id: number;
  firstSeq: number;
  box: string;
  /** Complete lines, each ending in "\n". */
  bytes: ArrayBuffer;
}

export interface VerifyResult {
  id: number;
  /** Leaf hashes of the lines that passed, 32 bytes each, in order. */
  hashes: ArrayBuffer;
  count: number;
  error?: { code: string; message: string; details: Record<string, unknown> };
}

export function checkLines(job: VerifyJob): VerifyResult {
  const bytes = new Uint8Array(job.bytes);
  let lines = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) lines++;
  const out = new Uint8Array(lines * 32);
  let start = 0;
  let n = 0;
  try {
    while (start < bytes.length) {
      const nl = bytes.indexOf(0x0a, start);
      const seq = job.firstSeq + n;
      if (nl - start > MAX_RECORD_BYTES) throw fail("records", `record ${seq}: line ${seq + 1} is longer than ${MAX_RECORD_BYTES} bytes`, { seq }, "BAD_FORMAT");
      out.set(checkRecordLine(bytes.subarray(start, nl), seq, job.box), n * 32);
      n++;
      start = nl + 1;
    }
    return { id: job.id, hashes: out.buffer, count: n };
  } catch (e) {
    const err = e instanceof SealboxError ? e : fail("records", String(e));
    return { id: job.id, hashes: out.buffer, count: n, error: { code: err.code, message: err.message, details: { ...(err.details ?? {}) } } };
  }
}

parentPort?.on("message", (job: VerifyJob) => {
  const r = checkLines(job);
  parentPort!.postMessage(r, [r.hashes]);
});
