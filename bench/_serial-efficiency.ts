// Serial framing efficiency for a long streamed answer, measured on a real
// pty pair (socat): the box's SerialServer on one end, the reference client
// on the other, and a tap on the client's link that decodes every byte in
// both directions. serial_efficiency = frame payload bytes / line bytes.
//
// Two runs: "burst" — the answer is produced faster than the line carries
// it, the case where framing overhead costs throughput (the headline
// figure); and "paced" — one token per millisecond, where the line is mostly
// idle and chunks go out after the coalescing delay in small frames.

import { createLogger } from "../daemon/log.js";
import type { JsonValue } from "../daemon/ledger/types.js";
import type { CallContext } from "../daemon/rpc/types.js";
import { SerialClient } from "../daemon/transports/serial-client.js";
import { FrameDecoder } from "../daemon/transports/serial-frames.js";
import { SerialServer } from "../daemon/transports/serial-server.js";
import type { ByteLink } from "../hal/index.js";
import { openSerialLink } from "../hal/serial/index.js";
import { startPtyPair } from "../test/helpers/socat.js";

export interface SerialEfficiency {
  serial_efficiency: number;
  serial_text_efficiency: number;
  serial_efficiency_paced: number;
  serial_stream_mb_per_s: number;
  serial_answer_bytes: number;
}

interface Tap {
  lineBytes: number;
  payloadBytes: number;
  frames: number;
}

/** Wraps a link so every byte and frame in both directions is counted. */
function tapped(link: ByteLink, tap: Tap): ByteLink {
  const inbound = new FrameDecoder(16384);
  const outbound = new FrameDecoder(16384);
  const count = (d: FrameDecoder, bytes: Uint8Array): void => {
    tap.lineBytes += bytes.length;
    d.push(bytes, (e) => {
      if (e.kind === "frame") {
        tap.frames++;
        tap.payloadBytes += e.frame.payload.length;
      }
    });
  };
  return {
    write: (bytes) => {
      count(outbound, bytes);
      return link.write(bytes);
    },
    onData: (l) =>
      link.onData((chunk) => {
        count(inbound, chunk);
        l(chunk);
      }),
    onClose: (l) => link.onClose(l),
    close: () => link.close(),
  };
}

const WORDS = ["the", " valve", " pressure", " on", " line", " 4", " is", " within", " limits", ",", " and", " the", " last", " maintenance", " record", " shows", " breaker", " 12", " was", " reset", ".", "\n", " Temperature", " 71", "°C", " nominal"];

function generator(answerBytes: number, tokenIntervalMs: number) {
  return async (method: string, _params: JsonValue, ctx: CallContext): Promise<JsonValue> => {
    if (method !== "generate") throw new Error(`no method ${method}`);
    let sent = 0;
    let tokens = 0;
    while (sent < answerBytes) {
      const t = WORDS[tokens % WORDS.length]!;
      ctx.onChunk?.(t);
      sent += Buffer.byteLength(t);
      tokens++;
      if (tokenIntervalMs > 0) await new Promise((r) => setTimeout(r, tokenIntervalMs));
      else if (tokens % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    return { tokens, bytes: sent };
  };
}

async function run(answerBytes: number, tokenIntervalMs: number): Promise<{ tap: Tap; textBytes: number; ms: number }> {
  const pty = await startPtyPair();
  const psk = new Uint8Array(32).fill(0x5a);
  const server = new SerialServer({
    port: pty.a,
    openLink: () => openSerialLink(pty.a),
    psk,
    dispatch: generator(answerBytes, tokenIntervalMs),
    auditLog: { append: async () => ({ seq: 0, treeSize: 1, checkpoint: "" }) },
    logger: createLogger({ minLevel: "error" }),
  });
  let link: ByteLink | undefined;
  let client: SerialClient | undefined;
  try {
    await server.start();
    await server.whenOpen();
    const tap: Tap = { lineBytes: 0, payloadBytes: 0, frames: 0 };
    link = tapped(await openSerialLink(pty.b), tap);
    client = await SerialClient.connect(link, { psk });
    Object.assign(tap, { lineBytes: 0, payloadBytes: 0, frames: 0 }); // count the answer, not the handshake
    let textBytes = 0;
    const t0 = performance.now();
    await client.call("generate", null, { onChunk: (c) => (textBytes += typeof c === "string" ? Buffer.byteLength(c) : 0) });
    const ms = performance.now() - t0;
    return { tap, textBytes, ms };
  } finally {
    client?.close();
    await link?.close();
    await server.close();
    await pty.close();
  }
}

export async function measureSerialEfficiency(options: { answerBytes?: number; pacedAnswerBytes?: number } = {}): Promise<SerialEfficiency> {
  const burst = await run(options.answerBytes ?? 256 * 1024, 0);
  const paced = await run(options.pacedAnswerBytes ?? 8 * 1024, 1);
  return {
    serial_efficiency: burst.tap.payloadBytes / burst.tap.lineBytes,
    serial_text_efficiency: burst.textBytes / burst.tap.lineBytes,
    serial_efficiency_paced: paced.tap.payloadBytes / paced.tap.lineBytes,
    serial_stream_mb_per_s: burst.tap.lineBytes / 1e6 / (burst.ms / 1000),
    serial_answer_bytes: burst.textBytes,
  };
}
