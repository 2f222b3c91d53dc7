// The real sealboxd configured for "cuda" with an imported model, on a machine
// whose GPU cannot run llama.cpp (here: none at all): the start fails with
// GPU_UNAVAILABLE's exit code and one journal line that says why, and the
// ledger records the start and its stop with that reason — instead of READY
// without the model (or, with a CUDA build that loads but aborts at its first
// decode, READY and a crash at the first request: the kernel self-test in
// runtime.ts turns that case into the same GPU_UNAVAILABLE).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ERRORS } from "../../../daemon/errors.js";
import { provisionSoftwareKey } from "../../../daemon/keys/key-store.js";
import { openLedgerReader } from "../../../daemon/ledger/reader.js";
import type { AuditRecord } from "../../../daemon/ledger/types.js";
import { fakeNvidiaSmiEnv, REPO_ROOT } from "../../helpers/fake-nvidia-smi.js";
import { makeAuthority, makeModel, signedManifestFile, tempDir } from "../../helpers/model-fixtures.js";

function sealbox(args: string[]): { code: number; stderr: string } {
  const env = { ...process.env };
  delete env.SEALBOX_STATE;
  const r = spawnSync(join(REPO_ROOT, "bin", "sealbox"), args, { encoding: "utf8", timeout: 120_000, env });
  return { code: r.status ?? -1, stderr: r.stderr };
}

test(
  "cuda mode without a usable GPU: sealboxd does not start (GPU_UNAVAILABLE, exit 69, one line saying why)",
  { timeout: 180_000, skip: existsSync("/dev/nvidia0") ? "this machine has an NVIDIA device: its CUDA path is checked with the device kit instead" : false },
  async (t) => {
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
    writeFileSync(config, `[keys]\norigin = "software"\n[inference]\nmode = "cuda"\nmodel = "demo-tiny"\nthreads = 1\n[health]\n${host}${sockets}`);

    const env: NodeJS.ProcessEnv = fakeNvidiaSmiEnv({ mode: "ok" });
    delete env.NOTIFY_SOCKET;
    delete env.JOURNAL_STREAM;
    delete env.SEALBOX_LOG_LEVEL;
    const proc = spawn(process.execPath, [join(REPO_ROOT, "dist/daemon/main.js"), "--config", config, "--state", state], { env, stdio: ["ignore", "ignore", "pipe"] });
    t.after(() => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    });
    let stderr = "";
    let startedAnyway = false;
    proc.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      // Ready without the model would run until stopped: stop it and fail below.
      if (!startedAnyway && /sealboxd ready/.test(stderr)) {
        startedAnyway = true;
        proc.kill("SIGTERM");
      }
    });
    const code = await new Promise<number | null>((r) => proc.on("close", (c) => r(c)));
    assert.equal(startedAnyway, false, `sealboxd said READY\n${stderr}`);

    assert.equal(code, ERRORS.GPU_UNAVAILABLE.exitCode, stderr);
    const lines = stderr.split("\n").filter((l) => / cannot start: /.test(l));
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /error \[sealboxd\] cannot start: CUDA inference is configured.* code=GPU_UNAVAILABLE$/);

    const reader = await openLedgerReader(state);
    const records: AuditRecord[] = [];
    try {
      for (let seq = 0; seq < reader.size(); seq++) records.push(reader.record(seq)!);
    } finally {
      await reader.close();
    }
    const system = records.filter((r) => r.category === "system").map((r) => r.action);
    assert.deepEqual(system.slice(-2), ["daemon.start", "daemon.stop"], JSON.stringify(system));
    assert.equal(records.at(-1)!.details?.reason, "start failed: GPU_UNAVAILABLE");
  },
);
