#!/usr/bin/env node
// A recording TPM proxy for the tss2 "cmd" TCTI:
//   TPM2TOOLS_TCTI="cmd:node dist/test/helpers/tpm-record-proxy.js SOCKET LOG"
// reads raw TPM commands on stdin, forwards each to the swtpm unix socket
// SOCKET (swtpm socket --server type=unixio), writes the response to stdout,
// and appends {"command":HEX,"response":HEX} lines to LOG. It is how the
// golden fixtures in test/fixtures/tpm/ were recorded from tpm2-tools' own
// traffic (test/helpers/record-tpm-fixtures.ts drives it).

import { appendFileSync } from "node:fs";
import { connect } from "node:net";
import { RawResponseAssembler } from "../../hal/tpm/transport/framing.js";

const [socketPath, logPath] = process.argv.slice(2);
if (!socketPath || !logPath) {
  process.stderr.write("usage: tpm-record-proxy SOCKET LOG\n");
  process.exit(64);
}

const sock = connect(socketPath);
let pendingIn = Buffer.alloc(0);
let inFlight: { command: Buffer; assembler: RawResponseAssembler } | undefined;
const queue: Buffer[] = [];

function sendNext(): void {
  if (inFlight || queue.length === 0) return;
  const command = queue.shift()!;
  inFlight = { command, assembler: new RawResponseAssembler() };
  sock.write(command);
}

process.stdin.on("data", (chunk: Buffer) => {
  pendingIn = Buffer.concat([pendingIn, chunk]);
  while (pendingIn.length >= 6) {
    const size = pendingIn.readUInt32BE(2);
    if (pendingIn.length < size) break;
    queue.push(pendingIn.subarray(0, size));
    pendingIn = pendingIn.subarray(size);
  }
  sendNext();
});
process.stdin.on("end", () => sock.end());

sock.on("data", (chunk: Buffer) => {
  if (!inFlight) throw new Error("response bytes with no command in flight");
  const done = inFlight.assembler.push(new Uint8Array(chunk));
  if (!done) return;
  appendFileSync(logPath, JSON.stringify({ command: inFlight.command.toString("hex"), response: Buffer.from(done).toString("hex") }) + "\n");
  process.stdout.write(done);
  inFlight = undefined;
  sendNext();
});
sock.on("error", (e) => {
  process.stderr.write(`tpm-record-proxy: ${e.message}\n`);
  process.exit(1);
});
sock.on("close", () => process.exit(0));
