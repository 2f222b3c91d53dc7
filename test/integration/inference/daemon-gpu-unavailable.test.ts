// The real sealboxd configured for "cuda" with an imported model, on a machine
// whose GPU cannot run llama.cpp (here: none at all). The box stays up — its
// ledger, export, console and health are what a technician needs to find out
// why — with one journal line naming the cause, /readyz 503, and every question
// answered GPU_UNAVAILABLE with that cause (not a crash: with a CUDA build that
// loads but aborts at its first decode, the kernel self-test in runtime.ts
// turns that case into the same GPU_UNAVAILABLE).

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ERRORS } from "../../../daemon/errors.js";
import { provisionSoftwareKey } from "../../../daemon/keys/key-store.js";
import { allRecords } from "../../helpers/ledger-harness.js";
import { fakeNvidiaSmiEnv, REPO_ROOT } from "../../helpers/fake-nvidia-smi.js";
import { request } from "../../helpers/http-box.js";
import { makeAuthority, makeModel, signedManifestFile, tempDir } from "../../helpers/model-fixtures.js";

function sealboxOut(args: string[]): { code: number; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.SEALBOX_STATE;
  const r = spawnSync(join(REPO_ROOT, "bin", "sealbox"), args, { encoding: "utf8", timeout: 120_000, env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const sealbox = (args: string[]) => sealboxOut(args);

const NO_GPU_SKIP = existsSync("/dev/nvidia0") ? "this machine has an NVIDIA device: its CUDA path is checked with the device kit instead" : false;

interface CudaBox {
  state: string;
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** The real sealboxd, configured for "cuda" with an imported demo model, up and READY on this GPU-less machine. */
async function startCudaBox(t: TestContext, healthExtra = ""): Promise<CudaBox> {
  const { dir, cleanup } = await tempDir("sealbox-gpu-start-");
  t.after(cleanup);
  const state = join(dir, "state");
  await provisionSoftwareKey(state);
  const authority = await makeAuthority(dir);
  const model = { path: join(dir, "demo.gguf"), ...(await makeModel(join(dir, "demo.gguf"), 5)) };
  const manifest = await signedManifestFile(join(dir, "demo.json"), authority, model);
  const add = sealbox(["authority", "add", authority.pubPath, "--name", "site-a", "--state", state]);
  assert.equal(add.code, 0, add.stderr);
  const imp = sealbox(["model", "import", model.path, "--manifest", manifest, "--state", state]);
  assert.equal(imp.code, 0, imp.stderr);

  const group = execFileSync("id", ["-gn"], { encoding: "utf8" }).trim();
  const sockets = ["operator", "technician", "integrator", "admin"].map((r) => `[socket.${r}]\ngroup = "${group}"\n`).join("");
  const host = "disk_free_degraded_mib = 1\ndisk_free_critical_mib = 1\nmemory_available_critical_mib = 1\n";
  const config = join(dir, "sealbox.toml");
  writeFileSync(config, `[keys]\norigin = "software"\n[inference]\nmode = "cuda"\nmodel = "demo-tiny"\nthreads = 1\n[health]\n${host}${healthExtra}${sockets}`);

  const env: NodeJS.ProcessEnv = fakeNvidiaSmiEnv({ mode: "ok" });
  delete env.NOTIFY_SOCKET;
  delete env.JOURNAL_STREAM;
  delete env.SEALBOX_LOG_LEVEL;
  const proc = spawn(process.execPath, [join(REPO_ROOT, "dist/daemon/main.js"), "--config", config, "--state", state], { env, stdio: ["ignore", "ignore", "pipe"] });
  const closed = new Promise<number | null>((r) => proc.on("close", (c) => r(c)));
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const until = Date.now() + 120_000;
  while (!/sealboxd ready/.test(stderr)) {
    if (proc.exitCode !== null || Date.now() > until) assert.fail(`sealboxd did not come up:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    state,
    stderr: () => stderr,
    stop: async () => {
      proc.kill("SIGTERM");
      return closed;
    },
  };
}

test(
  "cuda mode without a usable GPU: sealboxd starts for everything else, says why in one line, and answers questions GPU_UNAVAILABLE",
  { timeout: 180_000, skip: NO_GPU_SKIP },
  async (t) => {
    const box = await startCudaBox(t);
    const { state } = box;
    const stderr = box.stderr();

    // One error line in the journal names the cause and what inference answers.
    const lines = stderr.split("\n").filter((l) => /ready without the configured model/.test(l));
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /error \[sealboxd\] .*inference answers GPU_UNAVAILABLE: CUDA inference is configured but llama.cpp's CUDA build cannot run here: its CUDA build did not load/);

    // The box is up for everything else; a question gets GPU_UNAVAILABLE (503) with the cause.
    const sock = join(state, "run", "operator.sock");
    assert.equal((await request(sock, "GET", "/healthz")).status, 200);
    assert.equal((await request(sock, "GET", "/readyz")).status, 503, "not ready for inference");
    const ask = await request(sock, "POST", "/v1/chat/completions", { messages: [{ role: "user", content: "hello" }], max_tokens: 4 });
    assert.equal(ask.status, 503, ask.text);
    assert.match(ask.text, /GPU_UNAVAILABLE/);
    assert.match(ask.text, /CUDA inference is configured/);
    const cli = sealbox(["ask", "hello", "--state", state]);
    assert.equal(cli.code, ERRORS.GPU_UNAVAILABLE.exitCode, cli.stderr);
    assert.match(cli.stderr, /CUDA/);

    assert.equal(await box.stop(), 0, box.stderr());
    const records = await allRecords(state);
    const system = records.filter((r) => r.category === "system").map((r) => r.action);
    assert.deepEqual(system.slice(-2), ["daemon.start", "daemon.stop"], JSON.stringify(system));
    assert.ok(records.some((r) => r.outcome !== "success" && JSON.stringify(r).includes("GPU_UNAVAILABLE")), "the refused question is in the ledger with its code");
  },
);

test(
  "cuda mode without a usable GPU, with health.cpu_fallback: the model answers on the CPU, the switch and every answer on record",
  { timeout: 180_000, skip: NO_GPU_SKIP },
  async (t) => {
    const box = await startCudaBox(t, "cpu_fallback = true\n");
    assert.match(box.stderr(), /warn \[sealboxd\] ready with the model on the CPU \(health.cpu_fallback\): the GPU cannot run the model: CUDA inference is configured/);
    const sock = join(box.state, "run", "operator.sock");
    assert.equal((await request(sock, "GET", "/readyz")).status, 200, "ready: questions are answered");
    const ask = await request(sock, "POST", "/v1/chat/completions", { messages: [{ role: "user", content: "hello" }], max_tokens: 4 });
    assert.equal(ask.status, 200, ask.text);
    const status = sealboxOut(["status", "--state", box.state]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /answering on the CPU \(GPU fallback\): the GPU cannot run the model/);
    assert.match(status.stdout, /ready · cpu/);

    assert.equal(await box.stop(), 0, box.stderr());
    const records = await allRecords(box.state);
    const switched = records.filter((r) => r.action === "inference.cpu-fallback");
    assert.equal(switched.length, 1, "the switch is recorded once");
    assert.match(String(switched[0]!.details?.reason), /GPU cannot run the model/);
    const outcome = records.find((r) => r.category === "inference" && r.outcome === "success" && r.action !== "inference.cpu-fallback");
    assert.ok(outcome, JSON.stringify(records.map((r) => r.action)));
    assert.ok(switched[0]!.seq < outcome.seq, "recorded before the first CPU answer");
    const runtime = (outcome.details as { runtime?: { mode?: string } } | undefined)?.runtime;
    assert.equal(runtime?.mode, "cpu", "the answer's own record says it ran on the CPU");
  },
);
