import { test } from "node:test";
import assert from "node:assert/strict";
import { addCounts, FileReport, formatTotals, zeroCounts, type FileEnd } from "../../runner/file-report.js";
import type { TestEvent } from "../../runner/test-event.js";

const ok: FileEnd = { code: 0, signal: null, durationMs: 1500, leftovers: [], outputTail: "" };
const ev = (type: TestEvent["type"], name: string, nesting = 0, extra: Partial<TestEvent> = {}): TestEvent => ({ type, name, nesting, ...extra });

function feed(report: FileReport, events: TestEvent[]): FileReport {
  for (const e of events) report.onEvent(e);
  return report;
}

test("a passing file is one line: its source name, count and time", () => {
  const r = feed(new FileReport("test/unit/a.test.ts"), [ev("start", "one"), ev("pass", "one"), ev("start", "two"), ev("pass", "two")]);
  assert.equal(r.render(ok), "✔ test/unit/a.test.ts · 2 tests · 1.5 s\n");
  assert.equal(r.passed(ok), true);
  assert.deepEqual(r.counts, { tests: 2, passed: 2, failed: 0, skipped: 0, todo: 0, cancelled: 0 });
});

test("--verbose lists every passing test too", () => {
  const r = feed(new FileReport("a.test.ts", true), [ev("start", "one"), ev("pass", "one", 0, { durationMs: 3.4 })]);
  assert.equal(r.render(ok), "✔ a.test.ts · 1 test · 1.5 s\n  ✔ one (3 ms)\n");
});

test("a failure is shown in full under its suite path; suites are not counted as tests", () => {
  const r = feed(new FileReport("a.test.ts"), [
    ev("start", "suite"),
    ev("start", "inner", 1),
    ev("fail", "inner", 1, { durationMs: 12, failureType: "testCodeFailure", error: "AssertionError: 1 !== 2\n    at mine (file:///a.js:1:1)" }),
    ev("fail", "suite", 0, { suite: true, failureType: "subtestsFailed", error: "1 subtest failed" }),
  ]);
  const end = { ...ok, code: 1 };
  assert.equal(r.render(end), "✖ a.test.ts · 1 test, 1 failed · 1.5 s\n  ✖ suite › inner (12 ms)\n    AssertionError: 1 !== 2\n        at mine (file:///a.js:1:1)\n");
  assert.equal(r.passed(end), false);
});

test("a parent test whose subtests failed gets a line but no error of its own", () => {
  const r = feed(new FileReport("a.test.ts"), [ev("start", "parent"), ev("fail", "parent", 0, { failureType: "subtestsFailed", error: "1 subtest failed" })]);
  assert.doesNotMatch(r.render({ ...ok, code: 1 }), /1 subtest failed/);
});

test("skips and todos are listed with their reasons, never silently", () => {
  const r = feed(new FileReport("a.test.ts"), [ev("start", "gpu"), ev("pass", "gpu", 0, { skip: "needs a GPU" }), ev("start", "later"), ev("pass", "later", 0, { todo: "" })]);
  assert.equal(r.render(ok), "✔ a.test.ts · 2 tests, 1 skipped, 1 todo · 1.5 s\n  - skipped: gpu — needs a GPU\n  - todo: later\n");
});

test("cancelled tests (timed out, cancelled by a parent) fail the file and are counted apart", () => {
  const r = feed(new FileReport("a.test.ts"), [ev("start", "slow"), ev("fail", "slow", 0, { failureType: "testTimeoutFailure", error: "test timed out after 100ms" })]);
  assert.equal(r.counts.cancelled, 1);
  assert.equal(r.counts.failed, 0);
  assert.equal(r.passed(ok), false);
  assert.match(r.render(ok), /^✖ a\.test\.ts · 1 test, 1 cancelled · /);
});

test("a file killed for its time says which test it was in, from the real-time events", () => {
  const r = feed(new FileReport("a.test.ts"), [ev("dequeue", "suite"), ev("dequeue", "waits for ever", 1)]);
  const text = r.render({ ...ok, code: null, signal: "SIGTERM", timedOutAfterMs: 600_000 });
  assert.match(text, /^✖ a\.test\.ts · 0 tests · /);
  assert.match(text, /\n {4}killed after 600 s, in: suite › waits for ever\n/);
});

test("killed after its last test ended: a handle or process was left open", () => {
  const r = feed(new FileReport("a.test.ts"), [ev("dequeue", "done"), ev("complete", "done"), ev("start", "done"), ev("pass", "done")]);
  assert.match(r.render({ ...ok, code: null, signal: "SIGTERM", timedOutAfterMs: 10_000 }), /killed after 10 s, after its last test ended \(done\): a handle or a child process was left open/);
  const none = new FileReport("b.test.ts");
  assert.match(none.render({ ...ok, code: null, signal: "SIGKILL", timedOutAfterMs: 10_000 }), /killed after 10 s, before its first test started/);
});

test("a crash outside any test, leftover processes and a held output each fail the file, with the last output", () => {
  const crashed = feed(new FileReport("a.test.ts"), [ev("start", "one"), ev("pass", "one")]);
  const text = crashed.render({ ...ok, code: 7, outputTail: "Error: boom at import\n" });
  assert.match(text, /^✖ a\.test\.ts · 1 test · /);
  assert.match(text, /its process ended with exit code 7 outside any test/);
  assert.match(text, /its last output:\n {6}Error: boom at import\n/);
  const signalled = new FileReport("a.test.ts").render({ ...ok, code: null, signal: "SIGSEGV" });
  assert.match(signalled, /ended with signal SIGSEGV/);

  const leaky = new FileReport("a.test.ts");
  const end = { ...ok, leftovers: ["4242 swtpm socket --tpm2"] };
  assert.equal(leaky.passed(end), false);
  assert.match(leaky.render(end), /it left a process running \(killed\):\n {6}4242 swtpm socket --tpm2\n/);

  const held = { ...ok, outputHeldOpen: true };
  assert.equal(leaky.passed(held), false);
  assert.match(leaky.render(held), /its output stayed open/);
});

test("the output of a passing file is not shown", () => {
  assert.doesNotMatch(new FileReport("a.test.ts").render({ ...ok, outputTail: "noise\n" }), /noise/);
});

test("totals add up across files and say how many files failed", () => {
  const total = zeroCounts();
  addCounts(total, { tests: 3, passed: 2, failed: 1, skipped: 0, todo: 0, cancelled: 0 });
  addCounts(total, { tests: 2, passed: 1, failed: 0, skipped: 1, todo: 0, cancelled: 0 });
  assert.equal(formatTotals(total, 2, 1, 4321), "ℹ 5 tests in 2 files (1 failed): 3 passed, 1 failed, 0 cancelled, 1 skipped, 0 todo · 4.3 s\n");
  assert.equal(formatTotals(zeroCounts(), 1, 0, 0), "ℹ 0 tests in 1 file: 0 passed, 0 failed, 0 cancelled, 0 skipped, 0 todo · 0.0 s\n");
});
