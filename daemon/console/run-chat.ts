// The second half of `./build.sh run`: start sealboxd on the development box
// (with the demo model unless a configuration file is given) as a child
// whose log goes to VAR/sealboxd.log — so it does not write over the chat —
// wait until it is ready, open `sealbox chat` on this terminal, and stop the
// daemon cleanly when the chat ends.

import { spawn } from "node:child_process";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SealboxClient } from "./client.js";
import { main as chatMain } from "./cmd-chat.js";

const MAIN_JS = fileURLToPath(new URL("../main.js", import.meta.url));
const READY_TIMEOUT_MS = 120_000;

async function tailOf(path: string, lines: number): Promise<string> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

export async function runDaemonAndChat(state: string, daemonArgs: readonly string[]): Promise<number> {
  const logPath = join(state, "sealboxd.log");
  const log = await open(logPath, "a");
  const args = [MAIN_JS, "--state", state, ...(daemonArgs.includes("--config") || daemonArgs.includes("--demo-model") ? [] : ["--demo-model"]), ...daemonArgs];
  process.stderr.write(`run-box: starting sealboxd ${args.slice(1).join(" ")} (its log: ${logPath})\n`);
  // Its own process group: a Ctrl-C at the chat must not reach the daemon.
  const daemon = spawn(process.execPath, args, { stdio: ["ignore", log.fd, log.fd], detached: true });
  const exited = new Promise<number>((resolve) => daemon.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  let gone = false;
  void exited.then(() => (gone = true));
  const stopDaemon = async (): Promise<number> => {
    if (!gone) daemon.kill("SIGTERM");
    const code = await exited;
    await log.close().catch(() => undefined);
    return code;
  };
  const onSignal = (): void => void stopDaemon().then(() => process.exit(130));
  process.once("SIGTERM", onSignal);
  process.once("SIGHUP", onSignal);

  try {
    const client = new SealboxClient(join(state, "run", "operator.sock"));
    const until = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (gone) {
        process.stderr.write(`run-box: sealboxd exited before it was ready; the end of its log:\n${await tailOf(logPath, 15)}\n`);
        return await exited;
      }
      const ready = await client.probe("/readyz").catch(() => undefined);
      if (ready?.status === 200) break;
      if (Date.now() > until) {
        process.stderr.write(`run-box: sealboxd was not ready within ${READY_TIMEOUT_MS / 1000} s; the end of its log:\n${await tailOf(logPath, 15)}\n`);
        await stopDaemon();
        return 69;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    process.stderr.write("run-box: ready; opening sealbox chat (Ctrl-D or /quit ends it and stops the daemon)\n");
    return await chatMain(["--state", state]);
  } finally {
    const code = await stopDaemon();
    process.off("SIGTERM", onSignal);
    process.off("SIGHUP", onSignal);
    process.stderr.write(`run-box: sealboxd stopped (exit ${code})\n`);
  }
}
