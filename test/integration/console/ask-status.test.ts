// `sealbox ask`, `status`, `audit tail`, `audit annotate` as a person (and a
// script) uses them: a separate process talking to a box over its sockets.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { join } from "node:path";

import { runSealbox, startBoxProcess, type BoxProcess } from "../../helpers/console.js";
import { request } from "../../helpers/http-box.js";

describe("sealbox ask, status, audit tail/annotate", () => {
  let box: BoxProcess;
  before(async () => {
    box = await startBoxProcess(40);
  });
  after(async () => {
    await box.stop();
  });

  it("ask streams the answer: the first words arrive before the command ends", async () => {
    let chunks = 0;
    const r = await runSealbox(["ask", "--state", box.dir, "is pump 3 ok?"], { onStdout: () => chunks++ });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "Pump 3 pressure is nominal. Check valve V-12 weekly. (1 messages)\n");
    assert.ok(chunks >= 3, `answer came in ${chunks} pieces`);
    assert.match(r.stderr, /^\[audit #\d+ #\d+ · \d+ tokens · model fake\]$/m);
  });

  it("ask reads the question from stdin, and --json gives one object with the audit numbers", async () => {
    const r = await runSealbox(["ask", "--state", box.dir, "--json", "--max-tokens", "50", "--seed", "7"], { input: "what about valve 12?\n" });
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.match(result.text, /^Pump 3/);
    assert.equal(result.auditSeq.length, 2);
    assert.equal(result.finishReason, "stop");
  });

  it("Ctrl-C stops the answer: exit 130, [cancelled], and the box records it as cancelled", async () => {
    let sent = false;
    const r = await runSealbox(["ask", "--state", box.dir, "a long answer please"], {
      onStdout: (_c, child) => {
        if (!sent) {
          sent = true;
          child.kill("SIGINT");
        }
      },
    });
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /\[cancelled\]/);
    assert.ok(!r.stdout.includes("weekly"), r.stdout);
    // The daemon saw the connection close and recorded how the answer ended.
    let cancelled = false;
    for (let i = 0; i < 40 && !cancelled; i++) {
      const recs = await request(join(box.dir, "run", "technician.sock"), "GET", "/sealbox/v1/audit/records?count=20");
      cancelled = recs.json().records.some((rec: { details?: { finishReason?: string } }) => rec.details?.finishReason === "cancelled");
      if (!cancelled) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(cancelled, "no cancelled outcome record");
  });

  it("status shows the dashboard; --json the whole status", async () => {
    const r = await runSealbox(["status", "--state", box.dir]);
    assert.equal(r.code, 0, r.stderr);
    for (const re of [/^sealbox box-test · version 0\.1\.0/m, /^Key +software key \(development only\)/m, /^Ledger +\d+ records · signed checkpoint at \d+/m, /last export: never/, /^Model +fake \(sha256 ffffffffffff\) · ready/m, /^Queue +0 answering · 0 waiting/m, /^Health /m, /^Diode /m]) {
      assert.match(r.stdout, re);
    }
    assert.ok(r.stdout.split("\n").length <= 24, "fits one screen");
    const j = await runSealbox(["status", "--state", box.dir, "--json"]);
    assert.equal(JSON.parse(j.stdout).box.id, "box-test");
  });

  it("annotate writes a site event; tail shows it; both in --json too", async () => {
    const a = await runSealbox(["audit", "annotate", "--state", box.dir, "breaker 4 opened for maintenance", "--target", "breaker-4", "--detail", "ticket=T-17"]);
    assert.equal(a.code, 0, a.stderr);
    const seq = Number(/recorded as #(\d+)/.exec(a.stdout)?.[1]);
    assert.ok(seq >= 0);
    const t = await runSealbox(["audit", "tail", "--state", box.dir, "-n", "5"]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, new RegExp(`^#${seq} \\S+ technician/http-socket\\(uid=\\d+,pid=\\d+\\) site/annotate breaker-4 info "breaker 4 opened for maintenance"$`, "m"));
    const j = await runSealbox(["audit", "annotate", "--state", box.dir, "--role", "integrator", "--json", "valve 3 closed"]);
    assert.equal(JSON.parse(j.stdout).seq, seq + 3); // the tail's own two records (requested, success) came between
    const tj = await runSealbox(["audit", "tail", "--state", box.dir, "--json", "--from", String(seq), "-n", "1"]);
    const first = JSON.parse(tj.stdout.split("\n")[0]!);
    assert.equal(first.details.ticket, "T-17");
  });

  it("tail -f follows new records until Ctrl-C", async () => {
    let annotated = false;
    let seen = "";
    const r = await runSealbox(["audit", "tail", "-f", "--state", box.dir, "-n", "1"], {
      onStdout: (chunk, child) => {
        seen += chunk;
        if (!annotated) {
          annotated = true;
          void runSealbox(["audit", "annotate", "--state", box.dir, "pump 7 restarted"]);
        }
        if (seen.includes("pump 7 restarted")) child.kill("SIGINT");
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /site\/annotate info "pump 7 restarted"/);
  });
});
