import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { formatHeartbeat, HEARTBEAT_HEADER, parseHeartbeat, type Heartbeat } from "../../../daemon/diode/heartbeat.js";
import { SD_ID, syslogLine } from "../../../daemon/diode/syslog.js";

const hb: Heartbeat = { epoch: 18446744073709551615n, seq: 12, head: 1000, oldest: 10, time: "2025-01-02T03:04:05.678Z", catchupBoundS: 42 };

describe("heartbeat notes", () => {
  it("round-trip, with the largest epoch", () => {
    const text = formatHeartbeat(hb);
    assert.ok(text.startsWith(HEARTBEAT_HEADER + "\n") && text.endsWith("\n"));
    assert.deepEqual(parseHeartbeat(text), hb);
    assert.deepEqual(parseHeartbeat(formatHeartbeat({ ...hb, catchupBoundS: -1 })), { ...hb, catchupBoundS: -1 });
  });

  it("never parse as a checkpoint's shape, nor a checkpoint as a heartbeat", () => {
    const lines = formatHeartbeat(hb).split("\n");
    assert.doesNotMatch(lines[1]!, /^\d+$/, "a checkpoint's second line is a bare number");
    assert.equal(parseHeartbeat("sealbox.test/box-1\n1000\nAAAA\n"), undefined);
  });

  it("reject every malformed variant", () => {
    const good = formatHeartbeat(hb);
    const bad = [
      good.replace(HEARTBEAT_HEADER, "sealbox diode heartbeat v2"),
      good.replace("epoch 18446744073709551615", "epoch 18446744073709551616"), // 2^64
      good.replace("seq 12", "seq 012"),
      good.replace("seq 12", "seq -1"),
      good.replace("head 1000", "head 9007199254740993"),
      good.replace("oldest 10", "oldest 1001"), // beyond head
      good.replace("time 2025-01-02T03:04:05.678Z", "time yesterday"),
      good.replace("catchup-bound-s 42", "catchup-bound-s 4.2"),
      good.replace("seq 12\nhead 1000", "head 1000\nseq 12"),
      good.slice(0, -1),
      good + "extra\n",
      good.replace("\n", "\r\n"),
      "",
    ];
    for (const b of bad) assert.equal(parseHeartbeat(b), undefined, JSON.stringify(b));
  });
});

describe("RFC 5424 lines", () => {
  const record = (r: Record<string, unknown>): Uint8Array => new TextEncoder().encode(JSON.stringify(r));
  const base = { v: 1, seq: 7, time: "2025-01-02T03:04:05.678Z", box: "box-1", actor: { role: "operator", transport: "http-socket", peer: "uid=1000" }, category: "inference", action: "chat", target: "sha256:ab", outcome: "success" };

  it("carry PRI, version, time, host, app, msgid, one SD element and the record as MSG", () => {
    const line = syslogLine(record(base), 7);
    assert.match(line, /^<110>1 2025-01-02T03:04:05\.678Z box-1 sealbox - chat \[sealbox@32473 seq="7" category="inference" outcome="success" role="operator" transport="http-socket" peer="uid=1000" target="sha256:ab"\] \uFEFF\{/);
    assert.equal(line.slice(line.indexOf("\uFEFF") + 1), JSON.stringify(base));
    assert.ok(line.includes(SD_ID));
  });

  it("map outcomes to severities under facility 13 (log audit)", () => {
    assert.match(syslogLine(record({ ...base, outcome: "failure" }), 1), /^<108>1 /);
    assert.match(syslogLine(record({ ...base, outcome: "refused" }), 1), /^<109>1 /);
    assert.match(syslogLine(record({ ...base, outcome: "requested" }), 1), /^<110>1 /);
  });

  it("escape SD parameter values and keep header fields to printable ASCII", () => {
    const line = syslogLine(record({ ...base, box: "box one\u00e9", action: "a b".repeat(20), target: 'x"y\\z]w' }), 3);
    assert.match(line, /^<110>1 \S+ box_one_ sealbox - (a_b){10}a_ \[/);
    assert.ok(line.includes('target="x\\"y\\\\z\\]w"'));
    assert.ok(!line.slice(0, line.indexOf("\uFEFF")).includes("\n"));
  });

  it("still give a line for a verified record that is not a JSON object", () => {
    const line = syslogLine(new TextEncoder().encode("[1,2]"), 5);
    assert.match(line, /^<110>1 - - sealbox - - \[sealbox@32473 seq="5"\] \uFEFF\[1,2\]$/);
    assert.match(syslogLine(new TextEncoder().encode("not json"), 6), /seq="6"\] \uFEFFnot json$/);
  });
});
