// `sealbox audit replay SEQ`: re-runs a recorded inference request and says
// whether the answer comes out identical, or where it first diverged.
//
// SEQ may be the request record or its outcome record. The ledger is opened
// read-only (works while the daemon runs; writes nothing). The model is found
// in the box's store by the SHA-256 the record names (or given with --model)
// and its hash is checked on load. Where the box stored only hashes, the
// technician supplies the prompt (--prompt-file), which is first checked
// against the recorded hash.

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { ERRORS, SealboxError, toSealboxError } from "../errors.js";
import { FHS_STATE_DIR } from "../config/types.js";
import { InferenceEngine } from "../inference/engine.js";
import { sha256File } from "../inference/model-file.js";
import { resolveModel } from "../inference/models.js";
import { INFERENCE_CATEGORY } from "../inference/provenance.js";
import { planReplay, promptFromText, type ReplayPlan } from "../inference/replay-plan.js";
import { engineOptionsFor, replay, type ReplayReport } from "../inference/replay.js";
import type { InferenceMode } from "../inference/runtime.js";
import { openLedgerReader } from "../ledger/reader.js";
import type { AuditRecord, LedgerReader } from "../ledger/types.js";
import { demoModelPath } from "../rpc/demo-model.js";
import { defaultStateDir } from "./model-ledger.js";

const USAGE = `usage: sealbox audit replay SEQ [--state DIR] [--prompt-file FILE] [--model PATH] [--mode cpu|cuda] [--threads N] [--json]

Re-runs the inference request recorded at SEQ (its request or its outcome
record) with the same model, prompt, sampling parameters and seed, in
deterministic mode, and reports "identical" or the first token where the
answer diverged (exit status 0 when identical, 1 when not).

  --prompt-file FILE  the request text, when the box stored only its hash:
                      chat: a JSON array of {role, content} (or {"messages": …});
                      completion: the exact prompt text; embedding: a JSON array of strings.
                      It is checked against the recorded SHA-256 first.
  --model PATH        the model file (default: the box's store, by the recorded SHA-256,
                      or the daemon's generated demo model if it is the one recorded)
  --mode MODE         cpu or cuda (default: as recorded)
  --threads N         CPU threads (default: as recorded)
  --state DIR         the box's state directory (default: $SEALBOX_STATE, else ${FHS_STATE_DIR})
  --json              one JSON object on stdout
`;

/** How far past a request record its outcome is looked for (requests end within their deadline). */
export const MAX_OUTCOME_SCAN = 1_000_000;

export interface ReplayIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  signal?: AbortSignal;
}

function isOutcomeOf(r: AuditRecord | undefined, requestSeq: number): boolean {
  return r?.category === INFERENCE_CATEGORY && r.outcome !== "requested" && r.details?.requestSeq === requestSeq;
}

/** The request record and its outcome record, from either's sequence number. */
export function findRecordPair(reader: Pick<LedgerReader, "record" | "size">, seq: number): [AuditRecord, AuditRecord] {
  const rec = reader.record(seq);
  if (!rec) throw new SealboxError("NOT_FOUND", `there is no record ${seq} (the log has ${reader.size()})`);
  if (rec.category !== INFERENCE_CATEGORY) throw new SealboxError("BAD_ARGUMENT", `record ${seq} is not an inference record (category ${rec.category}, action ${rec.action})`);
  if (rec.outcome !== "requested") {
    const requestSeq = rec.details?.requestSeq;
    if (typeof requestSeq !== "number" || !Number.isInteger(requestSeq) || requestSeq < 0 || requestSeq >= seq) {
      throw new SealboxError("BAD_FORMAT", `record ${seq} is an inference outcome without a valid requestSeq`);
    }
    const req = reader.record(requestSeq);
    if (!req) throw new SealboxError("NOT_FOUND", `record ${seq} names request record ${requestSeq}, which does not exist`);
    return [req, rec];
  }
  const end = Math.min(reader.size(), seq + 1 + MAX_OUTCOME_SCAN);
  for (let s = seq + 1; s < end; s++) {
    const r = reader.record(s);
    if (isOutcomeOf(r, seq)) return [rec, r!];
  }
  throw new SealboxError("NOT_FOUND", `request record ${seq} has no outcome record yet (still running, or the box stopped before it ended)`);
}

function formatReport(r: ReplayReport): string {
  const lines: string[] = [];
  const head = `replay of ${r.kind} request ${r.requestSeq} (outcome ${r.outcomeSeq}):`;
  if (r.identical) lines.push(`${head} identical${r.kind === "embed" ? "" : ` — ${r.replayedTokens} tokens`}`);
  else if (r.divergedAt !== undefined) lines.push(`${head} DIVERGED at token ${r.divergedAt} (recorded ${r.recordedTokens} tokens, replayed ${r.replayedTokens})`);
  else if (r.divergedWithin) lines.push(`${head} DIVERGED within tokens ${r.divergedWithin[0]}–${r.divergedWithin[1] - 1} (only hashes were stored; recorded ${r.recordedTokens} tokens, replayed ${r.replayedTokens})`);
  else lines.push(`${head} DIVERGED${r.kind === "embed" ? " (the vectors differ)" : ` (the text differs; recorded ${r.recordedTokens} tokens, replayed ${r.replayedTokens})`}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join("\n") + "\n";
}

/** The model file: --model, else the store (by SHA-256), else the daemon's generated demo model if it is the one recorded. */
async function locateModel(plan: ReplayPlan, stateDir: string, given: string | undefined): Promise<string> {
  if (given) return given;
  try {
    return (await resolveModel(stateDir, plan.modelSha256)).path;
  } catch (e) {
    const demo = demoModelPath(stateDir);
    const demoSha = await sha256File(demo).catch(() => undefined);
    if (demoSha === plan.modelSha256) return demo;
    const err = toSealboxError(e);
    throw new SealboxError(err.code, `${err.message} — the record names model ${plan.modelSha256}; give its file with --model PATH`, { cause: e });
  }
}

/** The command, with its streams passed in (tests run it in-process). Returns the exit code. */
export async function runReplayCommand(argv: string[], io: ReplayIo): Promise<number> {
  let json = false;
  try {
    const { values, positionals } = (() => {
      try {
        return parseArgs({
          args: argv,
          allowPositionals: true,
          strict: true,
          options: {
            state: { type: "string" },
            "prompt-file": { type: "string" },
            model: { type: "string" },
            mode: { type: "string" },
            threads: { type: "string" },
            json: { type: "boolean", default: false },
            help: { type: "boolean", short: "h", default: false },
          },
        });
      } catch (e) {
        throw new SealboxError("BAD_ARGUMENT", (e as Error).message, { cause: e });
      }
    })();
    json = values.json ?? false;
    if (values.help) {
      io.out.write(USAGE);
      return 0;
    }
    if (positionals.length !== 1 || !/^\d+$/.test(positionals[0]!)) throw new SealboxError("BAD_ARGUMENT", `expected one record sequence number\n\n${USAGE}`);
    const seq = Number(positionals[0]);
    const mode = values.mode;
    if (mode !== undefined && mode !== "cpu" && mode !== "cuda") throw new SealboxError("BAD_ARGUMENT", `--mode: expected cpu or cuda, got '${mode}'`);
    let threads: number | undefined;
    if (values.threads !== undefined) {
      if (!/^[1-9]\d{0,3}$/.test(values.threads)) throw new SealboxError("BAD_ARGUMENT", `--threads: expected a positive integer, got '${values.threads}'`);
      threads = Number(values.threads);
    }
    const { stateDir } = defaultStateDir(values.state, FHS_STATE_DIR);

    const reader = await openLedgerReader(stateDir);
    let plan: ReplayPlan;
    try {
      plan = planReplay(...findRecordPair(reader, seq));
    } finally {
      await reader.close();
    }

    let prompt: NonNullable<ReplayPlan["prompt"]>;
    const promptFile = values["prompt-file"];
    if (promptFile !== undefined) {
      let text: string;
      try {
        text = await readFile(promptFile, "utf8");
      } catch (e) {
        throw new SealboxError("NOT_FOUND", `cannot read --prompt-file ${promptFile}: ${(e as Error).message}`, { cause: e });
      }
      prompt = promptFromText(plan, text);
    } else if (plan.prompt !== undefined) {
      prompt = plan.prompt;
    } else {
      throw new SealboxError("BAD_ARGUMENT", `the box stored only the SHA-256 of request ${plan.requestSeq}'s prompt (${plan.promptSha256}); supply the request text with --prompt-file FILE`);
    }

    const modelPath = await locateModel(plan, stateDir, values.model);
    const engine = await InferenceEngine.open(engineOptionsFor(plan, { modelPath, ...(mode ? { mode: mode as InferenceMode } : {}), ...(threads ? { threads } : {}) }));
    let report: ReplayReport;
    try {
      report = await replay(plan, engine, prompt, io.signal);
    } finally {
      await engine.close();
    }
    io.out.write(json ? JSON.stringify(report) + "\n" : formatReport(report));
    return report.identical ? 0 : ERRORS.VERIFY_FAILED.exitCode;
  } catch (e) {
    const se = toSealboxError(e);
    if (json) io.out.write(JSON.stringify({ error: { code: se.code, message: se.message, ...(se.details ? { details: se.details } : {}) } }) + "\n");
    else io.err.write(`sealbox audit replay: ${se.message} (${se.code})\n`);
    return se.spec.exitCode;
  }
}

export async function main(argv: string[]): Promise<number> {
  const ac = new AbortController();
  const onInt = (): void => ac.abort();
  process.once("SIGINT", onInt);
  try {
    return await runReplayCommand(argv, { out: process.stdout, err: process.stderr, signal: ac.signal });
  } finally {
    process.removeListener("SIGINT", onInt);
  }
}
