// One line per node:test event, from a test file's process to the runner
// (run-files.ts) over its stdout. A line is EVENT_MARK, then JSON, then \n;
// anything else on that stdout is the test's own output. Plain JSON lines
// rather than node's own v8-serialised child protocol: the runner reads them
// with nothing to get out of step, and errors arrive already rendered.

import { inspect } from "node:util";

export const EVENT_MARK = "\u001esealbox-test ";

/**
 * dequeue and complete come the moment a test starts and ends; start, pass and
 * fail come in report order (declaration order), so later than they happen.
 */
export type TestEventType = "dequeue" | "complete" | "start" | "pass" | "fail";

export interface TestEvent {
  type: TestEventType;
  name: string;
  nesting: number;
  /** The reason of a skip or todo, or "" when none was given. */
  skip?: string;
  todo?: string;
  suite?: boolean;
  durationMs?: number;
  /** node's failureType: testCodeFailure, testTimeoutFailure, subtestsFailed, cancelledByParent, … */
  failureType?: string;
  error?: string;
}

const MAX_ERROR_LINES = 40;
const MAX_ERROR_CHARS = 16_384;
const NODE_FRAME = /^\s*at (?:.*\(node:[^)]*\)|node:\S*|.*\(<anonymous>\))$/;

/** A node:test reporter event (the fields read here) as a TestEvent, or undefined for the kinds not passed on. */
export function toTestEvent(event: { type: string; data: Record<string, unknown> }): TestEvent | undefined {
  const data = event.data;
  const types: Record<string, TestEventType> = {
    "test:dequeue": "dequeue",
    "test:complete": "complete",
    "test:start": "start",
    "test:pass": "pass",
    "test:fail": "fail",
  };
  const type = types[event.type];
  if (type === undefined) return undefined;
  const details = (data["details"] ?? {}) as { duration_ms?: number; type?: string; error?: unknown };
  const out: TestEvent = { type, name: String(data["name"] ?? ""), nesting: Number(data["nesting"] ?? 0) };
  if (data["skip"] !== undefined) out.skip = typeof data["skip"] === "string" ? data["skip"] : "";
  if (data["todo"] !== undefined) out.todo = typeof data["todo"] === "string" ? data["todo"] : "";
  if (details.type === "suite") out.suite = true;
  if (typeof details.duration_ms === "number") out.durationMs = details.duration_ms;
  if (type === "fail") {
    const failure = details.error as { failureType?: string } | undefined;
    if (failure?.failureType !== undefined) out.failureType = failure.failureType;
    out.error = describeError(details.error);
  }
  return out;
}

export function encodeTestEvent(event: TestEvent): string {
  return `${EVENT_MARK}${JSON.stringify(event)}\n`;
}

/** A line of a test file's stdout as a TestEvent, or undefined for the test's own output. */
export function decodeTestEvent(line: string): TestEvent | undefined {
  if (!line.startsWith(EVENT_MARK)) return undefined;
  try {
    const v = JSON.parse(line.slice(EVENT_MARK.length)) as TestEvent;
    return typeof v === "object" && v !== null && typeof v.type === "string" && typeof v.name === "string" && typeof v.nesting === "number" ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The error a test failed with, as text. Node wraps a test's own error in a
 * test failure (its cause); a timeout or a cancel is only the wrapper's
 * message. Stack frames inside node itself are left out.
 */
export function describeError(error: unknown): string {
  const wrapper = error as { cause?: unknown; failureType?: string; message?: string } | undefined;
  let text: string;
  if (wrapper?.failureType === undefined) text = render(error);
  else if (wrapper.failureType === "testCodeFailure" && wrapper.cause !== undefined) text = render(wrapper.cause);
  else text = String(wrapper.message ?? wrapper.failureType);
  const lines = text.split("\n").filter((line) => !NODE_FRAME.test(line));
  const kept = lines.length > MAX_ERROR_LINES ? [...lines.slice(0, MAX_ERROR_LINES), `… ${lines.length - MAX_ERROR_LINES} more lines`].join("\n") : lines.join("\n");
  return kept.length > MAX_ERROR_CHARS ? `${kept.slice(0, MAX_ERROR_CHARS)} … (${kept.length - MAX_ERROR_CHARS} more characters)` : kept;
}

function render(value: unknown): string {
  return typeof value === "string" ? value : inspect(value, { depth: 4, breakLength: 100 });
}
