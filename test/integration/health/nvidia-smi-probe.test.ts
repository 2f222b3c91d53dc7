// The GPU probe against the recorded nvidia-smi (a real process on PATH
// replaying real H200 output and the failure modes), never a module mock.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NvidiaSmiProbe } from "../../../hal/gpu/nvidia-smi.js";
import { fakeNvidiaSmiEnv, isAlive, waitFor } from "../../helpers/fake-nvidia-smi.js";

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-gpu-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function pidsIn(log: string): Promise<number[]> {
  const text = await readFile(log, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => Number(l.split("\t")[l.startsWith("child") ? 1 : 0]));
}

test("ok: the recorded H200 is read through a real process", async () => {
  const probe = new NvidiaSmiProbe({ env: fakeNvidiaSmiEnv({ mode: "ok" }) });
  try {
    const r = await probe.read();
    assert.deepEqual(r.faults, []);
    assert.equal(r.gpus.length, 1);
    assert.equal(r.gpus[0]!.name, "NVIDIA H200");
    assert.equal(r.gpus[0]!.memoryTotalMiB, 143771);
    assert.match(r.at, /^\d{4}-\d\d-\d\dT/);
  } finally {
    await probe.close();
  }
});

for (const [mode, kind, exitCode] of [
  ["driver-gone", "driver-unreachable", 9],
  ["gpu-lost", "gpu-lost", 15],
  ["fail", "nvml-failed", 18],
] as const) {
  test(`${mode}: a typed fault, not missing numbers`, async () => {
    const probe = new NvidiaSmiProbe({ env: fakeNvidiaSmiEnv({ mode }) });
    const r = await probe.read();
    await probe.close();
    assert.deepEqual(r.gpus, []);
    assert.equal(r.faults.length, 1);
    assert.equal(r.faults[0]!.kind, kind);
    assert.equal(r.faults[0]!.exitCode, exitCode);
  });
}

test("all-zero: zeros stay zeros (systeminformation drops them)", async () => {
  const probe = new NvidiaSmiProbe({ env: fakeNvidiaSmiEnv({ mode: "all-zero" }) });
  const r = await probe.read();
  await probe.close();
  assert.deepEqual(r.faults, []);
  assert.equal(r.gpus[0]!.memoryTotalMiB, 0);
  assert.equal(r.gpus[0]!.tempC, 0);
});

test("an old driver that refuses clocks_event_reasons.* is asked again with clocks_throttle_reasons.*, once", async () => {
  await withTemp(async (dir) => {
    const log = join(dir, "calls.log");
    const probe = new NvidiaSmiProbe({ env: fakeNvidiaSmiEnv({ mode: "old-driver", logFile: log }) });
    const first = await probe.read();
    assert.deepEqual(first.faults, []);
    assert.equal(first.gpus[0]!.clockEvents.gpuIdle, true);
    assert.equal(probe.reasonFamily, "clocks_throttle_reasons");
    await probe.read();
    await probe.close();
    const calls = (await readFile(log, "utf8")).trim().split("\n");
    assert.equal(calls.length, 3, "two calls for the first read, one for the second");
    assert.match(calls[0]!, /clocks_event_reasons\.active/);
    assert.match(calls[1]!, /clocks_throttle_reasons\.active/);
    assert.match(calls[2]!, /clocks_throttle_reasons\.active/);
  });
});

test("hang: killed with its process group at the timeout, and the event loop kept running", async () => {
  await withTemp(async (dir) => {
    const log = join(dir, "calls.log");
    const probe = new NvidiaSmiProbe({ timeoutMs: 400, env: fakeNvidiaSmiEnv({ mode: "hang", logFile: log }) });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const r = await probe.read();
    clearInterval(ticker);
    assert.deepEqual(r.faults.map((f) => f.kind), ["timeout"]);
    assert.ok(ticks >= 2, `the event loop ran ${ticks} timer ticks while nvidia-smi hung`);
    const pids = await pidsIn(log);
    assert.equal(pids.length, 2, "the fake and the child it started");
    assert.ok(await waitFor(() => pids.every((p) => !isAlive(p))), `left running: ${pids.filter(isAlive).join(", ")}`);
    assert.equal(probe.inFlight, 0);
    await probe.close();
  });
});

test("an answer that takes a while arrives without blocking the event loop", async () => {
  const probe = new NvidiaSmiProbe({ timeoutMs: 20_000, env: fakeNvidiaSmiEnv({ mode: "ok", delayMs: 300 }) });
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 10);
  const r = await probe.read();
  clearInterval(ticker);
  await probe.close();
  assert.deepEqual(r.faults, []);
  assert.ok(ticks >= 2, `the event loop ran ${ticks} timer ticks during the query`);
});

test("flood: output past the limit is a fault and the process is killed", async () => {
  await withTemp(async (dir) => {
    const log = join(dir, "calls.log");
    const probe = new NvidiaSmiProbe({ maxOutputBytes: 64 * 1024, timeoutMs: 20_000, env: fakeNvidiaSmiEnv({ mode: "flood", logFile: log }) });
    const r = await probe.read();
    await probe.close();
    assert.deepEqual(r.faults.map((f) => f.kind), ["output-too-large"]);
    const pids = await pidsIn(log);
    assert.ok(await waitFor(() => pids.every((p) => !isAlive(p))));
  });
});

test("no nvidia-smi on PATH is not-installed", async () => {
  const probe = new NvidiaSmiProbe({ binary: "/nonexistent/sealbox/nvidia-smi" });
  const r = await probe.read();
  await probe.close();
  assert.deepEqual(r.faults.map((f) => f.kind), ["not-installed"]);
});

test("close() kills a query in flight; later reads do not start processes", async () => {
  await withTemp(async (dir) => {
    const log = join(dir, "calls.log");
    const probe = new NvidiaSmiProbe({ timeoutMs: 60_000, env: fakeNvidiaSmiEnv({ mode: "hang", logFile: log }) });
    const pending = probe.read();
    assert.ok(await waitFor(async () => (await pidsIn(log)).length === 2));
    await probe.close();
    await probe.close();
    const r = await pending;
    assert.equal(r.faults.length, 1);
    assert.notEqual(r.faults[0]!.kind, "timeout");
    const pids = await pidsIn(log);
    assert.ok(await waitFor(() => pids.every((p) => !isAlive(p))));
    const after = await probe.read();
    assert.equal(after.faults[0]!.kind, "failed");
    assert.equal((await pidsIn(log)).length, 2, "no process started after close");
  });
});
