// Child process for the crash test: appends as fast as it can from 32
// concurrent writers and prints "ack <seq> <id>" the moment each append
// resolves (stdout to a pipe is synchronous on Linux, so a printed ack has
// left the process before any later SIGKILL). argv: STATE_DIR ID_PREFIX

import { openSigner } from "../../daemon/keys/key-store.js";
import { openLedger } from "../../daemon/ledger/ledger.js";

const [stateDir, prefix] = process.argv.slice(2) as [string, string];
const signer = await openSigner(stateDir);
const ledger = await openLedger({ stateDir, signer });
process.stdout.write(`ready ${ledger.size()}\n`);
let n = 0;
async function writer(): Promise<never> {
  for (;;) {
    const id = `${prefix}-${n++}`;
    const r = await ledger.append({ actor: { role: "system", transport: "internal", peer: "-" }, category: "test", action: "crash.append", target: id, outcome: "info", details: { id } });
    process.stdout.write(`ack ${r.seq} ${id}\n`);
  }
}
await Promise.all(Array.from({ length: 32 }, writer));
