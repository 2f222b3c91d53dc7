// What one test file did, from its events and how its process ended: the
// block run-files.ts prints for it (pure: events in, text out).
//
//   ✔ test/unit/ledger/merkle.test.ts · 66 tests · 1.5 s
//   ✖ test/integration/x.test.ts · 3 tests, 1 failed · 4.2 s
//     ✖ suite › the test (12 ms)
//       AssertionError …
//     - skipped: needs a GPU — no GPU here

import type { TestEvent } from "./test-event.js";

export interface Counts {
  tests: number;
  passed: number;
  failed: number;
  skipped: number;
  todo: number;
  cancelled: number;
}

export const zeroCounts = (): Counts => ({ tests: 0, passed: 0, failed: 0, skipped: 0, todo: 0, cancelled: 0 });

/** How the file's process ended, as the runner saw it. */
export interface FileEnd {
  code: number | null;
  signal: string | null;
  durationMs: number;
  /** Set when the runner killed it for running past its time limit. */
  timedOutAfterMs?: number;
  /** Processes of its group still running after it exited (the runner killed them). */
  leftovers: string[];
  /** It exited, but its output stayed open: held by a process it started outside its group. */
  outputHeldOpen?: boolean;
  /** The last of its stdout (other than events) and stderr, shown when it failed. */
  outputTail: string;
}

/** node's failure types that mean "never finished", not "failed an assertion". */
const CANCELLED = new Set(["cancelledByParent", "testTimeoutFailure", "testAborted"]);

export class FileReport {
  readonly counts = zeroCounts();
  readonly #details: string[] = [];
  /** Names of the open tests by nesting level, in report order, for "suite › test" paths. */
  readonly #reportedNames: string[] = [];
  /** The same as the tests run (dequeue/complete), to say where a killed file was. */
  readonly #runningNames: string[] = [];
  #lastStarted: string | undefined;
  #lastStartedEnded = true;

  constructor(
    readonly shownName: string,
    private readonly verbose = false,
  ) {}

  onEvent(e: TestEvent): void {
    switch (e.type) {
      case "dequeue":
        this.#lastStarted = enter(this.#runningNames, e);
        this.#lastStartedEnded = false;
        return;
      case "complete":
        if (pathOf(this.#runningNames, e) === this.#lastStarted) this.#lastStartedEnded = true;
        return;
      case "start":
        enter(this.#reportedNames, e);
        return;
      case "pass":
      case "fail":
        this.#result(e);
        return;
    }
  }

  #result(e: TestEvent): void {
    if (e.suite) return;
    const c = this.counts;
    c.tests += 1;
    const path = pathOf(this.#reportedNames, e);
    const ms = `${(e.durationMs ?? 0).toFixed(0)} ms`;
    if (e.skip !== undefined || e.todo !== undefined) {
      const [label, reason] = e.skip !== undefined ? ["skipped", e.skip] : ["todo", e.todo];
      if (e.skip !== undefined) c.skipped += 1;
      else c.todo += 1;
      this.#details.push(`  - ${label}: ${path}${reason ? ` — ${reason}` : ""}\n`);
      return;
    }
    if (e.type === "pass") {
      c.passed += 1;
      if (this.verbose) this.#details.push(`  ✔ ${path} (${ms})\n`);
      return;
    }
    if (CANCELLED.has(e.failureType ?? "")) c.cancelled += 1;
    else c.failed += 1;
    this.#details.push(`  ✖ ${path} (${ms})\n`);
    // A parent whose subtests failed says only that; the subtests said why.
    if (e.failureType !== "subtestsFailed" && e.error) this.#details.push(indent(e.error, "    "));
  }

  /** Whether the file passed: it exited 0, on time, with no test failed and nothing left running. */
  passed(end: FileEnd): boolean {
    return (
      end.code === 0 &&
      end.timedOutAfterMs === undefined &&
      end.leftovers.length === 0 &&
      end.outputHeldOpen !== true &&
      this.counts.failed === 0 &&
      this.counts.cancelled === 0
    );
  }

  render(end: FileEnd): string {
    const ok = this.passed(end);
    const c = this.counts;
    const parts = [`${c.tests} ${c.tests === 1 ? "test" : "tests"}`];
    if (c.failed > 0) parts.push(`${c.failed} failed`);
    if (c.cancelled > 0) parts.push(`${c.cancelled} cancelled`);
    if (c.skipped > 0) parts.push(`${c.skipped} skipped`);
    if (c.todo > 0) parts.push(`${c.todo} todo`);
    let out = `${ok ? "✔" : "✖"} ${this.shownName} · ${parts.join(", ")} · ${(end.durationMs / 1000).toFixed(1)} s\n`;
    out += this.#details.join("");
    if (end.timedOutAfterMs !== undefined) {
      const where =
        this.#lastStarted === undefined
          ? "before its first test started"
          : this.#lastStartedEnded
            ? `after its last test ended (${this.#lastStarted}): a handle or a child process was left open`
            : `in: ${this.#lastStarted}`;
      out += `    killed after ${Math.round(end.timedOutAfterMs / 1000)} s, ${where}\n`;
    } else if (end.code !== 0 && c.failed === 0 && c.cancelled === 0) {
      // Nothing failed by name, yet the process did not exit 0: it crashed, or failed outside a test.
      out += `    its process ended with ${end.signal ? `signal ${end.signal}` : `exit code ${end.code}`} outside any test\n`;
    }
    if (end.outputHeldOpen === true) {
      out += "    it exited, but its output stayed open: a process it started outside its process group still runs\n";
    }
    if (end.leftovers.length > 0) {
      out += `    it left ${end.leftovers.length === 1 ? "a process" : `${end.leftovers.length} processes`} running (killed):\n${indent(end.leftovers.join("\n"), "      ")}`;
    }
    if (!ok && end.outputTail.trim() !== "") out += `    its last output:\n${indent(end.outputTail, "      ")}`;
    return out;
  }

}

/** Records e as the open test at its level; returns its "suite › test" path. */
function enter(names: string[], e: TestEvent): string {
  names[e.nesting] = e.name;
  names.length = e.nesting + 1;
  return names.join(" › ");
}

function pathOf(names: string[], e: TestEvent): string {
  return [...names.slice(0, e.nesting), e.name].join(" › ");
}

export function addCounts(into: Counts, from: Counts): void {
  for (const k of Object.keys(into) as (keyof Counts)[]) into[k] += from[k];
}

export function formatTotals(c: Counts, files: number, failedFiles: number, durationMs: number): string {
  const parts = [`${c.passed} passed`, `${c.failed} failed`, `${c.cancelled} cancelled`, `${c.skipped} skipped`, `${c.todo} todo`];
  const fileNote = `${files} ${files === 1 ? "file" : "files"}${failedFiles > 0 ? ` (${failedFiles} failed)` : ""}`;
  return `ℹ ${c.tests} tests in ${fileNote}: ${parts.join(", ")} · ${(durationMs / 1000).toFixed(1)} s\n`;
}

function indent(text: string, prefix: string): string {
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  return body.split("\n").map((line) => `${prefix}${line}\n`).join("");
}
