import { test } from "node:test";
import assert from "node:assert/strict";
import { isSealboxError } from "../../../daemon/errors.js";
import { LineSplitter } from "../../../daemon/ledger/line-splitter.js";

const text = (b: Uint8Array): string => Buffer.from(b).toString("utf8");
const fixture = Buffer.from('{"a":1}\n{"b":"\u00e9\u20ac"}\n\n{"c":[1,2,3]}\nlast\n');
const want = ['{"a":1}', '{"b":"\u00e9\u20ac"}', "", '{"c":[1,2,3]}', "last"];

function run(chunks: Uint8Array[], max = 64): string[] {
  const s = new LineSplitter(max);
  const out: string[] = [];
  for (const c of chunks) s.push(c, (l) => out.push(text(l)));
  s.end();
  return out;
}

test("the same lines come out however the stream is split: every single offset", () => {
  for (let i = 0; i <= fixture.length; i++) {
    assert.deepEqual(run([fixture.subarray(0, i), fixture.subarray(i)]), want, `split at ${i}`);
  }
});

test("every pair of offsets, and one byte at a time", () => {
  for (let i = 0; i <= fixture.length; i++) {
    for (let j = i; j <= fixture.length; j++) {
      assert.deepEqual(run([fixture.subarray(0, i), fixture.subarray(i, j), fixture.subarray(j)]), want, `split at ${i}, ${j}`);
    }
  }
  assert.deepEqual(run([...fixture].map((b) => Uint8Array.of(b))), want);
});

test("the caller may reuse its chunk buffer", () => {
  const s = new LineSplitter(64);
  const out: string[] = [];
  const buf = Buffer.alloc(5);
  for (let i = 0; i < fixture.length; i += 5) {
    const n = fixture.copy(buf, 0, i, i + 5);
    s.push(buf.subarray(0, n), (l) => out.push(text(l)));
    buf.fill(0x41);
  }
  s.end();
  assert.deepEqual(out, want);
});

test("an over-long line is refused as soon as it is seen, split or not", () => {
  const long = Buffer.concat([Buffer.alloc(65, 0x61), Buffer.from("\n")]);
  for (let i = 0; i <= long.length; i++) {
    assert.throws(
      () => run([long.subarray(0, i), long.subarray(i)]),
      (e: unknown) => isSealboxError(e, "BAD_FORMAT") && /longer than 64 bytes/.test((e as Error).message),
      `split at ${i}`,
    );
  }
  // Exactly at the limit passes.
  assert.deepEqual(run([Buffer.concat([Buffer.alloc(64, 0x62), Buffer.from("\n")])]), ["b".repeat(64)]);
  // Endless bytes with no newline stop early, without buffering them all.
  const s = new LineSplitter(1000);
  const chunk = Buffer.alloc(100, 0);
  let pushed = 0;
  assert.throws(() => {
    for (;;) {
      s.push(chunk, () => undefined);
      pushed += chunk.length;
    }
  }, /longer than 1000/);
  assert.ok(pushed <= 1000);
});

test("a last line without its newline is a truncation", () => {
  const s = new LineSplitter(64);
  const out: string[] = [];
  s.push(Buffer.from("one\ntw"), (l) => out.push(text(l)));
  assert.deepEqual(out, ["one"]);
  assert.throws(() => s.end(), (e: unknown) => isSealboxError(e, "BAD_FORMAT") && /line 2 is cut off/.test((e as Error).message));
  const empty = new LineSplitter(64);
  empty.end();
  assert.equal(empty.lineNo, 0);
});
