import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeTestEvent, describeError, encodeTestEvent, EVENT_MARK, toTestEvent } from "../../runner/test-event.js";
import { parseRunArgs, shownName } from "../../runner/run-files.js";

test("node's events become TestEvents: skip and todo reasons, suites, durations, rendered errors", () => {
  assert.deepEqual(toTestEvent({ type: "test:pass", data: { name: "a", nesting: 1, skip: "no GPU", details: { duration_ms: 2 } } }), {
    type: "pass",
    name: "a",
    nesting: 1,
    skip: "no GPU",
    durationMs: 2,
  });
  assert.deepEqual(toTestEvent({ type: "test:pass", data: { name: "s", nesting: 0, todo: true, details: { type: "suite" } } }), { type: "pass", name: "s", nesting: 0, todo: "", suite: true });
  const wrapped = Object.assign(new Error("test failed"), { failureType: "testCodeFailure", cause: new Error("the real reason") });
  const fail = toTestEvent({ type: "test:fail", data: { name: "f", nesting: 0, details: { error: wrapped } } });
  assert.equal(fail?.failureType, "testCodeFailure");
  assert.match(fail?.error ?? "", /^Error: the real reason/);
  assert.equal(toTestEvent({ type: "test:diagnostic", data: { message: "tests 3", nesting: 0 } }), undefined, "the runner counts for itself");
  assert.equal(toTestEvent({ type: "test:enqueue", data: { name: "x" } }), undefined);
  assert.equal(toTestEvent({ type: "test:stdout", data: { message: "x" } }), undefined);
});

test("an event line round-trips; the test's own output and damaged lines are not events", () => {
  const e = { type: "fail" as const, name: "a \u001e \n b", nesting: 2, error: "boom\nline 2" };
  const line = encodeTestEvent(e);
  assert.ok(line.startsWith(EVENT_MARK) && line.endsWith("\n") && !line.slice(0, -1).includes("\n"), "one line");
  assert.deepEqual(decodeTestEvent(line.slice(0, -1)), e);
  assert.equal(decodeTestEvent("plain output"), undefined);
  assert.equal(decodeTestEvent(line.slice(0, 20)), undefined, "cut short");
  assert.equal(decodeTestEvent(`${EVENT_MARK}{"type":"pass"}`), undefined, "fields missing");
  assert.equal(decodeTestEvent(`${EVENT_MARK}null`), undefined);
  assert.equal(decodeTestEvent(`${EVENT_MARK}[1,2]`), undefined);
});

test("describeError shows the cause, drops node's own frames, and bounds its length", () => {
  const error = new Error("boom");
  error.stack = ["Error: boom", "    at mine (file:///repo/x.js:1:1)", "    at Test.run (node:internal/test_runner/test:796:25)", "    at node:internal/process/task_queues:95:5", "    at new Promise (<anonymous>)"].join("\n");
  const text = describeError(error);
  assert.match(text, /at mine/);
  assert.doesNotMatch(text, /node:internal|<anonymous>/);
  assert.equal(describeError(Object.assign(new Error("test timed out after 5ms"), { failureType: "testTimeoutFailure", cause: "x" })), "test timed out after 5ms");
  const long = describeError("line\n".repeat(100));
  assert.equal(long.split("\n").length, 41);
  assert.match(long, /… 61 more lines$/);
  const wide = describeError("x".repeat(100_000));
  assert.equal(wide, `${"x".repeat(16_384)} … (${100_000 - 16_384} more characters)`, "an event line stays bounded");
});

test("run-files arguments: defaults, options, and clear refusals", () => {
  assert.deepEqual(parseRunArgs(["a.js", "b.js"]), { files: ["a.js", "b.js"], concurrency: 2, timeoutMs: 600_000, slowFileMs: 180_000, verbose: false });
  assert.deepEqual(parseRunArgs(["--concurrency", "3", "--timeout-s", "1.5", "--slow-file-s", "9", "--verbose", "a.js"]), {
    files: ["a.js"],
    concurrency: 3,
    timeoutMs: 1500,
    slowFileMs: 9000,
    verbose: true,
  });
  assert.throws(() => parseRunArgs([]), /no test files/);
  assert.throws(() => parseRunArgs(["--concurrency", "0", "a.js"]), /whole number/);
  assert.throws(() => parseRunArgs(["--timeout-s", "-1", "a.js"]), /positive number/);
  assert.throws(() => parseRunArgs(["--timeout-s"]), /positive number/);
  assert.throws(() => parseRunArgs(["--fast", "a.js"]), /unknown option --fast/);
});

test("compiled test files are shown as their sources", () => {
  assert.equal(shownName("/repo/dist/test/unit/a.test.js", "/repo"), "test/unit/a.test.ts");
  assert.equal(shownName("/elsewhere/b.test.mjs", "/repo"), "../elsewhere/b.test.mjs");
});
