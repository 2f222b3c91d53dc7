// A real kernel pty pair from socat, for serial tests:
//   socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B
// Ready once socat logs "starting data transfer loop". Bytes written to one
// end come out of the other. close() kills socat (the pty ends then see EOF)
// and waits for it to exit.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PtyPair {
  /** Symlink to one pty end. */
  a: string;
  /** Symlink to the other. */
  b: string;
  readonly pid: number;
  /** Kills socat (SIGTERM, then SIGKILL after 2 s) and waits for it. Idempotent. */
  close(): Promise<void>;
}

/** Starts socat linking two ptys at the given paths (defaults: fresh names in a new temp dir, removed on close). */
export async function startPtyPair(paths?: { a: string; b: string }, timeoutMs = 10_000): Promise<PtyPair> {
  let dir: string | undefined;
  if (!paths) {
    dir = await mkdtemp(join(tmpdir(), "sealbox-pty-"));
    paths = { a: join(dir, "a"), b: join(dir, "b") };
  }
  const { a, b } = paths;
  const child: ChildProcess = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socat did not start within ${timeoutMs} ms: ${log}`)), timeoutMs);
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`socat exited (${code}) before it was ready: ${log}`));
      });
      child.stderr!.on("data", (d: Buffer) => {
        log += d.toString();
        if (log.includes("starting data transfer loop")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (e) {
    child.kill("SIGKILL");
    await exited;
    if (dir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  // Keep draining stderr so socat never blocks on a full pipe.
  child.stderr!.resume();
  let closing: Promise<void> | undefined;
  return {
    a,
    b,
    pid: child.pid!,
    close() {
      closing ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const t = setTimeout(() => child.kill("SIGKILL"), 2000);
          await exited;
          clearTimeout(t);
        }
        if (dir) await rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
