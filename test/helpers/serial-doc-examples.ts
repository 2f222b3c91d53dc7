// The worked examples of docs/serial-protocol.md, produced by the real code:
// client frames from encodeFrame, box frames as a real SerialConnection
// writes them (its nonce made deterministic). The doc test compares the
// document's hex dumps with these; run this file to print them:
//   node dist/test/helpers/serial-doc-examples.js

import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { authTranscript, clientProof, serverProof } from "../../daemon/transports/serial-auth.js";
import { crc32c } from "../../daemon/transports/serial-crc.js";
import { encodeFrame, frameBytes, FrameType, type Frame } from "../../daemon/transports/serial-frames.js";
import { bytesToHex, encodeJson } from "../../daemon/transports/serial-messages.js";
import { TEST_PSK } from "./serial-fakes.js";
import { directConnection } from "./serial-setup.js";

export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) lines.push(Buffer.from(bytes.subarray(i, i + 16)).toString("hex").replace(/(..)(?!$)/g, "$1 "));
  return lines.join("\n");
}

const CLIENT_NONCE = Uint8Array.from({ length: 32 }, (_, i) => 0xc0 + i);

export async function buildDocExamples(): Promise<Record<string, string>> {
  const ex: Record<string, string> = {};
  const writes: Uint8Array[] = [];
  const d = directConnection({ onWrite: (b) => writes.push(b) });
  const take = async (ms = 5): Promise<Uint8Array> => {
    await sleep(ms);
    const b = Buffer.concat(writes);
    writes.length = 0;
    return new Uint8Array(b);
  };
  const client = (f: Omit<Frame, "version" | "flags"> & { flags?: number }): Uint8Array => encodeFrame({ version: 1, flags: 0, ...f });

  ex["crc-check"] = crc32c(new TextEncoder().encode("123456789")).toString(16);
  const ping: Frame = { version: 1, type: FrameType.PING, flags: 0, requestId: 0, seq: 5, payload: Uint8Array.of(0x68, 0x69) };
  ex["ping-raw"] = hexDump(frameBytes(ping));
  ex["ping-line"] = hexDump(encodeFrame(ping));
  d.conn.receive(encodeFrame(ping));
  ex["pong-line"] = hexDump(await take());

  // Before authentication.
  const early = client({ type: FrameType.REQUEST, requestId: 1, seq: 0, payload: encodeJson({ method: "status" }) });
  ex["unauth-request-line"] = hexDump(early);
  d.conn.receive(early);
  ex["unauth-error-line"] = hexDump(await take());

  // The handshake.
  const helloPayload = encodeJson({ versions: [1], maxPayloadBytes: 1024, nonce: bytesToHex(CLIENT_NONCE), client: "plc-7" });
  ex["hello-payload"] = new TextDecoder().decode(helloPayload);
  const hello = client({ type: FrameType.HELLO, requestId: 0, seq: 1, payload: helloPayload });
  ex["hello-line"] = hexDump(hello);
  d.conn.receive(hello);
  const challengeLine = await take();
  ex["challenge-line"] = hexDump(challengeLine);
  const challengePayload = d.out.find((f) => f.type === FrameType.CHALLENGE)!.payload;
  ex["challenge-payload"] = new TextDecoder().decode(challengePayload);
  const t = authTranscript(helloPayload, challengePayload);
  ex["sha256-hello"] = bytesToHex(t.subarray(0, 32));
  ex["sha256-challenge"] = bytesToHex(t.subarray(32));
  ex["psk"] = bytesToHex(TEST_PSK);
  const mac = clientProof(TEST_PSK, helloPayload, challengePayload);
  ex["client-mac"] = bytesToHex(mac);
  ex["server-mac"] = bytesToHex(serverProof(TEST_PSK, helloPayload, challengePayload));
  const auth = client({ type: FrameType.AUTH, requestId: 0, seq: 2, payload: encodeJson({ mac: bytesToHex(mac) }) });
  ex["auth-line"] = hexDump(auth);
  d.conn.receive(auth);
  ex["welcome-line"] = hexDump(await take());

  // A call and its result.
  const echo = client({ type: FrameType.REQUEST, requestId: 2, seq: 0, payload: encodeJson({ method: "echo", params: { valve: 4 } }) });
  ex["echo-request-line"] = hexDump(echo);
  d.conn.receive(echo);
  ex["echo-result-line"] = hexDump(await take());

  // A streamed answer: chunks, merged into one frame, then the result.
  const stream = client({ type: FrameType.REQUEST, requestId: 3, seq: 0, payload: encodeJson({ method: "stream", params: { count: 3 } }) });
  ex["stream-request-line"] = hexDump(stream);
  d.conn.receive(stream);
  ex["stream-answer-line"] = hexDump(await take(40));

  // A method's error.
  const fail = client({ type: FrameType.REQUEST, requestId: 4, seq: 0, payload: encodeJson({ method: "fail", params: { code: "MODEL_UNAVAILABLE", message: "no model" } }) });
  d.conn.receive(fail);
  ex["fail-error-line"] = hexDump(await take());

  // Cancel.
  const slow = client({ type: FrameType.REQUEST, requestId: 5, seq: 0, payload: encodeJson({ method: "slow" }) });
  d.conn.receive(slow);
  await take();
  const cancel = client({ type: FrameType.CANCEL, requestId: 5, seq: 1, payload: new Uint8Array(0) });
  ex["cancel-line"] = hexDump(cancel);
  d.conn.receive(cancel);
  ex["cancelled-line"] = hexDump(await take());
  d.conn.close();
  return ex;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const ex = await buildDocExamples();
  for (const [name, text] of Object.entries(ex)) process.stdout.write(`<!-- example: ${name} -->\n\`\`\`text\n${text}\n\`\`\`\n\n`);
}
