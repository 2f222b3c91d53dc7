// curl --unix-socket against every endpoint: what an integrator types first.
// The table below must name every route in ROUTES, so a new endpoint cannot
// go untested by curl.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";

import type { Role } from "../../../daemon/rpc/types.js";
import { ROUTES } from "../../../daemon/transports/http-routes.js";
import { startTestBox, type TestBox } from "../../helpers/http-box.js";

const run = promisify(execFile);

interface CurlCase {
  route: string;
  role: Role;
  method: "GET" | "POST";
  path: string;
  body?: unknown;
  stream?: boolean;
  status: number;
  check(text: string): void;
}

const json = (text: string): any => JSON.parse(text);

const CASES: CurlCase[] = [
  { route: "/v1/chat/completions", role: "operator", method: "POST", path: "/v1/chat/completions", body: { messages: [{ role: "user", content: "hi" }] }, status: 200, check: (t) => assert.equal(json(t).object, "chat.completion") },
  { route: "/v1/chat/completions", role: "operator", method: "POST", path: "/v1/chat/completions", body: { messages: [{ role: "user", content: "hi" }], stream: true }, stream: true, status: 200, check: (t) => assert.match(t, /data: \[DONE\]\n\n$/) },
  { route: "/v1/completions", role: "integrator", method: "POST", path: "/v1/completions", body: { prompt: "x" }, status: 200, check: (t) => assert.equal(json(t).object, "text_completion") },
  { route: "/v1/embeddings", role: "integrator", method: "POST", path: "/v1/embeddings", body: { input: "x" }, status: 200, check: (t) => assert.equal(json(t).data[0].object, "embedding") },
  { route: "/v1/models", role: "operator", method: "GET", path: "/v1/models", status: 200, check: (t) => assert.equal(json(t).object, "list") },
  { route: "/sealbox/v1/status", role: "operator", method: "GET", path: "/sealbox/v1/status", status: 200, check: (t) => assert.equal(json(t).box.id, "box-test") },
  { route: "/sealbox/v1/audit/head", role: "operator", method: "GET", path: "/sealbox/v1/audit/head", status: 200, check: (t) => assert.ok(json(t).size > 0) },
  { route: "/sealbox/v1/audit/records", role: "technician", method: "GET", path: "/sealbox/v1/audit/records?count=2", status: 200, check: (t) => assert.equal(json(t).records.length, 2) },
  { route: "/sealbox/v1/audit/records/:seq", role: "technician", method: "GET", path: "/sealbox/v1/audit/records/0", status: 200, check: (t) => assert.equal(json(t).record.seq, 0) },
  { route: "/sealbox/v1/audit/proof/:seq", role: "integrator", method: "GET", path: "/sealbox/v1/audit/proof/0", status: 200, check: (t) => assert.ok(Array.isArray(json(t).proof)) },
  { route: "/sealbox/v1/audit/consistency", role: "integrator", method: "GET", path: "/sealbox/v1/audit/consistency?from=1", status: 200, check: (t) => assert.equal(json(t).from, 1) },
  { route: "/sealbox/v1/audit/tail", role: "technician", method: "GET", path: "/sealbox/v1/audit/tail?count=2", stream: true, status: 200, check: (t) => assert.match(t, /event: result\n/) },
  { route: "/sealbox/v1/audit/export", role: "technician", method: "POST", path: "/sealbox/v1/audit/export", body: { outDir: "/tmp/x" }, status: 501, check: (t) => assert.equal(json(t).error.code, "UNSUPPORTED") },
  { route: "/sealbox/v1/audit/annotate", role: "technician", method: "POST", path: "/sealbox/v1/audit/annotate", body: { text: "valve 3 closed" }, status: 200, check: (t) => assert.equal(typeof json(t).seq, "number") },
  { route: "/sealbox/v1/models", role: "technician", method: "GET", path: "/sealbox/v1/models", status: 200, check: (t) => assert.equal(json(t).models[0].name, "fake") },
  { route: "/sealbox/v1/models/import", role: "technician", method: "POST", path: "/sealbox/v1/models/import", body: { path: "/m.gguf", manifestPath: "/m.json" }, status: 501, check: (t) => assert.equal(json(t).error.code, "UNSUPPORTED") },
  { route: "/sealbox/v1/diode", role: "technician", method: "GET", path: "/sealbox/v1/diode", status: 200, check: (t) => assert.equal(json(t).enabled, false) },
  { route: "/sealbox/v1/ask", role: "operator", method: "POST", path: "/sealbox/v1/ask", body: { prompt: "hi" }, status: 200, check: (t) => assert.equal(json(t).text, "the answer is forty two") },
  { route: "/sealbox/v1/ask", role: "operator", method: "POST", path: "/sealbox/v1/ask", body: { prompt: "hi" }, stream: true, status: 200, check: (t) => assert.match(t, /event: chunk\ndata: \{"text":"the "\}/) },
  { route: "/sealbox/v1/methods", role: "integrator", method: "GET", path: "/sealbox/v1/methods", status: 200, check: (t) => assert.ok(json(t).methods.length > 10) },
  { route: "/sealbox/v1/rpc/:method", role: "admin", method: "POST", path: "/sealbox/v1/rpc/status", body: {}, status: 200, check: (t) => assert.ok(json(t).ledger) },
  { route: "/healthz", role: "integrator", method: "GET", path: "/healthz", status: 200, check: (t) => assert.equal(json(t).status, "ok") },
  { route: "/readyz", role: "integrator", method: "GET", path: "/readyz", status: 200, check: (t) => assert.equal(json(t).ready, true) },
  { route: "/metrics", role: "operator", method: "GET", path: "/metrics", status: 200, check: (t) => assert.match(t, /^# TYPE sealbox_rpc_calls_total counter$/m) },
  { route: "(403)", role: "operator", method: "GET", path: "/sealbox/v1/diode", status: 403, check: (t) => assert.match(json(t).error.message, /technician or admin role/) },
  { route: "(404)", role: "operator", method: "GET", path: "/nowhere", status: 404, check: (t) => assert.equal(json(t).error.code, "NOT_FOUND") },
];

describe("curl --unix-socket against every endpoint", () => {
  let box: TestBox;
  before(async () => {
    box = await startTestBox();
    // Something in the log for the audit endpoints to show.
    await box.table.dispatch("audit.annotate", { text: "seed" }, { role: "technician", transport: "test", peer: "-", signal: new AbortController().signal });
  });
  after(async () => {
    await box.close();
  });

  it("the table covers every route", () => {
    const covered = new Set(CASES.map((c) => `${c.method} ${c.route}`));
    for (const r of ROUTES) assert.ok(covered.has(`${r.method} ${r.path}`), `no curl case for ${r.method} ${r.path}`);
  });

  for (const c of CASES) {
    it(`${c.method} ${c.path}${c.stream ? " (stream)" : ""} as ${c.role} → ${c.status}`, async () => {
      const args = ["-sS", "--max-time", "20", "--unix-socket", box.socket(c.role), "-X", c.method, "-w", "\n%{http_code}"];
      if (c.stream) args.push("-N", "-H", "Accept: text/event-stream");
      if (c.body !== undefined) args.push("-H", "Content-Type: application/json", "--data-binary", JSON.stringify(c.body));
      args.push(`http://sealbox${c.path}`);
      const { stdout } = await run("curl", args, { maxBuffer: 8 << 20 });
      const cut = stdout.lastIndexOf("\n");
      const text = stdout.slice(0, cut);
      assert.equal(Number(stdout.slice(cut + 1)), c.status, text);
      c.check(text);
    });
  }
});
