// Real software TPMs for tests, started and stopped by the test itself:
//  - startSwtpmPipe: `swtpm chardev --fd 3` on a socketpair (no ports, no files);
//  - startSwtpmServer: `swtpm socket` for tpm2-tools cross-checks, on
//    127.0.0.1 TCP (two consecutive free ports: data P, control P+1, as the
//    tss2 "swtpm" TCTI expects) when loopback works, else on unix sockets with
//    tpm2-tools reaching it through the tss2 "cmd" TCTI and socat — so the
//    tests also pass under plain `unshare -n` (loopback down). Which one ran
//    is in the server's `mode` and `tcti`.
// Every process is reaped and every temp dir removed by stop()/cleanup().

import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Tpm } from "../../hal/tpm/tpm.js";
import { openTpmTransport } from "../../hal/tpm/transport/open.js";
import { loopbackUsable } from "./loopback.js";

export async function makeTempDir(prefix = "sealbox-tpm-"): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface PipeTpm {
  tpm: Tpm;
  stateDir: string;
  spec: string;
  /** Closes the TPM (swtpm exits); the state dir stays for a restart. */
  close(): Promise<void>;
}

/** A swtpm on a socketpair with its state in stateDir (reuse the dir to test restarts). */
export async function startSwtpmPipe(stateDir: string, timeoutMs = 30_000): Promise<PipeTpm> {
  const spec = `swtpm-pipe:${stateDir}`;
  const transport = await openTpmTransport(spec, { timeoutMs });
  const tpm = new Tpm(transport);
  await tpm.startup();
  return { tpm, stateDir, spec, close: () => tpm.close() };
}

export { loopbackUsable };

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(undefined));
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

/** Two consecutive free ports (data, control), briefly held to check, then released for swtpm. */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const a = await listen(0);
    if (!a) continue;
    const port = (a.address() as { port: number }).port;
    const b = port < 65535 ? await listen(port + 1) : undefined;
    await new Promise((r) => a.close(r));
    if (b) {
      await new Promise((r) => b.close(r));
      return port;
    }
  }
  throw new Error("no two consecutive free TCP ports on 127.0.0.1");
}

export interface SwtpmServer {
  stateDir: string;
  mode: "tcp" | "unix";
  /** For our code: swtpm's mssim framing, over TCP or the unix socket. */
  spec: string;
  /** For tpm2-tools (TPM2TOOLS_TCTI). */
  tcti: string;
  /** Stops swtpm (the state dir stays). Idempotent. */
  stop(): Promise<void>;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`swtpm exited (${child.exitCode}) before ${what}: ${stderr()}`);
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`swtpm: ${what} not ready after ${timeoutMs} ms: ${stderr()}`);
}

function canConnect(target: { path: string } | { port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const c = "path" in target ? connect(target.path) : connect(target.port, "127.0.0.1");
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

/**
 * `swtpm socket` with its state in stateDir. mode "auto" picks TCP when loopback
 * works. Note swtpm serves one client at a time: close our transport before
 * running a tpm2 tool.
 */
export async function startSwtpmServer(stateDir: string, mode: "auto" | "tcp" | "unix" = "auto"): Promise<SwtpmServer> {
  await mkdir(stateDir, { recursive: true });
  const useTcp = mode === "tcp" || (mode === "auto" && (await loopbackUsable()));
  for (let attempt = 0; ; attempt++) {
    let args: string[];
    let spec: string;
    let tcti: string;
    let probe: { path: string } | { port: number };
    if (useTcp) {
      const port = await freePortPair();
      args = ["--server", `type=tcp,port=${port},bindaddr=127.0.0.1`, "--ctrl", `type=tcp,port=${port + 1},bindaddr=127.0.0.1`];
      spec = `swtpm:host=127.0.0.1,port=${port}`;
      tcti = spec;
      probe = { port: port + 1 }; // probe the control port: a probe on the data port would occupy swtpm's one client slot
    } else {
      const data = join(stateDir, "data.sock");
      const ctrl = join(stateDir, "ctrl.sock");
      await rm(data, { force: true });
      await rm(ctrl, { force: true });
      args = ["--server", `type=unixio,path=${data}`, "--ctrl", `type=unixio,path=${ctrl}`];
      spec = `swtpm:path=${data}`;
      tcti = `cmd:socat - UNIX-CONNECT:${data}`;
      probe = { path: ctrl };
    }
    const child = spawn("swtpm", ["socket", "--tpm2", "--tpmstate", `dir=${stateDir}`, ...args, "--flags", "not-need-init,startup-clear"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    try {
      await waitFor(() => canConnect(probe), 10_000, "control socket", child, () => stderr);
    } catch (e) {
      child.kill("SIGKILL");
      await exited;
      if (useTcp && attempt < 4 && /in use|bind/i.test(stderr)) continue; // lost a port race: try new ports
      throw e;
    }
    let stopped: Promise<void> | undefined;
    return {
      stateDir,
      mode: useTcp ? "tcp" : "unix",
      spec,
      tcti,
      stop: () =>
        (stopped ??= (async () => {
          if (child.exitCode === null) child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
          await exited;
          clearTimeout(timer);
        })()),
    };
  }
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tpm2-tools command against the given TCTI (asynchronously: the test's event loop keeps running). */
export function tpm2(tool: string, args: string[], tcti: string, options: { cwd?: string; timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { cwd: options.cwd, env: { ...process.env, TPM2TOOLS_TCTI: tcti }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like tpm2() but throws with the tool's stderr when it fails. */
export async function tpm2ok(tool: string, args: string[], tcti: string, options: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await tpm2(tool, args, tcti, options);
  if (r.code !== 0) throw new Error(`${tool} ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export interface PtyBridge {
  /** Path of the pty end a DeviceTransport opens, like /dev/tpmrm0. */
  device: string;
  close(): Promise<void>;
}

/**
 * A kernel pty whose other side socat connects to a unix socket: a
 * character device in front of swtpm's raw socket, to drive DeviceTransport
 * with real read()/write() on a device file (the pty may deliver a response
 * in pieces, as a real driver never does — the transport copes with both).
 */
export async function startPtyBridge(link: string, unixSocket: string, timeoutMs = 10_000): Promise<PtyBridge> {
  const child = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${link}`, `UNIX-CONNECT:${unixSocket}`], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socat not ready in ${timeoutMs} ms: ${log}`)), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`socat exited (${code}): ${log}`));
    });
    child.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      if (log.includes("starting data transfer loop")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.stderr!.resume();
  let closing: Promise<void> | undefined;
  return {
    device: link,
    close: () =>
      (closing ??= (async () => {
        if (child.exitCode === null) child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
        await exited;
        clearTimeout(timer);
      })()),
  };
}
