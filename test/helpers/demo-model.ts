// The demo GGUF in a temp dir, and an engine on it in CPU mode with one
// thread (the test machine's 2 cores are shared). Nothing is downloaded.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDemoGguf, type DemoGgufOptions } from "../../daemon/inference/demo-gguf.js";
import { InferenceEngine, type EngineOptions } from "../../daemon/inference/engine.js";
import type { AppendReceipt, AuditEvent, AuditLog, AuditRecord } from "../../daemon/ledger/types.js";

export interface DemoModel {
  dir: string;
  path: string;
  sha256: string;
  sizeBytes: number;
  /** Removes the temp dir. Idempotent. */
  cleanup(): Promise<void>;
}

export async function makeDemoModel(options: DemoGgufOptions = {}): Promise<DemoModel> {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-demo-model-"));
  const path = join(dir, "demo.gguf");
  const { sha256, sizeBytes } = await writeDemoGguf(path, options);
  return { dir, path, sha256, sizeBytes, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** An engine on the model, CPU, 1 thread, 512-token context; overrides win. */
export function openDemoEngine(model: DemoModel, overrides: Partial<EngineOptions> = {}): Promise<InferenceEngine> {
  return InferenceEngine.open({ modelPath: model.path, modelSha256: model.sha256, mode: "cpu", threads: 1, contextSize: 512, sequences: 2, ...overrides });
}

/** An AuditLog kept in an array, as records with seq/time/box (a plain object, no ledger). */
export interface RecordingAuditLog extends AuditLog {
  readonly records: AuditRecord[];
  /** Makes append() reject with this error from now on (undefined: accept again). */
  rejectWith(error: Error | undefined): void;
  /** Resolves append() only when release() is called (to hold requests at the write-ahead step). */
  hold(): { release(): void };
}

export function createRecordingAuditLog(): RecordingAuditLog {
  const records: AuditRecord[] = [];
  let failure: Error | undefined;
  let gate: Promise<void> | undefined;
  return {
    records,
    rejectWith(error) {
      failure = error;
    },
    hold() {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      return {
        release: () => {
          gate = undefined;
          release();
        },
      };
    },
    async append(event: AuditEvent): Promise<AppendReceipt> {
      if (gate) await gate;
      if (failure) throw failure;
      // Round-trip through JSON, as storage would: the record must be plain JSON.
      const rec = JSON.parse(JSON.stringify({ v: 1, seq: records.length, time: new Date().toISOString(), box: "test-box", ...event })) as AuditRecord;
      records.push(rec);
      return { seq: rec.seq, treeSize: records.length, checkpoint: `test-box\n${records.length}\n` };
    },
  };
}
