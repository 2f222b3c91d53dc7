import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { renderStatus } from "../../../daemon/console/cmd-status.js";
import { formatRecord } from "../../../daemon/console/cmd-audit-live.js";
import { SseParser } from "../../../daemon/console/client.js";
import { resolveSocket } from "../../../daemon/console/client.js";

const FULL = {
  box: { id: "box-7", version: "0.1.0", startedAt: "2026-01-01T00:00:00Z", uptimeS: 93784 },
  key: { name: "sealbox.local/box-7", origin: "tpm", keyId: "a1b2c3d4" },
  ledger: { size: 123456, checkpointSize: 123450, lastCheckpointTime: "2026-01-02T03:04:05.000Z", checkpoint: "x", lastExport: { seq: 120000, time: "2026-01-02T00:00:00.000Z", target: "/media/usb" } },
  inference: { state: "ready", model: { name: "llama-8b", sha256: "0123456789abcdef".repeat(4), demo: false }, mode: "cuda", device: "NVIDIA H100", queueDepth: 3, running: 4, queueLimit: 16 },
  health: {
    state: "degraded",
    reasons: [{ code: "gpu.temperature", severity: "degraded", source: "gpu", message: "GPU 0 is at 86 °C (limit 85 °C)" }],
    cpuFallbackActive: false,
    gpu: { at: "2026-01-02T03:04:05Z", faults: [], gpus: [{ index: 0, name: "NVIDIA H100 80GB HBM3", tempC: 86, memoryUsedMiB: 40960, memoryTotalMiB: 81559, utilizationPct: 97, powerDrawW: 612.4 }] },
  },
  diode: { enabled: true, running: true, head: 123450, oldest: 100000 },
};

describe("sealbox status dashboard", () => {
  it("shows every part on one screen", () => {
    const text = renderStatus(FULL, false).join("\n");
    assert.match(text, /^sealbox box-7 · version 0\.1\.0 · up 1d 2h$/m);
    assert.match(text, /^Key +TPM-sealed · sealbox\.local\/box-7 · id a1b2c3d4$/m);
    assert.match(text, /^Ledger +123,456 records · signed checkpoint at 123,450 \(2026-01-02T03:04:05\.000Z\)$/m);
    assert.match(text, /last export: 2026-01-02T00:00:00\.000Z \(record #120000, \/media\/usb\)/);
    assert.match(text, /^Model +llama-8b \(sha256 0123456789ab\) · ready · cuda \(NVIDIA H100\)$/m);
    assert.match(text, /^Queue +4 answering · 3 waiting \(limit 16\)$/m);
    assert.match(text, /^Health +degraded · GPU 0 is at 86 °C \(limit 85 °C\)$/m);
    assert.match(text, /^GPU 0 +NVIDIA H100 80GB HBM3 · 86 °C · mem 40\/80 GiB · 97% busy · 612 W$/m);
    assert.match(text, /^Diode +on · running true · head 123450 · oldest 100000$/m);
    assert.ok(text.split("\n").length <= 24);
  });

  it("says plainly what is missing or wrong", () => {
    const text = renderStatus({ box: null, key: { name: "k", origin: "software", keyId: "00" }, ledger: { error: "closed" }, inference: { state: "failed", error: "hash mismatch", model: { name: "m", sha256: "ab" }, queueDepth: 0, running: 0 }, health: null, diode: null }, false).join("\n");
    assert.match(text, /software key \(development only\)/);
    assert.match(text, /^Ledger +error: closed$/m);
    assert.match(text, /· failed$/m);
    assert.match(text, /hash mismatch/);
    assert.match(text, /^Health +not monitored$/m);
    assert.match(text, /^Diode +not configured$/m);
  });

  it("shows the demo banner and a GPU fault", () => {
    const text = renderStatus({ inference: { state: "ready", model: { name: "demo", sha256: "cd" }, banner: "DEMO MODEL: noise", queueDepth: 0, running: 0 }, health: { state: "critical", reasons: [{ message: "GPU is lost" }], gpu: { gpus: [], faults: [{ message: "GPU is lost" }] } } }, false).join("\n");
    assert.match(text, /DEMO MODEL: noise/);
    assert.match(text, /^GPU +fault: GPU is lost$/m);
  });
});

describe("console helpers", () => {
  it("formats a record on one line", () => {
    const line = formatRecord({ v: 1, seq: 12, time: "2026-01-01T00:00:00.000Z", box: "b", actor: { role: "technician", transport: "http-socket", peer: "uid=0,pid=1" }, category: "site", action: "annotate", target: "breaker-4", outcome: "info", details: { text: "breaker 4 opened" } }, false);
    assert.equal(line, '#12 2026-01-01T00:00:00.000Z technician/http-socket(uid=0,pid=1) site/annotate breaker-4 info "breaker 4 opened"');
  });

  it("parses SSE split at every byte offset into the same events", () => {
    const stream = 'event: chunk\ndata: {"text":"a"}\n\n: keep-alive\n\nevent: chunk\r\ndata: {"text":"b\\n"}\r\n\r\nevent: result\ndata: {"ok":true}\n\n';
    const expected: [string | undefined, string][] = [["chunk", '{"text":"a"}'], ["chunk", '{"text":"b\\n"}'], ["result", '{"ok":true}']];
    for (let cut = 0; cut <= stream.length; cut++) {
      const got: [string | undefined, string][] = [];
      const p = new SseParser((e, d) => got.push([e, d]));
      p.push(stream.slice(0, cut));
      p.push(stream.slice(cut));
      assert.deepEqual(got, expected, `cut at ${cut}`);
    }
  });

  it("finds the socket from --socket, --state, $SEALBOX_STATE or the FHS default", () => {
    assert.equal(resolveSocket({ role: "operator", socket: "/x.sock", state: "/s" }, {}), "/x.sock");
    assert.equal(resolveSocket({ role: "technician", state: "/var/lib/sb/" }, {}), "/var/lib/sb/run/technician.sock");
    assert.equal(resolveSocket({ role: "admin" }, { SEALBOX_STATE: "/st" }), "/st/run/admin.sock");
    assert.equal(resolveSocket({ role: "integrator" }, {}), "/run/sealbox/integrator.sock");
  });
});
