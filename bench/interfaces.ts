// ./build.sh bench interfaces — the cost of the box's interfaces.
//
//   socket_overhead_ms  p50 of a method call over the HTTP socket (keep-alive
//                       connection, node:http client) minus p50 of the same
//                       call on the method table in-process. Goal ≤ 1 ms.
//                       Same ledger on both paths (in-memory, so the figure is
//                       the transport's own cost, not fsync's).
//   serial_efficiency   payload bytes / line bytes for a long streamed answer
//                       on a pty (bench/_serial-efficiency.ts). Goal ≥ 0.9.
//   idle_rss_mb         resident memory of an idle `sealboxd --state DIR`
//                       without a model, 3 s after it is ready. Goal ≤ 150.
//   start_ms            from spawning sealboxd to /readyz answering 200,
//                       without a model load. Goal ≤ 2000.
//
// Prints figures for a person, then one JSON line.

import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { startTestBox } from "../test/helpers/http-box.js";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 2000);

function p(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function stats(samples: number[]): { p50: number; p90: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: p(s, 0.5), p90: p(s, 0.9), p99: p(s, 0.99) };
}

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

function get(agent: http.Agent | false, socketPath: string, path: string): Promise<number> {
  return new Promise((ok, fail) => {
    const req = http.get({ socketPath, path, agent }, (res) => {
      res.resume();
      res.on("end", () => ok(res.statusCode ?? 0));
    });
    req.on("error", fail);
  });
}

async function socketOverhead(): Promise<Record<string, number>> {
  const box = await startTestBox();
  try {
    const ctx = { role: "operator" as const, transport: "bench", peer: "-", signal: new AbortController().signal };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sock = box.socket("operator");
    // Warm up both paths (JIT, connection).
    for (let i = 0; i < 200; i++) {
      await box.table.dispatch("audit.head", {}, ctx);
      await get(agent, sock, "/sealbox/v1/audit/head");
    }
    const inProcess: number[] = [];
    const overSocket: number[] = [];
    const newConnection: number[] = [];
    // Interleaved, so drift on a shared machine hits both paths alike.
    for (let i = 0; i < ITERATIONS; i++) {
      let t = performance.now();
      await box.table.dispatch("audit.head", {}, ctx);
      inProcess.push(performance.now() - t);
      t = performance.now();
      const status = await get(agent, sock, "/sealbox/v1/audit/head");
      overSocket.push(performance.now() - t);
      if (status !== 200) throw new Error(`audit.head answered ${status}`);
      if (i % 4 === 0) {
        t = performance.now();
        await get(false, sock, "/sealbox/v1/audit/head");
        newConnection.push(performance.now() - t);
      }
    }
    agent.destroy();
    const a = stats(inProcess);
    const b = stats(overSocket);
    const c = stats(newConnection);
    console.log(`method table in-process   p50 ${a.p50.toFixed(3)} ms  p90 ${a.p90.toFixed(3)} ms  p99 ${a.p99.toFixed(3)} ms  (${ITERATIONS} calls of audit.head, in-memory ledger)`);
    console.log(`over the socket, keep-alive p50 ${b.p50.toFixed(3)} ms  p90 ${b.p90.toFixed(3)} ms  p99 ${b.p99.toFixed(3)} ms`);
    console.log(`over the socket, new conn.  p50 ${c.p50.toFixed(3)} ms  p90 ${c.p90.toFixed(3)} ms  (as the console connects)`);
    console.log(`socket overhead p50: ${(b.p50 - a.p50).toFixed(3)} ms (goal ≤ 1 ms); with a new connection per call ${(c.p50 - a.p50).toFixed(3)} ms`);
    return {
      socket_overhead_ms: round(b.p50 - a.p50),
      socket_overhead_new_connection_ms: round(c.p50 - a.p50),
      in_process_p50_ms: round(a.p50),
      socket_p50_ms: round(b.p50),
      socket_p99_ms: round(b.p99),
    };
  } finally {
    await box.close();
  }
}

async function serialEfficiency(): Promise<Record<string, number | null>> {
  const path = join(here, "_serial-efficiency.js");
  if (!existsSync(path)) {
    console.log("serial efficiency: bench/_serial-efficiency.ts is not in this build");
    return { serial_efficiency: null };
  }
  const mod = (await import(path)) as { measureSerialEfficiency(): Promise<{ serial_efficiency: number }> };
  const r = await mod.measureSerialEfficiency();
  console.log(`serial efficiency (long streamed answer, payload / line bytes): ${r.serial_efficiency.toFixed(3)} (goal ≥ 0.9)`);
  return { serial_efficiency: round(r.serial_efficiency) };
}

function rssMb(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, "utf8").then((s) => Number(/^VmRSS:\s+(\d+) kB$/m.exec(s)?.[1] ?? NaN) / 1024);
}

async function waitReady(socketPath: string, deadlineMs: number): Promise<void> {
  const until = performance.now() + deadlineMs;
  while (performance.now() < until) {
    const status = await get(false, socketPath, "/readyz").catch(() => 0);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("sealboxd did not become ready");
}

async function daemonFigures(): Promise<Record<string, number | null>> {
  const main = join(repo, "dist", "daemon", "main.js");
  if (!existsSync(main)) {
    console.log("idle daemon: dist/daemon/main.js is not in this build");
    return { idle_rss_mb: null, start_ms: null };
  }
  const starts: number[] = [];
  let rss = NaN;
  for (let run = 0; run < 3; run++) {
    const dir = await mkdtemp(join(tmpdir(), "sealbox-bench-ifs-"));
    try {
      const prov = spawnSync(process.execPath, [join(repo, "dist", "daemon", "console", "cli.js"), "keys", "provision", "--state", dir, "--software"], { encoding: "utf8" });
      if (prov.status !== 0) throw new Error(`keys provision failed: ${prov.stderr}`);
      const t0 = performance.now();
      const child = spawn(process.execPath, [main, "--state", dir], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, SEALBOX_LOG_LEVEL: "warn" } });
      let stderr = "";
      child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
      try {
        await waitReady(join(dir, "run", "operator.sock"), 20_000);
        starts.push(performance.now() - t0);
        if (run === 2) {
          await new Promise((r) => setTimeout(r, 3000));
          rss = await rssMb(child.pid!);
        }
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${stderr}`);
      } finally {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const start = stats(starts).p50;
  console.log(`sealboxd start to ready (no model): ${starts.map((s) => s.toFixed(0)).join(", ")} ms → median ${start.toFixed(0)} ms (goal ≤ 2000)`);
  console.log(`sealboxd idle resident memory (no model): ${rss.toFixed(1)} MB (goal ≤ 150)`);
  return { start_ms: Math.round(start), idle_rss_mb: round(rss, 1) };
}

const figures = { ...(await socketOverhead()), ...(await serialEfficiency()), ...(await daemonFigures()) };
console.log(JSON.stringify(figures));
