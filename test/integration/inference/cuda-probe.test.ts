// The CUDA kernel self-test's process handling, with real child processes:
// stand-in programs (written into a temp dir here) that abort with the
// recorded H200 stderr, hang with a grandchild, exit without an answer, print
// garbage or succeed; the real child program on the CPU; and the runtime,
// which never runs the test in cpu mode.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { isSealboxError, type SealboxError } from "../../../daemon/errors.js";
import { CUDA_PROBE_CHILD, PROBE_TAIL_BYTES, probeCudaKernels } from "../../../daemon/inference/cuda-probe.js";
import { openRuntime } from "../../../daemon/inference/runtime.js";
import { REPO_ROOT, waitFor } from "../../helpers/fake-nvidia-smi.js";

const FIXTURE = join(REPO_ROOT, "test", "fixtures", "cuda-probe", "prebuilt-r580-h200.stderr.txt");

interface ProbeDetails {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stderrTail: string;
}

function probeDetails(e: unknown): ProbeDetails {
  assert.ok(isSealboxError(e, "GPU_UNAVAILABLE"), `GPU_UNAVAILABLE, got ${String(e)}`);
  return (e as SealboxError).details!.probe as ProbeDetails;
}

async function rejection(p: Promise<unknown>): Promise<SealboxError> {
  try {
    await p;
  } catch (e) {
    return e as SealboxError;
  }
  assert.fail("expected the self-test to fail");
}

/** Gone: no such process, or a zombie nobody reaps (PID 1 in a container may not). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

let dir: string;
const script = (name: string, body: string): string => {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
};
const probeTemps = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith("sealbox-cuda-probe-"));

describe("probeCudaKernels with stand-in children", () => {
  const leftovers: number[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "sealbox-probe-test-"));
  });
  after(() => {
    for (const pid of leftovers) if (!gone(pid)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("an abort with the recorded H200 stderr → GPU_UNAVAILABLE naming the driver, SIGABRT", async () => {
    const child = script("abort.cjs", `process.stderr.write(require("fs").readFileSync(${JSON.stringify(FIXTURE)}));\nprocess.abort();\n`);
    const e = await rejection(probeCudaKernels({ command: [child] }));
    const d = probeDetails(e);
    assert.equal(d.signal, "SIGABRT");
    assert.equal(d.exitCode, null);
    assert.equal(d.timedOut, false);
    assert.match(d.stderrTail, /the provided PTX was compiled with an unsupported toolchain/);
    assert.match(e.message, /^CUDA inference is configured, but llama\.cpp's CUDA kernels failed their self-test: the GPU driver is older than the CUDA toolkit/);
    assert.match(e.message, /R590\+ driver/);
    assert.match(e.message, /killed by SIGABRT/);
    assert.doesNotMatch(e.message, /\n/);
  });

  it("a hang with a grandchild, both ignoring SIGTERM → killed at the timeout, the whole group gone", async () => {
    const pidFile = join(dir, "grandchild.pid");
    const child = script(
      "hang.cjs",
      `const { spawn } = require("child_process");
process.on("SIGTERM", () => {});
// The grandchild shares the pipes, so they stay open until it dies too.
const g = spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: "inherit" });
require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));
process.stderr.write("loading…\\n");
setInterval(() => {}, 1000);
`,
    );
    const e = await rejection(probeCudaKernels({ command: [child], timeoutMs: 4_000, killGraceMs: 300 }));
    const d = probeDetails(e);
    assert.equal(d.timedOut, true);
    assert.equal(d.signal, "SIGKILL", "SIGTERM was ignored: SIGKILL after the grace");
    assert.match(e.message, /did not finish in time/);
    assert.match(e.message, /timed out after 4 s \(killed by SIGKILL\)/);
    assert.ok(existsSync(pidFile), "the grandchild had started");
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    leftovers.push(grandchild);
    assert.ok(await waitFor(() => gone(grandchild), 10_000, 50), `grandchild ${grandchild} is gone`);
  });

  it("exit 0 without the answer line → failure", async () => {
    const child = script("silent.cjs", `process.stdout.write("all good, trust me\\n");\n`);
    const e = await rejection(probeCudaKernels({ command: [child] }));
    const d = probeDetails(e);
    assert.equal(d.exitCode, 0);
    assert.match(e.message, /without reporting a result .*exit code 0/);
  });

  it("an answer line, then an abort while tearing down → failure (any abnormal end fails)", async () => {
    const child = script("late-abort.cjs", `process.stdout.write('{"ok":true,"device":"Fake GPU","tokens":2,"ms":5}\\n');\nprocess.abort();\n`);
    const d = probeDetails(await rejection(probeCudaKernels({ command: [child] })));
    assert.equal(d.signal, "SIGABRT");
  });

  it("garbage on both streams, more than the tail keeps → failure with a bounded tail", async () => {
    const child = script(
      "garbage.cjs",
      `const b = Buffer.alloc(200000); for (let i = 0; i < b.length; i++) b[i] = (i * 7919) & 255;
process.stdout.write(b); process.stderr.write(b); process.stderr.write("\\n\\0\\0\\0 CUDA error: unspecified launch failure\\n");
process.exitCode = 3;
`,
    );
    const e = await rejection(probeCudaKernels({ command: [child] }));
    const d = probeDetails(e);
    assert.equal(d.exitCode, 3);
    assert.ok(Buffer.byteLength(d.stderrTail, "utf8") <= 3 * PROBE_TAIL_BYTES && d.stderrTail.length <= PROBE_TAIL_BYTES, `tail bounded (${d.stderrTail.length} chars)`);
    assert.match(e.message, /"CUDA error: unspecified launch failure" \(kernel self-test: exit code 3\)/);
    assert.doesNotMatch(e.message, /[\u0000-\u001f]/);
  });

  it("a passing child → resolves with its fields", async () => {
    const child = script("pass.cjs", `process.stderr.write("warn [llama.cpp] flash attention off\\n");\nprocess.stdout.write('{"ok":true,"device":"Fake GPU","tokens":3,"ms":12}\\n');\n`);
    const r = await probeCudaKernels({ command: [child] });
    assert.equal(r.device, "Fake GPU");
    assert.equal(r.tokens, 3);
    assert.equal(r.ms, 12);
    assert.ok(r.wallMs > 0);
  });

  it("the real child refuses bad arguments with a usage line and exit 64", async () => {
    const e = await rejection(probeCudaKernels({ command: [CUDA_PROBE_CHILD, "--mode", "vulkan"] }));
    assert.equal(probeDetails(e).exitCode, 64);
    assert.match(e.message, /usage: cuda-probe-child/);
  });
});

describe("the real child program", () => {
  it("--mode cpu: loads the demo model, evaluates, samples; resolves with tokens > 0 and leaves no temp dir", { timeout: 120_000 }, async () => {
    const temps = probeTemps();
    const r = await probeCudaKernels({ mode: "cpu" });
    assert.ok(r.tokens > 0, `tokens ${r.tokens}`);
    assert.ok(r.device.length > 0);
    assert.ok(r.ms > 0);
    assert.deepEqual(probeTemps().filter((n) => !temps.includes(n)), [], "its temp dir is removed");
  });

  it("runs only as a program: importing it (the device kit's load check imports every module) does nothing", { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", `await import(${JSON.stringify(pathToFileURL(CUDA_PROBE_CHILD).href)}); process.stdout.write("imported\\n");`], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    assert.equal(code, 0);
    assert.equal(stdout, "imported\n");
  });

  it("--parent-pipe: exits (code 2) when its stdin closes — the daemon that started it is gone — and removes its temp dir", { timeout: 60_000 }, async () => {
    const temps = probeTemps();
    const child = spawn(process.execPath, [CUDA_PROBE_CHILD, "--mode", "cpu", "--parent-pipe"], { stdio: ["pipe", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stdin.end();
    const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
    assert.equal(code, 2, `stdout: ${stdout}`);
    assert.doesNotMatch(stdout, /"ok":true/);
    assert.deepEqual(probeTemps().filter((n) => !temps.includes(n)), [], "its temp dir is removed");
  });
});

describe("openRuntime and the self-test", () => {
  it("cpu mode never runs it: a failing test command is not called", { timeout: 120_000 }, async () => {
    const d = mkdtempSync(join(tmpdir(), "sealbox-probe-rt-"));
    try {
      const marker = join(d, "called");
      const failing = join(d, "fail.cjs");
      writeFileSync(failing, `require("fs").writeFileSync(${JSON.stringify(marker)}, "x");\nprocess.exit(1);\n`);
      const runtime = await openRuntime({ mode: "cpu", threads: 1, kernelProbe: { command: [failing] } });
      try {
        assert.equal(runtime.info.mode, "cpu");
        assert.equal(existsSync(marker), false, "the self-test did not run");
      } finally {
        await runtime.close();
      }
      // The same command does fail when it is run: the check above could have failed.
      await assert.rejects(probeCudaKernels({ command: [failing] }), (e: unknown) => isSealboxError(e, "GPU_UNAVAILABLE"));
      assert.equal(existsSync(marker), true);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
