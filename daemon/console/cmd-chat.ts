// `sealbox chat`: an interactive conversation with the box. The conversation
// (history) is sent with every turn; answers stream as they are generated.
// Ctrl-C cancels the answer, not the session (a second Ctrl-C on an empty
// line leaves, as does Ctrl-D or /quit). Not on a terminal (or with --json),
// each input line is one turn and each answer one line of output.

import { createInterface, type Interface } from "node:readline";
import { toSealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import type { ChatMessage } from "../rpc/ports.js";
import type { SealboxClient } from "./client.js";
import { bold, client, common, COMMON_HELP, dim, parse, report, SAMPLING_OPTIONS, samplingParams, tty, writeJson } from "./console-common.js";

const HELP = `usage: sealbox chat [OPTIONS]

An interactive conversation with the box. Every question and answer is
recorded in the audit log (the record numbers follow each answer).

  Ctrl-C    stop the answer being written (twice on an empty line: leave)
  Ctrl-D    leave
  /reset    forget the conversation so far
  /help     this help
  /quit     leave

options:
  --system TEXT       a system prompt for the conversation
  --max-tokens N      at most N tokens per answer
  --temperature X     0 to 2
  --seed N            the sampler's seed
${COMMON_HELP}

Without a terminal, or with --json, each line of input is one question and
each answer is printed as one line (JSON with --json).`;

/** Messages kept; older turns are dropped so the prompt stays within the model's context. */
const MAX_HISTORY_MESSAGES = 40;

interface ChatState {
  history: ChatMessage[];
  system: string | undefined;
  sampling: Record<string, number>;
  busy: AbortController | undefined;
}

function messagesFor(state: ChatState, question: string): ChatMessage[] {
  const turns = [...state.history, { role: "user" as const, content: question }].slice(-MAX_HISTORY_MESSAGES);
  return state.system ? [{ role: "system", content: state.system }, ...turns] : turns;
}

async function banner(c: SealboxClient, color: boolean): Promise<void> {
  const st = await c.call("status");
  const inf = st.inference as { state?: string; model?: { name?: string; sha256?: string }; banner?: string } | null;
  const model = inf?.model ? `${inf.model.name ?? "?"} (sha256 ${(inf.model.sha256 ?? "").slice(0, 12)})` : "none";
  const box = (st.box as { id?: string } | null)?.id ?? "?";
  process.stdout.write(`${bold("sealbox chat", color)} — box ${box}, model ${model}${inf?.state && inf.state !== "ready" ? ` [${inf.state}]` : ""}\n`);
  if (inf?.banner) process.stdout.write(`${color ? "\x1b[33m" : ""}${inf.banner}${color ? "\x1b[0m" : ""}\n`);
  process.stdout.write(dim("Every question and answer is recorded in the audit log. Ctrl-C stops an answer; /help for more.", color) + "\n");
}

/**
 * One turn. When the conversation no longer fits the model's context
 * (PROMPT_TOO_LONG before anything was generated), the oldest turns are
 * dropped and the question asked again, and the person is told so.
 */
async function turn(c: SealboxClient, state: ChatState, question: string, interactive: boolean, json: boolean, color: boolean): Promise<void> {
  for (;;) {
    const tooLong = await attempt(c, state, question, interactive, json, color, state.history.length > 0);
    if (!tooLong) return;
    state.history.splice(0, 2);
    if (!json) process.stdout.write(dim("(older turns dropped to fit the model's context)", color) + "\n");
  }
}

/** Returns true when the prompt was too long and older turns could be dropped to retry. */
async function attempt(c: SealboxClient, state: ChatState, question: string, interactive: boolean, json: boolean, color: boolean, canTrim: boolean): Promise<boolean> {
  const ac = new AbortController();
  state.busy = ac;
  let streamed = "";
  if (interactive) process.stdout.write(bold("box> ", color));
  try {
    const result = await c.call(
      "chat",
      { messages: messagesFor(state, question) as unknown as JsonValue, ...state.sampling },
      {
        signal: ac.signal,
        onChunk: (chunk) => {
          const text = (chunk as { text?: unknown }).text;
          if (typeof text !== "string") return;
          streamed += text;
          if (!json) process.stdout.write(interactive ? text : text.replace(/\n/g, " "));
        },
      },
    );
    state.history.push({ role: "user", content: question }, { role: "assistant", content: typeof result.text === "string" ? result.text : streamed });
    if (json) {
      writeJson(result);
      return false;
    }
    process.stdout.write("\n");
    if (interactive) {
      const seq = Array.isArray(result.auditSeq) ? result.auditSeq.map((s) => `#${String(s)}`).join(" ") : "";
      const ended = result.finishReason === "length" ? " · stopped at the token limit" : "";
      process.stdout.write(dim(`[audit ${seq}${ended}]`, color) + "\n");
    }
    return false;
  } catch (e) {
    const err = toSealboxError(e);
    if (ac.signal.aborted) {
      // Cancelled by Ctrl-C: the turn is dropped from the conversation.
      process.stdout.write((streamed === "" || streamed.endsWith("\n") ? "" : " ") + dim("[cancelled]", color) + "\n");
      return false;
    }
    if (interactive || streamed !== "") process.stdout.write("\n");
    if (err.code === "PROMPT_TOO_LONG" && canTrim && streamed === "") return true;
    report(err, json);
    return false;
  } finally {
    state.busy = undefined;
  }
}

function help(color: boolean): void {
  process.stdout.write(dim("Ctrl-C stops an answer · /reset forgets the conversation · /quit or Ctrl-D leaves", color) + "\n");
}

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes("--json");
  try {
    const { values, positionals } = parse(argv, { system: { type: "string" }, ...SAMPLING_OPTIONS }, false);
    void positionals;
    if (values.help) {
      process.stdout.write(HELP + "\n");
      return 0;
    }
    const o = common(values, "operator");
    json = o.json;
    const c = client(o);
    const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !json;
    const color = interactive && tty(process.stdout);
    const state: ChatState = { history: [], system: values.system, sampling: samplingParams(values), busy: undefined };

    // Fails here (NOT_RUNNING, PERMISSION_DENIED) before the person types anything.
    if (interactive) await banner(c, color);
    else await c.call("status");

    const rl: Interface = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive, historySize: 200, prompt: interactive ? bold("you> ", color) : "" });
    let armedExit = false;
    // Set when the person asks to leave (Ctrl-C twice); the end of piped input is not that: its lines are still answered.
    let quit = false;
    const onInterrupt = (): void => {
      if (state.busy) {
        state.busy.abort();
        return;
      }
      if (!interactive || armedExit) {
        quit = true;
        rl.close();
        return;
      }
      armedExit = true;
      rl.write(null, { ctrl: true, name: "u" }); // clear what was typed
      process.stdout.write("\n" + dim("(Ctrl-C again to leave, or Ctrl-D, or /quit)", color) + "\n");
      rl.prompt();
    };
    rl.on("SIGINT", onInterrupt); // a terminal in raw mode: readline sees Ctrl-C
    process.on("SIGINT", onInterrupt); // a pipe: the real signal
    if (interactive) rl.prompt();
    try {
      for await (const raw of rl) {
        armedExit = false;
        const line = raw.trim();
        if (line === "") {
          if (interactive) rl.prompt();
          continue;
        }
        if (interactive && line.startsWith("/")) {
          if (line === "/quit" || line === "/exit") break;
          if (line === "/reset") {
            state.history = [];
            process.stdout.write(dim("(conversation forgotten)", color) + "\n");
          } else help(color);
          rl.prompt();
          continue;
        }
        await turn(c, state, line, interactive, json, color);
        if (quit) break;
        if (interactive) rl.prompt();
      }
    } finally {
      process.off("SIGINT", onInterrupt);
      rl.close();
    }
    if (interactive) process.stdout.write(dim("bye", color) + "\n");
    return 0;
  } catch (e) {
    return report(e, json);
  }
}
