import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isSealboxError, SealboxError } from "../../../daemon/errors.js";
import { InferenceSlot, loadFailureError, type CpuFallback, type InferenceServiceLike } from "../../../daemon/rpc/inference-slot.js";

const model = { name: "m", sha256: "ab".repeat(32) };
const ask = (slot: InferenceSlot) => slot.complete({ prompt: "hi" } as never, {} as never);

describe("InferenceSlot: what a question gets before and after a failed load", () => {
  it("while loading: MODEL_UNAVAILABLE with a retry hint", async () => {
    const slot = new InferenceSlot(model);
    await assert.rejects(ask(slot), (e: unknown) => isSealboxError(e, "MODEL_UNAVAILABLE") && (e as SealboxError).details?.retryAfterMs === 1000);
  });

  it("a GPU that cannot run the model: GPU_UNAVAILABLE with the cause, in status too", async () => {
    const slot = new InferenceSlot(model);
    const cause = new SealboxError("GPU_UNAVAILABLE", "CUDA inference is configured, but llama.cpp's CUDA kernels failed their self-test: driver too old");
    await assert.rejects(slot.load(() => Promise.reject(cause)));
    const st = slot.status();
    assert.equal(st.state, "failed");
    assert.equal(st.errorCode, "GPU_UNAVAILABLE");
    assert.equal(slot.failure?.code, "GPU_UNAVAILABLE");
    await assert.rejects(ask(slot), (e: unknown) => isSealboxError(e, "GPU_UNAVAILABLE") && /driver too old/.test((e as Error).message));
  });

  it("any other load failure: MODEL_UNAVAILABLE naming it", async () => {
    const slot = new InferenceSlot(model);
    await assert.rejects(slot.load(() => Promise.reject(new SealboxError("MODEL_REJECTED", "hash mismatch"))));
    assert.equal(slot.status().errorCode, "MODEL_REJECTED");
    await assert.rejects(ask(slot), (e: unknown) => isSealboxError(e, "MODEL_UNAVAILABLE") && /failed to load: hash mismatch/.test((e as Error).message));
  });

  it("loadFailureError without a recorded code or message still says something", () => {
    const e = loadFailureError({});
    assert.equal(e.code, "MODEL_UNAVAILABLE");
    assert.match(e.message, /unknown error/);
    assert.equal(loadFailureError({ errorCode: "GPU_UNAVAILABLE" }).message, "no usable GPU");
  });
});

/** A plain service that says which device answered (its text) and logs what was called. */
function fakeService(mode: "cuda" | "cpu", log: string[]): InferenceServiceLike {
  const result = () => ({
    requestId: "r",
    text: mode,
    endedBy: "done",
    stopReason: "eog",
    model: model.sha256,
    sampling: {},
    maxTokens: 4,
    usage: { promptTokens: 1, completionTokens: 1 },
    timings: { queueMs: 0, generateMs: 1, totalMs: 1, auditMs: 0 },
    audit: { requestSeq: 1, outcomeSeq: 2 },
  });
  return {
    chat: async () => (log.push(`${mode}:chat`), result()),
    complete: async () => (log.push(`${mode}:complete`), result()),
    embed: async () => (log.push(`${mode}:embed`), { ...result(), vectors: [[1]] }),
    status: () => ({ runtime: { mode, device: mode === "cuda" ? "NVIDIA H200" : "AMD EPYC" }, queue: { queued: 0, running: 0, maxQueued: 8, slots: 4 }, embeddingQueue: { queued: 0, running: 0 }, contextSize: 1024, deterministic: false, storeText: false }),
    close: async () => void log.push(`${mode}:close`),
  } as unknown as InferenceServiceLike;
}

function fallback(log: string[], over: Partial<CpuFallback> & { want?: () => boolean } = {}): CpuFallback & { opens: number; reasons: string[] } {
  const f = {
    opens: 0,
    reasons: [] as string[],
    open: async () => {
      f.opens++;
      await new Promise((r) => setTimeout(r, 5));
      return fakeService("cpu", log);
    },
    wanted: over.want ?? (() => false),
    engaged: async (reason: string) => void f.reasons.push(reason),
    ...over,
  };
  return f;
}

const gpuUnavailable = () => Promise.reject(new SealboxError("GPU_UNAVAILABLE", "CUDA kernels failed their self-test: driver too old"));
const text = async (slot: InferenceSlot) => (await ask(slot)).text;

describe("InferenceSlot: the CPU fallback (health.cpu_fallback)", () => {
  it("a GPU that fails the load: the model opens on the CPU, recorded once, and answers there", async () => {
    const log: string[] = [];
    const cpu = fallback(log);
    const slot = new InferenceSlot(model, cpu);
    await slot.load(gpuUnavailable);
    assert.equal(slot.ready, true);
    assert.deepEqual(await Promise.all([text(slot), text(slot), text(slot)]), ["cpu", "cpu", "cpu"]);
    assert.equal(cpu.opens, 1, "opened once for concurrent questions");
    assert.equal(cpu.reasons.length, 1);
    assert.match(cpu.reasons[0]!, /GPU cannot run the model: CUDA kernels failed their self-test/);
    const st = slot.status();
    assert.equal(st.state, "ready");
    assert.equal(st.mode, "cpu");
    assert.equal(st.device, "AMD EPYC");
    assert.match(st.fallback ?? "", /driver too old/);
    assert.equal(st.error, undefined, "ready: the GPU's error is in fallback, not error");
    await slot.close();
    assert.deepEqual(log.filter((l) => l.endsWith(":close")), ["cpu:close"]);
  });

  it("the CPU fallback failing too: failed, GPU_UNAVAILABLE naming both", async () => {
    const slot = new InferenceSlot(model, fallback([], { open: () => Promise.reject(new SealboxError("MODEL_UNAVAILABLE", "out of memory")) }));
    await assert.rejects(slot.load(gpuUnavailable));
    assert.equal(slot.status().state, "failed");
    await assert.rejects(ask(slot), (e: unknown) => isSealboxError(e, "GPU_UNAVAILABLE") && /driver too old.*CPU fallback failed too: out of memory/.test((e as Error).message));
  });

  it("not for other load failures: a rejected model stays rejected", async () => {
    const cpu = fallback([]);
    const slot = new InferenceSlot(model, cpu);
    await assert.rejects(slot.load(() => Promise.reject(new SealboxError("MODEL_REJECTED", "hash mismatch"))));
    await assert.rejects(ask(slot), (e: unknown) => isSealboxError(e, "MODEL_UNAVAILABLE"));
    assert.equal(cpu.opens, 0);
  });

  it("a loaded GPU model: answers go to the CPU only while health says so, and back", async () => {
    const log: string[] = [];
    let gpuCritical = false;
    const cpu = fallback(log, { want: () => gpuCritical });
    const slot = new InferenceSlot(model, cpu);
    await slot.load(async () => fakeService("cuda", log));
    assert.equal(await text(slot), "cuda");
    assert.equal(slot.status().fallback, undefined);
    gpuCritical = true;
    assert.equal(await text(slot), "cpu");
    assert.equal(slot.status().mode, "cpu");
    assert.match(slot.status().fallback ?? "", /GPU is critical/);
    gpuCritical = false;
    assert.equal(await text(slot), "cuda");
    assert.equal(slot.status().mode, "cuda");
    gpuCritical = true;
    assert.equal(await text(slot), "cpu");
    assert.equal(cpu.opens, 1, "the CPU engine stays open once opened");
    assert.equal(cpu.reasons.length, 1);
    await slot.close();
    assert.deepEqual(log.filter((l) => l.endsWith(":close")).sort(), ["cpu:close", "cuda:close"]);
  });

  it("no record of the switch, no CPU answer: a refusing ledger stops it, and the next question tries again", async () => {
    const log: string[] = [];
    let refuse = true;
    const cpu = fallback(log, {
      engaged: async () => {
        if (refuse) throw new SealboxError("LEDGER_FULL", "the ledger is full");
      },
    });
    const slot = new InferenceSlot(model, cpu);
    await slot.load(async () => fakeService("cuda", log));
    (cpu as { wanted: () => boolean }).wanted = () => true;
    await assert.rejects(ask(slot), (e: unknown) => isSealboxError(e, "LEDGER_FULL"));
    assert.deepEqual(log, ["cpu:close"], "the CPU engine opened for it was closed, nothing answered");
    refuse = false;
    assert.equal(await text(slot), "cpu");
    assert.equal(cpu.opens, 2);
  });
});
