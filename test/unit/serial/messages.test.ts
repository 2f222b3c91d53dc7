import { test } from "node:test";
import assert from "node:assert/strict";
import { SealboxError, isSealboxError } from "../../../daemon/errors.js";
import {
  decodeJson,
  errorFromMessage,
  errorJson,
  encodeJson,
  parseChallenge,
  parseError,
  parseHello,
  parseMac,
  parseRequest,
  challengeJson,
} from "../../../daemon/transports/serial-messages.js";

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const nonce = "0a".repeat(32);

test("decodeJson refuses non-UTF-8 and non-JSON with BAD_REQUEST", () => {
  assert.throws(() => decodeJson(Uint8Array.of(0x7b, 0xff, 0x7d)), (e) => isSealboxError(e, "BAD_REQUEST") && /UTF-8/.test(e.message));
  assert.throws(() => decodeJson(enc("{")), (e) => isSealboxError(e, "BAD_REQUEST") && /JSON/.test(e.message));
  assert.throws(() => decodeJson(Uint8Array.of(0xed, 0xa0, 0x80)), (e) => isSealboxError(e, "BAD_REQUEST"), "encoded surrogate");
  assert.deepEqual(decodeJson(enc('{"a":"\u00e9"}')), { a: "é" });
});

test("HELLO: valid parses; each malformed field is named", () => {
  const h = parseHello(enc({ versions: [1, 2], maxPayloadBytes: 512, nonce, client: "plc-7" }));
  assert.deepEqual(h.versions, [1, 2]);
  assert.equal(h.maxPayloadBytes, 512);
  assert.equal(h.nonce.length, 32);
  assert.equal(h.client, "plc-7");
  const bad: [unknown, RegExp][] = [
    [[1], /object/],
    [{ maxPayloadBytes: 512, nonce }, /versions/],
    [{ versions: [], maxPayloadBytes: 512, nonce }, /versions/],
    [{ versions: ["1"], maxPayloadBytes: 512, nonce }, /versions/],
    [{ versions: new Array(17).fill(1), maxPayloadBytes: 512, nonce }, /versions/],
    [{ versions: [1], maxPayloadBytes: 255, nonce }, /maxPayloadBytes/],
    [{ versions: [1], maxPayloadBytes: 16385, nonce }, /maxPayloadBytes/],
    [{ versions: [1], maxPayloadBytes: 1.5, nonce }, /maxPayloadBytes/],
    [{ versions: [1], maxPayloadBytes: 512, nonce: "0a".repeat(31) }, /nonce/],
    [{ versions: [1], maxPayloadBytes: 512, nonce: "zz".repeat(32) }, /nonce/],
    [{ versions: [1], maxPayloadBytes: 512, nonce: 5 }, /nonce/],
  ];
  for (const [v, re] of bad) assert.throws(() => parseHello(enc(v)), (e) => isSealboxError(e, "BAD_REQUEST") && re.test(e.message), JSON.stringify(v));
  assert.equal(parseHello(enc({ versions: [1], maxPayloadBytes: 512, nonce, client: "x".repeat(500) })).client!.length, 64, "client name is clipped");
});

test("CHALLENGE round-trips through challengeJson", () => {
  const c = { version: 1, nonce: new Uint8Array(32).fill(9), maxPayloadBytes: 1024, maxMessageBytes: 65536, maxInFlight: 4, idleTimeoutMs: 30000, handshakeTimeoutMs: 10000 };
  assert.deepEqual(parseChallenge(encodeJson(challengeJson(c))), c);
  assert.throws(() => parseChallenge(enc({ ...challengeJson(c) as object, version: 0 })), (e) => isSealboxError(e, "BAD_REQUEST"));
});

test("AUTH/WELCOME mac: exactly 64 hex digits", () => {
  assert.equal(parseMac(enc({ mac: "AB".repeat(32) }), "AUTH").length, 32);
  for (const v of [{}, { mac: "ab".repeat(33) }, { mac: 1 }, "x", null]) assert.throws(() => parseMac(enc(v), "AUTH"), (e) => isSealboxError(e, "BAD_REQUEST"));
});

test("REQUEST: method required (1–128 chars), params default to null", () => {
  assert.deepEqual(parseRequest(enc({ method: "status" })), { method: "status", params: null });
  assert.deepEqual(parseRequest(enc({ method: "ask", params: { q: 1 } })), { method: "ask", params: { q: 1 } });
  for (const v of [{}, { method: "" }, { method: "m".repeat(129) }, { method: 3 }, [], 7]) {
    assert.throws(() => parseRequest(enc(v)), (e) => isSealboxError(e, "BAD_REQUEST"), JSON.stringify(v));
  }
});

test("ERROR payload carries the registry code, retryable and details; unknown codes map to PROTOCOL_ERROR", () => {
  const e = new SealboxError("BUSY", "queue full", { details: { depth: 9 } });
  const m = parseError(encodeJson(errorJson(e, true)));
  assert.deepEqual(m, { code: "BUSY", message: "queue full", retryable: true, details: { depth: 9 }, session: "closed" });
  const back = errorFromMessage(m);
  assert.equal(back.code, "BUSY");
  assert.equal(back.details?.depth, 9);
  const unknown = errorFromMessage({ code: "FROM_THE_FUTURE", message: "?", retryable: false });
  assert.equal(unknown.code, "PROTOCOL_ERROR");
  assert.equal(unknown.details?.remoteCode, "FROM_THE_FUTURE");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.deepEqual(parseError(encodeJson(errorJson(new SealboxError("INTERNAL", "x", { details: cyclic })))), { code: "INTERNAL", message: "x", retryable: false });
  assert.throws(() => parseError(enc({ message: "no code" })), (err) => isSealboxError(err, "PROTOCOL_ERROR"));
});
