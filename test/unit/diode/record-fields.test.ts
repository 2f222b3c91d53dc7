// The syslog header scanned from bytes must be exactly the one a full
// JSON.parse gives, for every input: canonical records take the fast path,
// anything odd falls back, and hostile bytes never change the answer.

import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { describe, it } from "node:test";
import { scanSyslogFields } from "../../../daemon/diode/record-fields.js";
import { syslogPrefix, syslogPrefixOfBytes } from "../../../daemon/diode/syslog.js";
import { mulberry32 } from "../../../daemon/mulberry32.js";

const canonical =
  '{"action":"chat","actor":{"peer":"uid=1000","role":"operator","transport":"http-socket"},"box":"box-7f3a","category":"inference",' +
  '"details":{"prompt_sha256":"abab","tokens":[1,2,{"x":null}],"t":true,"f":false,"n":-1.5e3,"s":"a\\"b"},"outcome":"success","seq":12,"target":"sha256:0f3a","time":"2026-11-26T12:00:00.000Z"}';

function same(json: string, seq = 9): void {
  const bytes = Buffer.from(json, "utf8");
  assert.equal(syslogPrefixOfBytes(bytes, seq), syslogPrefix(json, seq), json);
}

describe("syslog fields scanned from a record's bytes", () => {
  it("reads a canonical record without a full parse, and agrees with it", () => {
    const f = scanSyslogFields(Buffer.from(canonical));
    assert.deepEqual(f, {
      action: "chat",
      peer: "uid=1000",
      role: "operator",
      transport: "http-socket",
      box: "box-7f3a",
      category: "inference",
      outcome: "success",
      target: "sha256:0f3a",
      time: "2026-11-26T12:00:00.000Z",
    });
    same(canonical);
  });

  it("decodes escapes and non-ASCII in the fields it wants", () => {
    const json = '{"action":"a\\u0041\\n","box":"b\\u00e9ox ü","target":"x\\"y\\\\z]w","actor":{"peer":"\\ud83d\\ude00"}}';
    assert.equal(scanSyslogFields(Buffer.from(json))?.action, "aA\n");
    same(json);
  });

  it("falls back, with the same answer, on whatever it is not sure of", () => {
    const odd = [
      '{"action":5}', // a wanted field that is not a string
      '{"target":{"a":1}}',
      '{"actor":null,"action":"x"}',
      '{"actor":[1],"action":"x"}',
      '{"actor":{"role":7}}',
      '{"action":"x","details":"bad \\q escape"}',
      '{"action":"x","details":"raw \u0001 control"}',
      '{"action":"x","details":01}',
      '{"action":"x","details":tru}',
      '{"action":"x","details":[1,]}',
      '{"action":"x",}',
      '{"action":"x"} trailing',
      '{"action":"x"',
      '{"action" "x"}',
      "\uFEFF{\"action\":\"x\"}",
      "[1,2]",
      '"just a string"',
      "null",
      "",
      "not json",
      '{"action":"x","details":' + "[".repeat(20000) + "]".repeat(20000) + "}",
    ];
    for (const json of odd) same(json);
  });

  it("takes the last of duplicate keys, and a later actor whole, as JSON.parse does", () => {
    same('{"action":"first","action":"second"}');
    same('{"actor":{"role":"a","peer":"p"},"actor":{"role":"b"}}');
    assert.equal(scanSyslogFields(Buffer.from('{"actor":{"role":"a","peer":"p"},"actor":{"role":"b"}}'))?.peer, undefined);
    same('{"action":"x","action":3}');
  });

  it("accepts JSON whitespace anywhere JSON.parse does", () => {
    same(' \n{ "action" :\t"x" , "actor" : { "role" : "r" } , "n" : [ 1 , 2 ] }\r\n');
  });

  it("agrees with JSON.parse on 20,000 mutations of a record", () => {
    const rand = mulberry32(11);
    const base = Buffer.from(canonical, "utf8");
    const alphabet = Buffer.from('{}[]",:\\ 0123456789-+.eEtrufalsn\u00e9x', "utf8");
    let fast = 0;
    for (let n = 0; n < 20_000; n++) {
      const b = Buffer.from(base);
      const edits = 1 + Math.floor(rand() * 3);
      for (let e = 0; e < edits; e++) b[Math.floor(rand() * b.length)] = alphabet[Math.floor(rand() * alphabet.length)]!;
      if (!isUtf8(b)) continue;
      const json = b.toString("utf8");
      assert.equal(syslogPrefixOfBytes(b, n), syslogPrefix(json, n), json);
      if (scanSyslogFields(b)) fast++;
    }
    // Most mutations land in the details or a value and stay valid: the fast path is the common one.
    assert.ok(fast > 1000, `fast path taken ${fast} times`);
  });
});
