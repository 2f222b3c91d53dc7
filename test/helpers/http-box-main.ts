// Runs a test box (real HTTP sockets and method table, in-memory ledger, fake
// inference) as its own process, for console tests that run `sealbox` as a
// person would: `node http-box-main.js DIR [tokenDelayMs]`. Prints "ready"
// when its sockets are up; SIGTERM closes it (and removes DIR).

import { startTestBox } from "./http-box.js";

const [dir, delay] = process.argv.slice(2);
if (!dir) {
  process.stderr.write("usage: http-box-main DIR [tokenDelayMs]\n");
  process.exit(64);
}
const box = await startTestBox({ dir });
box.inference.tokenDelayMs = Number(delay ?? 0);
// The answer says how many messages it was given, so tests can see the chat history grow.
box.inference.answerFor = (req) => {
  const messages = (req as { messages?: unknown[] }).messages;
  return `Pump 3 pressure is nominal. Check valve V-12 weekly.${messages ? ` (${messages.length} messages)` : ""}`;
};
// A question of "__BUSY__" gets BUSY, as a full queue would answer.
box.inference.failWhen = (req) => {
  const messages = (req as { messages?: { content: string }[] }).messages;
  return messages?.at(-1)?.content === "__BUSY__" ? "BUSY" : undefined;
};
process.stdout.write("ready\n");
const stop = (): void => {
  void box.close().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
