// `sealbox audit …`: the audit log, read directly from DIR/ledger (read-only,
// safe while the daemon runs). tail and annotate talk to the running daemon
// (cmd-audit-live.ts); replay re-runs an answer (cmd-audit-replay.ts).

import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { SealboxError } from "../errors.js";
import { readKeyInfo } from "../keys/key-store.js";
import { exportBundle } from "../ledger/export.js";
import { openLedgerReader, type LedgerReadHandle } from "../ledger/reader.js";
import { formatTlogProof } from "../ledger/tlog-proof.js";
import { parseCheckpoint } from "../ledger/checkpoint.js";
import { parseNote } from "../ledger/note.js";
import { report } from "./console-common.js";
import { parseCommand, parseCount, requireState } from "./ledger-args.js";

const HELP = `usage: sealbox audit COMMAND …

  export --state DIR --out OUT [--from N] [--to M] [--trusted CHECKPOINT]
        write a self-contained bundle of records N..M-1 (default: all) with the
        latest signed checkpoint; with --trusted, add a consistency proof from
        that older checkpoint. Verify it anywhere with: sealbox verify OUT
  proof --state DIR SEQ [--size N]
        print a C2SP tlog-proof that record SEQ is in the log (its extra line
        carries the record's bytes); verify with: sealbox verify FILE --key VKEY
  show --state DIR SEQ [--json]
        print record SEQ; with --json exactly the record object whose RFC 8785
        form is the Merkle leaf
  checkpoint --state DIR
        print the latest signed checkpoint (keep it: sealbox verify --trusted)
  tail [-f] …, annotate TEXT …   follow / add to the log through the daemon
  replay …                        re-run a recorded answer and compare
`;

async function withReader<T>(state: string | undefined, fn: (r: LedgerReadHandle) => Promise<T> | T): Promise<T> {
  const reader = await openLedgerReader(requireState(state));
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}

function seqArg(positionals: string[]): number {
  if (positionals.length !== 1) throw new SealboxError("BAD_ARGUMENT", "give exactly one sequence number");
  return parseCount(positionals[0], "SEQ")!;
}

async function exportCmd(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { out: { type: "string" }, from: { type: "string" }, to: { type: "string" }, trusted: { type: "string" } }, false);
  if (values.help) return help();
  try {
    const stateDir = requireState(values.state);
    if (!values.out) throw new SealboxError("BAD_ARGUMENT", "--out OUT is required");
    const trusted = values.trusted === undefined ? undefined : await readFile(values.trusted, "utf8");
    const key = await readKeyInfo(stateDir);
    const from = parseCount(values.from, "--from");
    const to = parseCount(values.to, "--to");
    const result = await withReader(stateDir, (r) =>
      exportBundle(r, values.out!, { vkey: key.vkey, ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}), ...(trusted !== undefined ? { trustedCheckpoint: trusted } : {}) }),
    );
    if (values.json) process.stdout.write(JSON.stringify({ out: values.out, ...result }) + "\n");
    else process.stdout.write(`exported records ${result.from}..${result.to - 1} (${result.records}) of tree size ${result.treeSize} to ${values.out}\nverify with: sealbox verify ${values.out} --key '${key.vkey}'\n`);
    return 0;
  } catch (e) {
    return report(e, values.json);
  }
}

async function proofCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { size: { type: "string" } });
  if (values.help) return help();
  try {
    const seq = seqArg(positionals);
    const text = await withReader(values.state, (r) => {
      const note = r.latestCheckpoint();
      if (note === undefined) throw new SealboxError("NOT_FOUND", "the ledger has no signed checkpoint yet");
      const size = parseCheckpoint(parseNote(note).text).size;
      const requested = parseCount(values.size, "--size");
      if (requested !== undefined && requested !== size) {
        throw new SealboxError("BAD_ARGUMENT", `only the latest checkpoint (size ${size}) is kept signed; proofs are against it`);
      }
      const bytes = r.recordBytes(seq);
      if (bytes === undefined) throw new SealboxError("NOT_FOUND", `no record ${seq} (the log holds ${size})`);
      return formatTlogProof({ extra: bytes, index: seq, proof: r.inclusionProof(seq, size), checkpoint: note });
    });
    process.stdout.write(text);
    return 0;
  } catch (e) {
    return report(e, values.json);
  }
}

async function showCmd(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {});
  if (values.help) return help();
  try {
    const seq = seqArg(positionals);
    const out = await withReader(values.state, (r) => {
      const bytes = r.recordBytes(seq);
      if (bytes === undefined) throw new SealboxError("NOT_FOUND", `no record ${seq} (the log holds ${r.size()})`);
      if (values.json) return Buffer.from(bytes).toString("utf8") + "\n";
      const rec = r.record(seq)!;
      const lines = [
        `seq:      ${rec.seq}`,
        `time:     ${rec.time}`,
        `box:      ${rec.box}`,
        `actor:    ${rec.actor.role} via ${rec.actor.transport} (${rec.actor.peer})`,
        `category: ${rec.category}`,
        `action:   ${rec.action}`,
        `target:   ${rec.target ?? "-"}`,
        `outcome:  ${rec.outcome}`,
      ];
      if (rec.details) lines.push(`details:  ${JSON.stringify(rec.details, null, 2).replace(/\n/g, "\n          ")}`);
      return lines.join("\n") + "\n";
    });
    process.stdout.write(out);
    return 0;
  } catch (e) {
    return report(e, values.json);
  }
}

async function checkpointCmd(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {}, false);
  if (values.help) return help();
  try {
    const note = await withReader(values.state, (r) => r.latestCheckpoint());
    if (note === undefined) throw new SealboxError("NOT_FOUND", "the ledger has no signed checkpoint yet");
    process.stdout.write(note);
    return 0;
  } catch (e) {
    return report(e, values.json);
  }
}

function help(): number {
  process.stdout.write(HELP);
  return 0;
}

async function delegate(module: string, argv: string[], missing: string): Promise<number> {
  if (!existsSync(fileURLToPath(new URL(module, import.meta.url)))) {
    process.stderr.write(`sealbox: ${missing} (UNSUPPORTED)\n`);
    return 69;
  }
  return ((await import(module)) as { main(a: string[]): Promise<number> }).main(argv);
}

export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "export":
      return exportCmd(rest);
    case "proof":
      return proofCmd(rest);
    case "show":
      return showCmd(rest);
    case "checkpoint":
      return checkpointCmd(rest);
    case "replay":
      return delegate("./cmd-audit-replay.js", rest, "replay is not available in this build");
    case "tail":
    case "annotate":
      return delegate("./cmd-audit-live.js", argv, `audit ${sub} is not available in this build`);
    case "--help":
    case "-h":
    case "help":
      return help();
    default:
      process.stderr.write(HELP);
      return 64;
  }
}
