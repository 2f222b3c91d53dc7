// ReceiverOutput writes each record's own bytes into records.jsonl and, after
// the syslog prefix, into syslog.log: the lines must be exactly what
// syslogLine() makes, for valid UTF-8 records and for records that are not.

import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ReceiverOutput } from "../../../daemon/diode/receiver-output.js";
import { syslogLine, syslogPrefix } from "../../../daemon/diode/syslog.js";

describe("diode receiver output lines", () => {
  it("writes the record bytes and the syslog lines syslogLine() makes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealbox-diode-out-"));
    try {
      const enc = new TextEncoder();
      const block = new Uint8Array(4096);
      const records: Uint8Array[] = [];
      let off = 0;
      const add = (r: Uint8Array): void => {
        block.set(r, off);
        records.push(block.subarray(off, off + r.length)); // views into one buffer, as a decoded block gives
        off += r.length;
      };
      add(enc.encode(JSON.stringify({ box: "box-1", action: "chat", outcome: "success", time: "2026-01-01T00:00:00Z", actor: { role: "operator" }, target: 'x"]\\', details: { s: "é😀" } })));
      add(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])); // {"a":"\xff\xfe"}: not UTF-8
      add(enc.encode("[1,2]"));
      const out = ReceiverOutput.open(dir, undefined);
      records.forEach((r, i) => out.appendEntry(10 + i, r));
      block.fill(0, off); // what lies after the views must not leak into the lines
      const sizes = await out.flush(undefined);
      await out.close();
      const wantRecords = Buffer.concat(records.flatMap((r) => [r, Buffer.from("\n")]));
      const wantSyslog = Buffer.from(records.map((r, i) => syslogLine(r, 10 + i) + "\n").join(""), "utf8");
      assert.deepEqual(readFileSync(join(dir, "records.jsonl")), wantRecords);
      assert.deepEqual(readFileSync(join(dir, "syslog.log")), wantSyslog);
      assert.equal(sizes.records, wantRecords.length);
      assert.equal(sizes.syslog, wantSyslog.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("syslogPrefix + the JSON is syslogLine", () => {
    const json = JSON.stringify({ box: "b", action: "a", outcome: "failure" });
    assert.equal(syslogPrefix(json, 3) + json, syslogLine(new TextEncoder().encode(json), 3));
    assert.match(syslogPrefix(json, 3), /^<108>1 .*\uFEFF$/);
  });
});
