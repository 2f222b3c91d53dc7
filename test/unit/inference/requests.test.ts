import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { checkDeadline, checkEmbedInputs, checkMaxTokens, checkMessages, checkSampling, checkStop, MAX_EMBED_INPUTS, MAX_MESSAGES } from "../../../daemon/inference/requests.js";

const isBad = (field?: string) => (e: unknown) => isSealboxError(e, "BAD_REQUEST") && (field === undefined || e.details?.field === field);
const defaults = { temperature: 0.7, topK: 40, topP: 0.95, minP: 0.05 };

describe("checkMessages", () => {
  it("keeps role and content only", () => {
    assert.deepEqual(checkMessages([{ role: "system", content: "s", extra: 1 }, { role: "user", content: "u" }]), [
      { role: "system", content: "s" },
      { role: "user", content: "u" },
    ]);
  });
  it("refuses hostile and malformed shapes", () => {
    for (const bad of [undefined, null, "hi", {}, [], [null], [1], [{ role: "user" }], [{ role: "root", content: "x" }], [{ role: "user", content: 5 }], [{ role: ["user"], content: "x" }]]) {
      assert.throws(() => checkMessages(bad), isBad(), JSON.stringify(bad));
    }
    assert.throws(() => checkMessages([{ role: "user", content: "q" }, { role: "assistant", content: "a" }]), /last message must be the user's/);
    assert.throws(() => checkMessages(Array.from({ length: MAX_MESSAGES + 1 }, () => ({ role: "user", content: "x" }))), /at most/);
    // __proto__ as a key is data, not a prototype.
    assert.throws(() => checkMessages([JSON.parse('{"__proto__": {"role": "user", "content": "x"}}')]), isBad());
  });
});

describe("checkSampling", () => {
  it("fills defaults and draws a seed only when none is given", () => {
    let drawn = 0;
    const s = checkSampling({}, defaults, () => (drawn++, 99));
    assert.deepEqual(s, { ...defaults, seed: 99 });
    assert.equal(checkSampling({ seed: 5 }, defaults, () => (drawn++, 1)).seed, 5);
    assert.equal(drawn, 1);
  });
  it("refuses values out of range or of the wrong type", () => {
    const seed = () => 0;
    for (const [p, field] of [
      [{ temperature: -0.1 }, "temperature"],
      [{ temperature: 2.5 }, "temperature"],
      [{ temperature: Number.NaN }, "temperature"],
      [{ temperature: "1" }, "temperature"],
      [{ topK: 1.5 }, "topK"],
      [{ topK: -1 }, "topK"],
      [{ topP: 0 }, "topP"],
      [{ topP: 1.1 }, "topP"],
      [{ minP: 1 }, "minP"],
      [{ seed: -1 }, "seed"],
      [{ seed: 2 ** 32 }, "seed"],
      [{ seed: 1.5 }, "seed"],
    ] as const) {
      assert.throws(() => checkSampling(p as never, defaults, seed), isBad(field), JSON.stringify(p));
    }
  });
});

describe("limits", () => {
  it("maxTokens: default capped by the limit; above the limit is a clear error", () => {
    assert.equal(checkMaxTokens(undefined, 512, 100), 100);
    assert.equal(checkMaxTokens(50, 512, 100), 50);
    assert.throws(() => checkMaxTokens(101, 512, 100), (e: unknown) => isSealboxError(e, "BAD_REQUEST") && /more than this box's limit of 100/.test(e.message) && e.details?.limit === 100);
    for (const bad of [0, -1, 1.5, "10", null]) assert.throws(() => checkMaxTokens(bad, 512, 100), isBad("maxTokens"));
  });
  it("deadline: default, range", () => {
    assert.equal(checkDeadline(undefined, 1000, 5000), 1000);
    assert.equal(checkDeadline(5000, 1000, 5000), 5000);
    for (const bad of [0, 5001, 1.5, "1"]) assert.throws(() => checkDeadline(bad, 1000, 5000), isBad("deadlineMs"));
  });
  it("stop strings", () => {
    assert.deepEqual(checkStop(undefined), []);
    assert.deepEqual(checkStop(["a", "bb"]), ["a", "bb"]);
    for (const bad of ["a", [""], ["x".repeat(257)], [1], ["a", "b", "c", "d", "e"]]) assert.throws(() => checkStop(bad), isBad(), JSON.stringify(bad));
  });
  it("embedding inputs: a string or a bounded array of strings", () => {
    assert.deepEqual(checkEmbedInputs("x"), ["x"]);
    assert.deepEqual(checkEmbedInputs(["x", ""]), ["x", ""]);
    for (const bad of [undefined, [], [1], {}, Array.from({ length: MAX_EMBED_INPUTS + 1 }, () => "x")]) assert.throws(() => checkEmbedInputs(bad), isBad());
  });
});
