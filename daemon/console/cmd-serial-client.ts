// `sealbox serial-client PORT --psk-file F COMMAND …`: the reference client
// of the serial protocol (docs/serial-protocol.md). It is what an integrator
// runs to check a line and a key before writing their own client, and what
// the protocol's behaviour is tested against.

import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { ERRORS, SealboxError, toSealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import { loadPskFile } from "../transports/serial-auth.js";
import { SerialClient } from "../transports/serial-client.js";
import { MAX_PAYLOAD_BYTES, MIN_PAYLOAD_BYTES } from "../transports/serial-frames.js";
import { openSerialLink, PARITIES, type Parity, type SerialLink } from "../../hal/serial/index.js";

const USAGE = `usage: sealbox serial-client PORT --psk-file FILE [options] COMMAND

commands:
  call METHOD [JSON]   call one method; streamed chunks go to stdout as they come, then the result
  hello                authenticate and print what the box announced
  ping                 authenticate, send one PING, print the round trip
  shell                one "METHOD [JSON]" per line from stdin; Ctrl-C cancels the running call

options:
  --psk-file FILE      the port's pre-shared key, as hex (not readable by other users)
  --baud N             baud rate (default 115200)
  --parity P           none, even or odd (default none)
  --data-bits N        5–8 (default 8)
  --stop-bits N        1, 1.5 or 2 (default 1)
  --max-payload N      largest frame payload this client takes, ${MIN_PAYLOAD_BYTES}–${MAX_PAYLOAD_BYTES} (default 1024)
  --timeout-ms N       wait for each handshake step this long (default 5000)
  --json               one JSON object per line: {"chunk":…}, {"result":…} or {"error":…}

exit status: 0 on success, else the error's code from the registry (docs/serial-protocol.md §9);
130 when interrupted twice.`;

const EXIT_INTERRUPTED = 130;

function report(e: unknown, json: boolean): number {
  const se = toSealboxError(e);
  const spec = ERRORS[se.code];
  if (json) process.stdout.write(JSON.stringify({ error: { code: se.code, message: se.message, retryable: spec.retryable, ...(se.details ? { details: se.details } : {}) } }) + "\n");
  else process.stderr.write(`sealbox: ${se.message} (${se.code})\n`);
  return spec.exitCode;
}

function intOption(v: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new SealboxError("BAD_ARGUMENT", `--${name}: expected an integer ${min}–${max}, got '${v}'`);
  return n;
}

function parseParams(text: string | undefined): JsonValue {
  if (text === undefined || text.trim() === "") return null;
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new SealboxError("BAD_ARGUMENT", `params must be JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Runs one call, printing chunks as they come. */
async function runCall(client: SerialClient, method: string, params: JsonValue, json: boolean, signal: AbortSignal): Promise<void> {
  let textOpen = false;
  const result = await client.call(method, params, {
    signal,
    onChunk: (chunk) => {
      if (json) process.stdout.write(JSON.stringify({ chunk }) + "\n");
      else if (typeof chunk === "string") {
        process.stdout.write(chunk);
        textOpen = true;
      } else process.stdout.write(JSON.stringify(chunk) + "\n");
    },
  });
  if (json) process.stdout.write(JSON.stringify({ result }) + "\n");
  else process.stdout.write((textOpen ? "\n" : "") + JSON.stringify(result, null, 2) + "\n");
}

/** Ctrl-C aborts the current call; a second Ctrl-C while it winds down exits. */
function interrupts(): { next(): AbortController; dispose(): void } {
  let current = new AbortController();
  const onSigint = (): void => {
    if (current.signal.aborted) process.exit(EXIT_INTERRUPTED);
    current.abort();
  };
  process.on("SIGINT", onSigint);
  return {
    next() {
      current = new AbortController();
      return current;
    },
    dispose() {
      process.off("SIGINT", onSigint);
    },
  };
}

async function shell(client: SerialClient, json: boolean): Promise<number> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  const ints = interrupts();
  let last = 0;
  try {
    for await (const line of rl) {
      const t = line.trim();
      if (t === "" || t.startsWith("#")) continue;
      if (t === "quit" || t === "exit") break;
      const sp = t.search(/\s/);
      const method = sp < 0 ? t : t.slice(0, sp);
      try {
        await runCall(client, method, parseParams(sp < 0 ? undefined : t.slice(sp + 1)), json, ints.next().signal);
        last = 0;
      } catch (e) {
        last = report(e, json);
        if (isFatal(e)) break;
      }
    }
  } finally {
    ints.dispose();
    rl.close();
  }
  return last;
}

function isFatal(e: unknown): boolean {
  const se = toSealboxError(e);
  return se.code === "SERIAL_ERROR" || se.details?.session === "closed";
}

export async function main(argv: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        "psk-file": { type: "string" },
        baud: { type: "string" },
        parity: { type: "string" },
        "data-bits": { type: "string" },
        "stop-bits": { type: "string" },
        "max-payload": { type: "string" },
        "timeout-ms": { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (e) {
    process.stderr.write(`sealbox serial-client: ${(e as Error).message}\n\n${USAGE}\n`);
    return ERRORS.BAD_ARGUMENT.exitCode;
  }
  if (values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const json = values.json ?? false;
  const [port, command, ...rest] = positionals;
  let link: SerialLink | undefined;
  let client: SerialClient | undefined;
  try {
    if (port === undefined || command === undefined) throw new SealboxError("BAD_ARGUMENT", "PORT and COMMAND are required (see --help)");
    if (!["call", "hello", "ping", "shell"].includes(command)) throw new SealboxError("BAD_ARGUMENT", `unknown command '${command}' (call, hello, ping, shell)`);
    if (command === "call" && (rest.length < 1 || rest.length > 2)) throw new SealboxError("BAD_ARGUMENT", "call takes METHOD and at most one JSON argument");
    if (values["psk-file"] === undefined) throw new SealboxError("BAD_ARGUMENT", "--psk-file is required");
    const parity = (values.parity ?? "none") as Parity;
    if (!PARITIES.includes(parity)) throw new SealboxError("BAD_ARGUMENT", `--parity: one of ${PARITIES.join(", ")}`);
    const stopBits = Number(values["stop-bits"] ?? "1");
    if (stopBits !== 1 && stopBits !== 1.5 && stopBits !== 2) throw new SealboxError("BAD_ARGUMENT", "--stop-bits: 1, 1.5 or 2");
    const dataBits = intOption(values["data-bits"], "data-bits", 8, 5, 8) as 5 | 6 | 7 | 8;
    const baudRate = intOption(values.baud, "baud", 115200, 50, 4_000_000);
    const maxPayloadBytes = intOption(values["max-payload"], "max-payload", 1024, MIN_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES);
    const timeoutMs = intOption(values["timeout-ms"], "timeout-ms", 5000, 1, 600_000);
    const params = command === "call" ? parseParams(rest[1]) : null;
    const psk = await loadPskFile(values["psk-file"]);

    link = await openSerialLink(port, { baudRate, parity, dataBits, stopBits });
    // A leading 0x00 ends whatever partial frame the box may hold from before.
    await link.write(Uint8Array.of(0));
    client = await SerialClient.connect(link, { psk, maxPayloadBytes, timeoutMs, client: "sealbox serial-client" });

    switch (command) {
      case "hello":
        if (json) process.stdout.write(JSON.stringify({ result: { ...client.negotiated, nonce: Buffer.from(client.negotiated.nonce).toString("hex") } }) + "\n");
        else process.stdout.write(`authenticated: protocol ${client.negotiated.version}, box takes ${client.negotiated.maxPayloadBytes}-byte payloads, idle timeout ${client.negotiated.idleTimeoutMs} ms\n`);
        return 0;
      case "ping": {
        const t0 = performance.now();
        await client.ping();
        const rttMs = performance.now() - t0;
        if (json) process.stdout.write(JSON.stringify({ result: { rttMs } }) + "\n");
        else process.stdout.write(`PONG from ${port}: ${rttMs.toFixed(1)} ms\n`);
        return 0;
      }
      case "shell":
        return await shell(client, json);
      default: {
        const ints = interrupts();
        try {
          await runCall(client, rest[0]!, params, json, ints.next().signal);
        } finally {
          ints.dispose();
        }
        return 0;
      }
    }
  } catch (e) {
    return report(e, json);
  } finally {
    client?.close();
    await link?.close();
  }
}
