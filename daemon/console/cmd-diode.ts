// `sealbox diode …`: the sender's status (from the state directory, no
// daemon needed), the high-side receiver, and a standalone sender for a
// state directory (what sealboxd runs when [diode] is enabled).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ERRORS, SealboxError, toSealboxError } from "../errors.js";
import { startReceiver, type ReceiverMode } from "../diode/receiver.js";
import { loadReceiverState } from "../diode/receiver-state.js";
import { createLogger } from "../log.js";

const USAGE = `usage:
  sealbox diode status --state DIR [--json]
      the sender's link, rate, position, carousel and catch-up bound (from DIR/diode/status.json)
  sealbox diode status --out DIR [--json]
      a receiver's output: contiguous head, missing ranges, sender epoch, last heartbeat
  sealbox diode receive (--listen ADDR:PORT | --serial PORT [--baud N]) --out DIR --key VKEY
                        [--once | --until-head] [--timeout-s N] [--max-pending-mib N] [--json]
      receive, verify and write the box's audit log (docs/diode.md); --key takes the vkey
      (\`sealbox keys show\` on the box) or a file holding it
  sealbox diode send --state DIR (--udp ADDR:PORT | --serial PORT [--baud N]) [--rate BYTES_PER_S]
                     [--repair RATIO] [--carousel-rate BYTES_PER_S] [--mtu BYTES]
      run the sender over the ledger in DIR until interrupted (sealboxd does this when [diode] is enabled)

exit codes (receive): 0 complete or stopped, 64 usage, 65 entries no longer retained by the sender,
  74 I/O or link failure, 75 timed out (run again to continue)`;

function fail(message: string): never {
  throw new SealboxError("BAD_ARGUMENT", message);
}

function hostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(value);
  if (!m) fail(`${flag}: expected ADDR:PORT, got '${value}'`);
  const port = Number(m[2]);
  if (port > 65535) fail(`${flag}: port ${port} is out of range`);
  return { host: m[1]!, port };
}

function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) fail(`${flag}: expected a positive number, got '${value}'`);
  return n;
}

function readVkey(value: string): string {
  if (existsSync(value)) return readFileSync(value, "utf8").trim();
  return value.trim();
}

function errorExit(e: unknown, json: boolean): number {
  const err = toSealboxError(e);
  if (json) process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message } }) + "\n");
  else process.stderr.write(`sealbox diode: ${err.message} (${err.code})\n`);
  return ERRORS[err.code].exitCode;
}

export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const json = rest.includes("--json");
  try {
    switch (sub) {
      case "status":
        return await status(rest);
      case "receive":
        return await receive(rest);
      case "send":
        return await send(rest);
      case undefined:
      case "--help":
      case "-h":
      case "help":
        process.stdout.write(USAGE + "\n");
        return sub === undefined ? 64 : 0;
      default:
        fail(`unknown subcommand '${sub}'\n${USAGE}`);
    }
  } catch (e) {
    return errorExit(e, json);
  }
}

const BASE_OPTIONS = { json: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } } as const satisfies ParseArgsConfig["options"];

function parse<O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...BASE_OPTIONS, ...options }, strict: true, allowPositionals: false });
  } catch (e) {
    fail((e as Error).message);
  }
}

async function status(argv: string[]): Promise<number> {
  const { values } = parse(argv, { state: { type: "string" }, out: { type: "string" } });
  if (values.help) return (process.stdout.write(USAGE + "\n"), 0);
  if (typeof values.out === "string") {
    const s = loadReceiverState(values.out);
    if (!s) throw new SealboxError("NOT_FOUND", `no receiver state in ${values.out}`);
    if (values.json) {
      process.stdout.write(JSON.stringify(s) + "\n");
      return 0;
    }
    const hb = s.lastHeartbeat;
    const lines = [
      `receiver output ${values.out}`,
      `  verified entries   [${s.base}, ${s.head})${s.checkpoint ? `, latest accepted checkpoint size ${s.checkpoint.size}` : ""}`,
      `  sender             epoch ${s.senderEpoch ?? "-"}, head ${s.senderHead ?? "-"}, oldest retained ${s.senderOldest ?? "-"}`,
      `  last heartbeat     ${hb ? `${hb.receivedAt} (sent ${hb.time}, seq ${hb.seq}, catch-up bound ${hb.catchupBoundS < 0 ? "unknown" : hb.catchupBoundS + " s"})` : "none yet"}`,
      `  missing            ${s.missing.length === 0 ? "nothing" : s.missing.map(([a, b]) => `[${a}, ${b})`).join(" ")}`,
      `  held ahead of gaps ${s.pending.length === 0 ? "nothing" : s.pending.map(([a, b]) => `[${a}, ${b})`).join(" ")}`,
      ...(s.unrecoverable.length > 0 ? [`  unrecoverable      ${s.unrecoverable.map(([a, b]) => `[${a}, ${b})`).join(" ")}`] : []),
    ];
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  }
  if (typeof values.state !== "string") fail("status needs --state DIR (the box) or --out DIR (a receiver)");
  const path = join(values.state, "diode", "status.json");
  let st: Record<string, unknown>;
  try {
    st = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new SealboxError("NOT_FOUND", `the diode has not run with state ${values.state} (no ${path})`);
    throw new SealboxError("BAD_FORMAT", `cannot read ${path}`, { cause: e });
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(st) + "\n");
    return 0;
  }
  type Ch = { kind: string; target: string; rateBytesPerS: number; carouselRateBytesPerS: number; liveNext: number; liveBacklog: number; carousel: { next: number; passes: number; lastPassMs: number | null }; framesSent: number; bytesSent: number; sendErrors: number; retainedWireBytes: number; inFlightWireBytes?: number; catchupBoundS: number; catchupBoundBusyS: number };
  const channels = (st.channels as Ch[]) ?? [];
  const mb = (n: number): string => (n / 1e6).toFixed(1) + " MB";
  const lines = [
    `diode sender ${st.running ? "running" : "stopped"} (as of ${String(st.savedAt)}), epoch ${String(st.epoch)}`,
    `  ledger head ${String(st.head)}, carousel retains [${String(st.oldest)}, ${String(st.authorizedEnd)})${st.lastAuditError ? `, AUDIT FAILING: ${String(st.lastAuditError)}` : ""}`,
    ...channels.flatMap((c) => [
      `  ${c.kind} → ${c.target}: rate ${mb(c.rateBytesPerS)}/s (carousel up to ${mb(c.carouselRateBytesPerS)}/s), ${c.framesSent} frames / ${mb(c.bytesSent)} sent, ${c.sendErrors} send errors`,
      `    sent new entries up to ${c.liveNext} (${c.liveBacklog} waiting); carousel at ${c.carousel.next}, ${c.carousel.passes} passes${c.carousel.lastPassMs !== null ? `, last ${(c.carousel.lastPassMs / 1000).toFixed(1)} s` : ""}`,
      `    catch-up bound: (${mb(c.retainedWireBytes)} retained + ${mb(c.inFlightWireBytes ?? 0)} open when a receiver joins) ÷ carousel rate + a heartbeat = ${c.catchupBoundS.toFixed(1)} s (${c.catchupBoundBusyS.toFixed(1)} s while new entries saturate the link)`,
    ]),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  return 0;
}

async function receive(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    listen: { type: "string" },
    serial: { type: "string" },
    baud: { type: "string" },
    out: { type: "string" },
    key: { type: "string" },
    once: { type: "boolean", default: false },
    "until-head": { type: "boolean", default: false },
    "timeout-s": { type: "string" },
    "max-pending-mib": { type: "string" },
    "max-decoders": { type: "string" },
  });
  if (values.help) return (process.stdout.write(USAGE + "\n"), 0);
  if (typeof values.out !== "string") fail("receive needs --out DIR");
  if (typeof values.key !== "string") fail("receive needs --key VKEY (the box's verifier key, or a file holding it)");
  if (values.listen === undefined && values.serial === undefined) fail("receive needs --listen ADDR:PORT or --serial PORT");
  if (values.once && values["until-head"]) fail("--once and --until-head exclude each other");
  const mode: ReceiverMode = values.once ? "once" : values["until-head"] ? "until-head" : "follow";
  const timeoutS = positiveNumber(values["timeout-s"] as string | undefined, "--timeout-s");
  const pendingMib = positiveNumber(values["max-pending-mib"] as string | undefined, "--max-pending-mib");
  const maxDecoders = positiveNumber(values["max-decoders"] as string | undefined, "--max-decoders");
  const baud = positiveNumber(values.baud as string | undefined, "--baud") ?? 115200;
  const rx = await startReceiver({
    outDir: values.out,
    vkey: readVkey(values.key),
    ...(typeof values.listen === "string" && { listen: hostPort(values.listen, "--listen") }),
    ...(typeof values.serial === "string" && { serial: { path: values.serial, baudRate: baud } }),
    mode,
    ...(timeoutS !== undefined && { timeoutMs: timeoutS * 1000 }),
    ...(pendingMib !== undefined && { maxPendingBytes: pendingMib * 1024 * 1024 }),
    ...(maxDecoders !== undefined && { maxDecoders: Math.floor(maxDecoders) }),
    log: createLogger({ component: "diode-receiver" }),
  });
  if (rx.udpPort !== undefined) process.stderr.write(`sealbox diode: listening on UDP port ${rx.udpPort}\n`);
  const stop = (): void => void rx.stop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const r = await rx.done;
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  const summary = { reason: r.reason, head: r.head, senderHead: r.senderHead, out: values.out, ...(r.error && { error: { code: r.error.code, message: r.error.message } }) };
  if (values.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else {
    const sender = r.senderHead !== null ? ` (the sender's last heartbeat: head ${r.senderHead})` : "";
    process.stdout.write(`${r.reason}: verified entries up to ${r.head} in ${values.out}${sender}${r.error ? ` — ${r.error.message}` : ""}\n`);
  }
  return r.exitCode;
}

async function send(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    state: { type: "string" },
    udp: { type: "string" },
    serial: { type: "string" },
    baud: { type: "string" },
    rate: { type: "string" },
    repair: { type: "string" },
    "carousel-rate": { type: "string" },
    mtu: { type: "string" },
  });
  if (values.help) return (process.stdout.write(USAGE + "\n"), 0);
  if (typeof values.state !== "string") fail("send needs --state DIR");
  // The largest datagram (UDP) or frame before COBS (serial): 1400 and 512 by default; e.g. 8972 on a jumbo-frame link.
  // Checked here too (the sender checks it as configuration) so a bad flag is a usage error, exit 64.
  const mtu = positiveNumber(values.mtu as string | undefined, "--mtu");
  const minMtu = values.udp !== undefined ? 576 : 128;
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= minMtu && mtu <= 65507)) fail(`--mtu: expected an integer within [${minMtu}, 65507], got '${String(values.mtu)}'`);
  if (values.udp === undefined && values.serial === undefined) fail("send needs --udp ADDR:PORT or --serial PORT");
  const rate = positiveNumber(values.rate as string | undefined, "--rate") ?? 12_500_000;
  const repair = values.repair === undefined ? 0.1 : Number(values.repair);
  if (!(repair >= 0 && repair <= 4)) fail(`--repair: expected a ratio within [0, 4], got '${String(values.repair)}'`);
  const carouselRate = positiveNumber(values["carousel-rate"] as string | undefined, "--carousel-rate");
  const baud = positiveNumber(values.baud as string | undefined, "--baud") ?? 115200;
  // Loaded here only: the receiver (high side) needs neither LMDB nor a key.
  const { openSigner } = await import("../keys/key-store.js");
  const { openLedger } = await import("../ledger/ledger.js");
  const { startDiodeSender } = await import("../diode/sender.js");
  const log = createLogger({ component: "diode" });
  const signer = await openSigner(values.state);
  const ledger = await openLedger({ stateDir: values.state, signer, log: log.child("ledger") });
  try {
    const sender = await startDiodeSender({
      reader: ledger,
      audit: ledger,
      signer,
      stateDir: values.state,
      ...(typeof values.udp === "string" && { udp: { ...hostPort(values.udp, "--udp"), ...(mtu !== undefined && { mtuBytes: mtu }) } }),
      ...(typeof values.serial === "string" && { serial: { path: values.serial, baudRate: baud, ...(mtu !== undefined && { mtuBytes: mtu }) } }),
      rateBytesPerS: rate,
      repairRatio: repair,
      ...(carouselRate !== undefined && { carouselRateBytesPerS: carouselRate }),
      log,
    });
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await sender.close();
  } finally {
    await ledger.close();
    signer.close();
  }
  return 0;
}
