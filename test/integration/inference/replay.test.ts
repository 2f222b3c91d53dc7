// Record answers in a real ledger (LMDB, software key, signed checkpoints),
// then replay them with `sealbox audit replay` (in-process, read-only ledger).

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import { runReplayCommand, findRecordPair } from "../../../daemon/console/cmd-audit-replay.js";
import { isSealboxError } from "../../../daemon/errors.js";
import { planReplay } from "../../../daemon/inference/replay-plan.js";
import { engineOptionsFor, replay } from "../../../daemon/inference/replay.js";
import { InferenceEngine } from "../../../daemon/inference/engine.js";
import { InferenceService } from "../../../daemon/inference/service.js";
import type { GenerationResult } from "../../../daemon/inference/requests.js";
import { openSigner, provisionSoftwareKey } from "../../../daemon/keys/key-store.js";
import { openLedger } from "../../../daemon/ledger/ledger.js";
import { openLedgerReader } from "../../../daemon/ledger/reader.js";
import { makeDemoModel, openDemoEngine, type DemoModel } from "../../helpers/demo-model.js";

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  out.on("data", (c: Buffer) => chunks.out.push(c));
  err.on("data", (c: Buffer) => chunks.err.push(c));
  const code = await runReplayCommand(argv, { out, err });
  return { code, out: Buffer.concat(chunks.out).toString(), err: Buffer.concat(chunks.err).toString() };
}

describe("audit replay", () => {
  let dir: string;
  let model: DemoModel;
  const messages = [{ role: "system" as const, content: "You are the boiler house assistant." }, { role: "user" as const, content: "Is feed pump 2 running?" }];
  let stored: GenerationResult; // chat, text stored, deterministic engine
  let hashOnly: GenerationResult; // completion, hashes only
  let parallel: GenerationResult; // chat on a 2-sequence engine, text stored
  let embedded: { requestSeq: number };
  let schema: GenerationResult;
  const prompt = "Shift report, boiler house:\n";

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sealbox-replay-"));
    model = await makeDemoModel({ seed: 6, noEndTokens: true });
    await provisionSoftwareKey(dir);
    const signer = await openSigner(dir);
    const ledger = await openLedger({ stateDir: dir, signer });
    try {
      {
        await using svc = new InferenceService({ engine: await openDemoEngine(model, { deterministic: true }), audit: ledger, storeText: true });
        stored = await svc.chat({ messages, maxTokens: 48, temperature: 0.9, seed: 1234 });
        schema = await svc.chat({ messages, maxTokens: 40, jsonSchema: { type: "object", properties: { running: { type: "boolean" } } } });
        embedded = (await svc.embed({ input: ["feed pump", "boiler"] })).audit;
      }
      {
        await using svc = new InferenceService({ engine: await openDemoEngine(model, { deterministic: true }), audit: ledger });
        hashOnly = await svc.complete({ prompt, maxTokens: 70, seed: 99 });
      }
      {
        await using svc = new InferenceService({ engine: await openDemoEngine(model, { sequences: 2 }), audit: ledger, storeText: true });
        parallel = await svc.chat({ messages, maxTokens: 16, seed: 5 });
      }
    } finally {
      await ledger.close();
      await signer.close();
    }
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await model.cleanup();
  });

  const common = () => ["--state", dir, "--model", model.path, "--threads", "1", "--json"];

  it("replays a stored-text chat answer identically, from its request or its outcome record", async () => {
    for (const seq of [stored.audit.requestSeq, stored.audit.outcomeSeq]) {
      const r = await run([String(seq), ...common()]);
      assert.equal(r.code, 0, r.out + r.err);
      const report = JSON.parse(r.out);
      assert.equal(report.identical, true);
      assert.equal(report.replayedTokens, stored.usage.completionTokens);
      assert.equal(report.text, stored.text);
      assert.equal(report.requestSeq, stored.audit.requestSeq);
      assert.deepEqual(report.notes, []);
    }
  });

  it("replays a schema-constrained answer identically", async () => {
    const r = await run([String(schema.audit.requestSeq), ...common()]);
    assert.equal(JSON.parse(r.out).identical, true, r.out);
  });

  it("replays an embedding identically", async () => {
    const r = await run([String(embedded.requestSeq), ...common()]);
    assert.equal(r.code, 0, r.out);
    assert.equal(JSON.parse(r.out).identical, true);
  });

  it("says so in plain words without --json", async () => {
    const r = await run([String(stored.audit.requestSeq), "--state", dir, "--model", model.path]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^replay of chat request ${stored.audit.requestSeq} \\(outcome ${stored.audit.outcomeSeq}\\): identical — \\d+ tokens`));
  });

  it("with hashes only, needs the prompt, checks it against the recorded hash, then replays identically", async () => {
    const seq = String(hashOnly.audit.requestSeq);
    const missing = await run([seq, ...common()]);
    assert.equal(missing.code, 64);
    assert.match(JSON.parse(missing.out).error.message, /--prompt-file/);

    const wrong = join(dir, "wrong.txt");
    await writeFile(wrong, prompt.trim());
    const bad = await run([seq, ...common(), "--prompt-file", wrong]);
    assert.equal(JSON.parse(bad.out).error.code, "VERIFY_FAILED");
    assert.equal(bad.code, 1);

    const right = join(dir, "prompt.txt");
    await writeFile(right, prompt);
    const ok = await run([seq, ...common(), "--prompt-file", right]);
    assert.equal(ok.code, 0, ok.out);
    const report = JSON.parse(ok.out);
    assert.equal(report.identical, true);
    assert.equal(report.replayedTokens, hashOnly.usage.completionTokens);
  });

  it("replays an answer recorded on parallel sequences, noting that it was not in deterministic mode", async () => {
    const r = await run([String(parallel.audit.requestSeq), ...common()]);
    const report = JSON.parse(r.out);
    assert.equal(report.identical, true, r.out);
    assert.ok(report.notes.some((n: string) => /parallel sequences/.test(n)));
  });

  it("reports the first token where a replay diverges (exact with stored tokens, the block with hashes only)", async () => {
    const reader = await openLedgerReader(dir);
    const plans = [planReplay(...findRecordPair(reader, stored.audit.requestSeq)), planReplay(...findRecordPair(reader, hashOnly.audit.requestSeq))];
    await reader.close();
    for (const [i, plan] of plans.entries()) {
      await using engine = await InferenceEngine.open(engineOptionsFor(plan, { modelPath: model.path, threads: 1 }));
      // Another seed stands in for a changed runtime: the same request, another answer.
      const changed = { ...plan, sampling: { ...plan.sampling!, seed: plan.sampling!.seed + 1 } };
      const report = await replay(changed, engine, i === 0 ? plan.prompt! : prompt);
      assert.equal(report.identical, false);
      if (i === 0) {
        assert.equal(typeof report.divergedAt, "number");
        assert.ok(report.divergedAt! < report.recordedTokens);
      } else {
        assert.ok(report.divergedWithin, JSON.stringify(report));
        assert.equal(report.divergedWithin![0] % 32, 0);
      }
    }
  });

  it("refuses records that are not inference, sequence numbers past the end, and a model it cannot find", async () => {
    const notInference = await run(["0", ...common()]);
    assert.equal(JSON.parse(notInference.out).error.code, "BAD_ARGUMENT");
    const past = await run(["99999", ...common()]);
    assert.equal(JSON.parse(past.out).error.code, "NOT_FOUND");
    const noModel = await run([String(stored.audit.requestSeq), "--state", dir, "--json"]);
    assert.match(JSON.parse(noModel.out).error.message, /--model PATH/);
    const otherModel = await makeDemoModel({ seed: 77 });
    try {
      const wrong = await run([String(stored.audit.requestSeq), "--state", dir, "--model", otherModel.path, "--json"]);
      assert.equal(JSON.parse(wrong.out).error.code, "MODEL_REJECTED");
    } finally {
      await otherModel.cleanup();
    }
    const usage = await run(["x", "--state", dir]);
    assert.equal(usage.code, 64);
    assert.match(usage.err, /expected one record sequence number/);
    assert.equal((await run(["1", "--mode", "vulkan"])).code, 64);
  });

  it("finds the daemon's generated demo model in the state directory when it is the recorded one", async () => {
    const { copyFile, mkdir } = await import("node:fs/promises");
    const { demoModelPath } = await import("../../../daemon/rpc/demo-model.js");
    await mkdir(join(dir, "models", "demo"), { recursive: true });
    await copyFile(model.path, demoModelPath(dir));
    try {
      const r = await run([String(stored.audit.requestSeq), "--state", dir, "--threads", "1", "--json"]);
      assert.equal(r.code, 0, r.out);
      assert.equal(JSON.parse(r.out).identical, true);
    } finally {
      await rm(join(dir, "models", "demo"), { recursive: true, force: true });
    }
  });

  it("shows its usage with --help", async () => {
    const r = await run(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.out, /usage: sealbox audit replay SEQ/);
  });

  it("refuses to replay a request that produced no answer (error, refused)", async () => {
    const reader = await openLedgerReader(dir);
    const plan = planReplay(...findRecordPair(reader, stored.audit.requestSeq));
    await reader.close();
    await using engine = await InferenceEngine.open(engineOptionsFor(plan, { modelPath: model.path, threads: 1 }));
    for (const endedBy of ["error", "refused"] as const) {
      await assert.rejects(replay({ ...plan, recorded: { ...plan.recorded, endedBy } }, engine, plan.prompt!), (e: unknown) => isSealboxError(e, "BAD_ARGUMENT") && /no answer/.test(e.message));
    }
  });
});
