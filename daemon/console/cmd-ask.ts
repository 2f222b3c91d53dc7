// `sealbox ask "QUESTION"`: one question, the answer streamed to stdout as it
// is generated, then where its audit records are. Ctrl-C stops the answer
// (the daemon records it as cancelled). With --json: one JSON object with
// the answer, its usage and its audit sequence numbers.

import type { JsonValue } from "../ledger/types.js";
import { client, common, COMMON_HELP, dim, EXIT_INTERRUPTED, parse, report, SAMPLING_OPTIONS, samplingParams, tty, writeJson } from "./console-common.js";

const HELP = `usage: sealbox ask [OPTIONS] QUESTION...
       echo QUESTION | sealbox ask [OPTIONS]

Asks the box one question and streams the answer. Every question and answer
is recorded in the audit log; the answer's record numbers are printed after it.

options:
  --system TEXT       a system prompt
  --max-tokens N      at most N tokens in the answer
  --temperature X     0 (always the likeliest token) to 2
  --seed N            the sampler's seed (same seed, same answer)
${COMMON_HELP}

exit codes: 0 answered, 69 daemon not running or no model, 75 busy (retry),
77 no permission, 64 bad usage, 130 interrupted.`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").trim();
}

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes("--json");
  try {
    const { values, positionals } = parse(argv, { system: { type: "string" }, ...SAMPLING_OPTIONS });
    if (values.help) {
      process.stdout.write(HELP + "\n");
      return 0;
    }
    const o = common(values, "operator");
    json = o.json;
    let prompt = positionals.join(" ").trim();
    if (prompt === "" && !process.stdin.isTTY) prompt = await readStdin();
    if (prompt === "") {
      process.stderr.write(HELP + "\n");
      return 64;
    }
    const params: { [key: string]: JsonValue } = { prompt };
    if (values.system !== undefined) params.system = values.system;
    Object.assign(params, samplingParams(values));

    const ac = new AbortController();
    let interrupted = false;
    const onSigint = (): void => {
      interrupted = true;
      ac.abort();
    };
    process.once("SIGINT", onSigint);
    const color = tty(process.stderr);
    let streamed = "";
    try {
      const result = await client(o).call("ask", params, {
        signal: ac.signal,
        ...(json
          ? {}
          : {
              onChunk: (c: JsonValue) => {
                const text = (c as { text?: unknown }).text;
                if (typeof text === "string") {
                  streamed += text;
                  process.stdout.write(text);
                }
              },
            }),
      });
      if (json) {
        writeJson(result);
        return 0;
      }
      if (!streamed.endsWith("\n")) process.stdout.write("\n");
      const seq = Array.isArray(result.auditSeq) ? result.auditSeq.map((s) => `#${String(s)}`).join(" ") : "";
      const usage = result.usage as { completionTokens?: number } | undefined;
      const model = result.model as { name?: string } | undefined;
      const ended = result.finishReason === "length" ? " · stopped at the token limit" : result.finishReason === "deadline" ? " · stopped at the deadline" : "";
      process.stderr.write(dim(`[audit ${seq} · ${usage?.completionTokens ?? "?"} tokens · model ${model?.name ?? "?"}${ended}]`, color) + "\n");
      return 0;
    } catch (e) {
      if (interrupted) {
        if (!json) process.stdout.write(streamed.endsWith("\n") || streamed === "" ? "" : "\n");
        process.stderr.write(dim("[cancelled]", color) + "\n");
        return EXIT_INTERRUPTED;
      }
      if (streamed !== "" && !streamed.endsWith("\n")) process.stdout.write("\n");
      throw e;
    } finally {
      process.off("SIGINT", onSigint);
    }
  } catch (e) {
    return report(e, json);
  }
}
