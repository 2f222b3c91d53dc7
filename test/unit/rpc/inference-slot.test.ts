import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isSealboxError, SealboxError } from "../../../daemon/errors.js";
import { InferenceSlot, loadFailureError } from "../../../daemon/rpc/inference-slot.js";

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
