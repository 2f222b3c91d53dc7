import { test } from "node:test";
import assert from "node:assert/strict";
import { isSealboxError } from "../../../daemon/errors.js";
import { canonicalJson, decodeRecord, encodeRecord, MAX_RECORD_BYTES, validateEvent } from "../../../daemon/ledger/record.js";
import type { AuditRecord, JsonValue } from "../../../daemon/ledger/types.js";

const rec = (over: Partial<AuditRecord> = {}): AuditRecord => ({
  v: 1,
  seq: 7,
  time: "2025-01-02T03:04:05.678Z",
  box: "box-0123",
  actor: { role: "operator", transport: "console", peer: "uid:1000" },
  category: "inference",
  action: "chat",
  target: "sha256:ab",
  outcome: "success",
  details: { tokens: 12 },
  ...over,
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isSealboxError(e)) return e.code;
    throw e;
  }
  return "none";
}

test("RFC 8785 §3.2.2.3 number serialisation (ECMAScript Number.toString)", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "0"],
    [1, "1"],
    [-1.5, "-1.5"],
    [1e21, "1e+21"],
    [1e-7, "1e-7"],
    [333333333.3333333, "333333333.3333333"],
    [9007199254740991, "9007199254740991"],
    [4.5, "4.5"],
    [0.002, "0.002"],
    [5e-324, "5e-324"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
  ];
  for (const [n, s] of cases) assert.equal(canonicalJson(n), s, String(n));
  assert.equal(code(() => canonicalJson(Number.NaN)), "RECORD_INVALID");
  assert.equal(code(() => canonicalJson(Number.POSITIVE_INFINITY)), "RECORD_INVALID");
});

test("RFC 8785 §3.2.3 sorts members by UTF-16 code units, recursively", () => {
  // The RFC's own sorting example: keys in UTF-16 order.
  const v = { "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis" };
  assert.equal(
    canonicalJson(v),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
  assert.equal(canonicalJson({ b: [{ z: 1, a: 2 }], a: null }), '{"a":null,"b":[{"a":2,"z":1}]}');
});

test("RFC 8785 string escaping and literals", () => {
  assert.equal(canonicalJson("\u0000\u001f\"\\/\u2028é😀"), '"\\u0000\\u001f\\"\\\\/\u2028é😀"');
  assert.equal(canonicalJson("\b\f\n\r\t"), '"\\b\\f\\n\\r\\t"');
  assert.equal(canonicalJson([true, false, null]), "[true,false,null]");
  assert.equal(code(() => canonicalJson("\ud800")), "RECORD_INVALID", "lone surrogate");
  assert.equal(code(() => canonicalJson({ k: undefined as unknown as JsonValue, a: 1 })), "none");
  assert.equal(canonicalJson({ k: undefined as unknown as JsonValue, a: 1 }), '{"a":1}');
  assert.equal(code(() => canonicalJson({ d: new Date(0) as unknown as JsonValue })), "RECORD_INVALID");
  assert.equal(code(() => canonicalJson({ f: (() => 1) as unknown as JsonValue })), "RECORD_INVALID");
  assert.equal(code(() => canonicalJson({ b: 1n as unknown as JsonValue })), "RECORD_INVALID");
  let deep: JsonValue = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  assert.equal(code(() => canonicalJson(deep)), "RECORD_INVALID", "nesting limit");
});

test("a record round-trips through its canonical bytes", () => {
  const r = rec();
  const bytes = encodeRecord(r);
  assert.equal(
    Buffer.from(bytes).toString(),
    '{"action":"chat","actor":{"peer":"uid:1000","role":"operator","transport":"console"},"box":"box-0123","category":"inference","details":{"tokens":12},"outcome":"success","seq":7,"target":"sha256:ab","time":"2025-01-02T03:04:05.678Z","v":1}',
  );
  assert.deepEqual(decodeRecord(bytes), r);
  const noOptional = rec();
  delete noOptional.details;
  delete noOptional.target;
  assert.deepEqual(decodeRecord(encodeRecord(noOptional)), noOptional);
});

test("records over 64 KiB are refused with RECORD_TOO_LARGE; at the limit they pass", () => {
  const base = encodeRecord(rec({ details: { pad: "" } })).length;
  const fits = rec({ details: { pad: "x".repeat(MAX_RECORD_BYTES - base) } });
  assert.equal(encodeRecord(fits).length, MAX_RECORD_BYTES);
  const over = rec({ details: { pad: "x".repeat(MAX_RECORD_BYTES - base + 1) } });
  assert.equal(code(() => encodeRecord(over)), "RECORD_TOO_LARGE");
  // Multi-byte characters count as bytes, not characters.
  assert.equal(code(() => encodeRecord(rec({ details: { pad: "é".repeat(MAX_RECORD_BYTES / 2) } }))), "RECORD_TOO_LARGE");
  assert.equal(code(() => decodeRecord(new Uint8Array(MAX_RECORD_BYTES + 1))), "RECORD_TOO_LARGE");
});

test("decodeRecord refuses non-canonical, malformed and hostile bytes", () => {
  const good = Buffer.from(encodeRecord(rec())).toString();
  const bad: [string, string | Uint8Array][] = [
    ["whitespace", good.replace(",", ", ")],
    ["key order", good.replace('"action":"chat","actor":{"peer":"uid:1000","role":"operator","transport":"console"}', '"actor":{"peer":"uid:1000","role":"operator","transport":"console"},"action":"chat"')],
    ["duplicate key", good.replace('"v":1}', '"v":1,"v":1}')],
    ["number form", good.replace('"seq":7', '"seq":7.0')],
    ["escaped ascii", good.replace('"chat"', '"\\u0063hat"')],
    ["not JSON", good.slice(0, -1)],
    ["array", "[]"],
    ["empty", ""],
    ["BOM", "\ufeff" + good],
    ["unknown field", good.replace('"v":1}', '"v":1,"x":1}')],
    ["version 2", good.replace('"v":1}', '"v":2}')],
    ["negative seq", good.replace('"seq":7', '"seq":-7')],
    ["fractional seq", good.replace('"seq":7', '"seq":7.5')],
    ["time without ms", good.replace(".678Z", "Z")],
    ["time with offset", good.replace(".678Z", ".678+01:00")],
    ["bad outcome", good.replace('"success"', '"maybe"')],
    ["empty action", good.replace('"chat"', '""')],
    ["actor extra", good.replace('"transport":"console"', '"transport":"console","x":"y"')],
    ["actor missing peer", good.replace('"peer":"uid:1000",', "")],
    ["details array", good.replace('{"tokens":12}', "[1]")],
    ["not UTF-8", Uint8Array.from([...Buffer.from(good.slice(0, 20)), 0xff, ...Buffer.from(good.slice(20))])],
    ["overlong UTF-8", Uint8Array.from([...Buffer.from(good.slice(0, 20)), 0xc0, 0xaf, ...Buffer.from(good.slice(20))])],
  ];
  for (const [why, input] of bad) {
    const bytes = typeof input === "string" ? Buffer.from(input) : input;
    assert.equal(code(() => decodeRecord(bytes)), "RECORD_INVALID", why);
  }
});

test("validateEvent names the first bad field", () => {
  const ok = { actor: { role: "r", transport: "t", peer: "p" }, category: "c", action: "a", outcome: "info" };
  assert.deepEqual(validateEvent(ok), ok);
  assert.throws(() => validateEvent({ ...ok, seq: 1 }), /unknown field 'seq'/);
  assert.throws(() => validateEvent({ ...ok, actor: { role: "r", transport: "t" } }), /actor.peer/);
  assert.throws(() => validateEvent({ ...ok, outcome: "ok" }), /outcome must be one of/);
  assert.throws(() => validateEvent({ ...ok, details: "x" }), /details must be an object/);
  assert.throws(() => validateEvent(null), /must be an object/);
  assert.throws(() => validateEvent({ ...ok, category: "x".repeat(65) }), /longer than 64/);
});

test("a record encoded in parts (head, seq, tail) is byte-identical to encodeRecord", async () => {
  const { encodeRecordParts, assembleRecord } = await import("../../../daemon/ledger/record.js");
  const variants: AuditRecord[] = [rec(), rec({ details: { z: [1, { b: 2, a: "seq" }], seq: 99 } }), rec({ target: "\u00e9\ud83d\ude00" })];
  const bare = rec();
  delete bare.details;
  delete bare.target;
  variants.push(bare);
  for (const r of variants) {
    const { seq, ...rest } = r;
    const parts = encodeRecordParts(rest);
    for (const s of [0, 7, 10, 123456789, 2 ** 53 - 1]) {
      assert.deepEqual(Buffer.from(assembleRecord(parts, s)).toString(), Buffer.from(encodeRecord({ ...r, seq: s })).toString(), `seq ${s}`);
    }
    assert.equal(seq, 7);
  }
  const big = encodeRecordParts({ ...rec(), details: { pad: "x".repeat(MAX_RECORD_BYTES) } });
  assert.equal(code(() => assembleRecord(big, 1)), "RECORD_TOO_LARGE");
});

test("the fast canonical check never accepts what the exact one refuses (integer-like keys, escapes)", () => {
  // Canonical with integer-like keys, which V8 reorders numerically: must still decode.
  const r = rec({ details: { "1": 1, "10": 2, "9": 3, a: { "2": 0, "11": 0 } } });
  const bytes = encodeRecord(r);
  assert.match(Buffer.from(bytes).toString(), /"1":1,"10":2,"9":3/);
  assert.deepEqual(decodeRecord(bytes), r);
  const good = Buffer.from(bytes).toString();
  const bad: [string, string][] = [
    ["numeric key order", good.replace('"1":1,"10":2,"9":3', '"1":1,"9":3,"10":2')],
    ["escaped emoji (canonical form is the raw character)", Buffer.from(encodeRecord(rec({ target: "\ud83d\ude00" }))).toString().replace("\ud83d\ude00", "\\ud83d\\ude00")],
    ["escaped lone surrogate", good.replace('"sha256:ab"', '"\\ud800"')],
    ["escaped slash", good.replace('"sha256:ab"', '"a\\/b"')],
    ["upper-case hex escape", Buffer.from(encodeRecord(rec({ target: "\u001f" }))).toString().replace("\\u001f", "\\u001F")],
    ["exponent form", good.replace('"tokens"', '"tokens"').replace('"seq":7', '"seq":7e0')],
  ];
  for (const [why, text] of bad) {
    assert.notEqual(text, good, `${why}: the variant differs`);
    assert.equal(code(() => decodeRecord(Buffer.from(text))), "RECORD_INVALID", why);
  }
});
