// `sealbox audit tail [-f]` and `sealbox audit annotate TEXT`: the audit
// subcommands that talk to the running daemon over its socket (the others
// read the ledger directly; see cmd-audit.ts, which delegates here).

import type { AuditRecord, JsonValue } from "../ledger/types.js";
import { SealboxError } from "../errors.js";
import { client, common, COMMON_HELP, dim, parse, report, tty, writeJson } from "./console-common.js";

const TAIL_HELP = `usage: sealbox audit tail [-f] [-n N] [--from SEQ] [OPTIONS]

Shows the newest audit records (10 by default); with -f keeps following new
ones as they are signed, until Ctrl-C. Uses the technician socket.

options:
  -f, --follow    keep printing new records
  -n N            how many of the newest records to show first
  --from SEQ      start at this sequence number instead
${COMMON_HELP}`;

const ANNOTATE_HELP = `usage: sealbox audit annotate TEXT [--target T] [--detail KEY=VALUE]... [OPTIONS]

Writes a site event into the audit log ("breaker 4 opened for maintenance"),
signed and provable like everything else the box records. For technicians
and integrators (--role integrator uses the integrator socket).

options:
  --target T            what the event concerns (an asset tag, a ticket)
  --detail KEY=VALUE    extra fields (repeatable)
${COMMON_HELP}`;

/** One record as one line for a person. Pure. */
export function formatRecord(r: AuditRecord, color: boolean): string {
  const outcomeColor = r.outcome === "failure" || r.outcome === "refused" ? "\x1b[31m" : r.outcome === "requested" ? "\x1b[2m" : "";
  const outcome = color && outcomeColor ? `${outcomeColor}${r.outcome}\x1b[0m` : r.outcome;
  const who = `${r.actor.role}/${r.actor.transport}${r.actor.peer && r.actor.peer !== "-" ? `(${r.actor.peer})` : ""}`;
  let extra = "";
  const d = r.details;
  if (d) {
    if (typeof d.text === "string") extra = ` "${d.text.length > 80 ? `${d.text.slice(0, 77)}...` : d.text}"`;
    else if (typeof d.code === "string") extra = ` ${d.code}`;
  }
  const target = r.target && r.target !== "-" ? ` ${r.target.length > 24 ? `${r.target.slice(0, 21)}...` : r.target}` : "";
  return `${dim(`#${r.seq}`, color)} ${r.time} ${who} ${r.category}/${r.action}${target} ${outcome}${extra}`;
}

async function tail(argv: string[]): Promise<number> {
  let json = argv.includes("--json");
  try {
    const { values } = parse(argv, { follow: { type: "boolean", short: "f", default: false }, n: { type: "string", short: "n" }, from: { type: "string" } }, false);
    if (values.help) {
      process.stdout.write(TAIL_HELP + "\n");
      return 0;
    }
    const o = common(values, "technician");
    json = o.json;
    const params: { [key: string]: JsonValue } = { follow: values.follow };
    for (const [key, raw] of [["count", values.n], ["from", values.from]] as const) {
      if (raw === undefined) continue;
      if (!/^\d+$/.test(raw)) throw new SealboxError("BAD_ARGUMENT", `${key === "count" ? "-n" : "--from"}: expected a number, got '${raw}'`);
      params[key] = Number(raw);
    }
    const color = !json && tty(process.stdout);
    const ac = new AbortController();
    const onSigint = (): void => ac.abort();
    process.once("SIGINT", onSigint);
    try {
      await client(o).call("audit.tail", params, {
        signal: ac.signal,
        onChunk: (chunk) => {
          const r = (chunk as { record?: AuditRecord }).record;
          if (!r) return;
          process.stdout.write(json ? JSON.stringify(r) + "\n" : formatRecord(r, color) + "\n");
        },
      });
    } catch (e) {
      // Ctrl-C ends a follow: that is the normal way out.
      if (!ac.signal.aborted) throw e;
    } finally {
      process.off("SIGINT", onSigint);
    }
    return 0;
  } catch (e) {
    return report(e, json);
  }
}

async function annotate(argv: string[]): Promise<number> {
  let json = argv.includes("--json");
  try {
    const { values, positionals } = parse(argv, { target: { type: "string" }, detail: { type: "string", multiple: true } });
    if (values.help) {
      process.stdout.write(ANNOTATE_HELP + "\n");
      return 0;
    }
    const o = common(values, "technician");
    json = o.json;
    const text = positionals.join(" ").trim();
    if (text === "") {
      process.stderr.write(ANNOTATE_HELP + "\n");
      return 64;
    }
    const details: { [key: string]: JsonValue } = {};
    for (const kv of values.detail ?? []) {
      const eq = kv.indexOf("=");
      if (eq <= 0) throw new SealboxError("BAD_ARGUMENT", `--detail: expected KEY=VALUE, got '${kv}'`);
      details[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const params: { [key: string]: JsonValue } = { text };
    if (values.target !== undefined) params.target = values.target;
    if (Object.keys(details).length > 0) params.details = details;
    const result = await client(o).call("audit.annotate", params);
    if (json) writeJson(result);
    else process.stdout.write(`recorded as #${String(result.seq)} (covered by the signed checkpoint of tree size ${String(result.treeSize)})\n`);
    return 0;
  } catch (e) {
    return report(e, json);
  }
}

/** `sealbox audit tail|annotate …` (argv starts after the subcommand's name is removed). */
export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "tail") return tail(rest);
  if (sub === "annotate") return annotate(rest);
  process.stderr.write("usage: sealbox audit tail|annotate …\n");
  return 64;
}
