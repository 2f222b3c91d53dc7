// Starts our own software TPM: `swtpm chardev --tpm2 --fd 3` with fd 3 one
// end of a socketpair (Node's stdio "pipe" is a unix socketpair). Raw TPM
// commands in, responses out — the contract of /dev/tpmrm0, with no port and
// no file in the way. The state directory keeps seeds and NV across restarts.
// Closing the socket makes swtpm exit (FACTS: ~5 ms); close() waits for it.

import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import type { Duplex } from "node:stream";
import { SealboxError } from "../../../daemon/errors.js";
import { RawResponseAssembler } from "./framing.js";
import { StreamTransport } from "./stream.js";

export interface SwtpmPipeOptions {
  timeoutMs?: number;
  /** The swtpm binary. Defaults to "swtpm" on PATH. */
  swtpmPath?: string;
}

export async function openSwtpmPipe(stateDir: string, options: SwtpmPipeOptions = {}): Promise<StreamTransport> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const binary = options.swtpmPath ?? "swtpm";
  // detached: its own process group, so a Ctrl-C or a SIGTERM to ours does not kill the TPM before our
  // shutdown is done with it (the anti-rollback bump). It cannot outlive us: it exits when fd 3 closes.
  const child = spawn(binary, ["chardev", "--tpm2", "--fd", "3", "--tpmstate", `dir=${stateDir}`, "--flags", "not-need-init,startup-clear"], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
    detached: true,
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // A missing binary shows up as an 'error' event right after spawn.
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once("error", (e) => resolve(e));
    child.once("spawn", () => resolve(undefined));
  });
  if (spawned) {
    throw new SealboxError("TPM_UNAVAILABLE", `cannot start swtpm (${binary}): ${spawned.message}; install the swtpm package`, { cause: spawned });
  }
  const stream = child.stdio[3] as Duplex;
  const reap = async (): Promise<void> => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  };
  const transport = new StreamTransport(stream, {
    timeoutMs: options.timeoutMs,
    description: `swtpm (state ${stateDir})`,
    newAssembler: () => new RawResponseAssembler(),
    onClose: reap,
  });
  // swtpm refuses a state directory another swtpm holds (it locks it): that shows as an early exit.
  exited.then((code) => {
    if (code !== 0 && code !== null && stderr.trim() !== "") stream.destroy(new Error(`swtpm exited with ${code}: ${stderr.trim()}`));
  });
  return transport;
}
