// The test command's own runner, run for real on test files that pass, fail,
// skip, hang, crash, and leave processes behind: the run must end, fail, and
// say for each file what happened.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const RUNNER = fileURLToPath(new URL("../../runner/run-files.js", import.meta.url));

const FILES: Record<string, string> = {
  "a-pass.test.mjs": `import { test } from "node:test"; test("adds", () => {});`,
  "b-fail.test.mjs": `import { test } from "node:test"; import assert from "node:assert/strict";
    test("compares", () => assert.equal(1, 2));
    test("needs a GPU", { skip: "no GPU here" }, () => {});`,
  "c-hang.test.mjs": `import { describe, it } from "node:test";
    describe("a suite", () => { it("never settles", () => new Promise(() => setInterval(() => {}, 1000))); });`,
  // A process of its own group, left running: found and killed by the runner.
  "d-leftover.test.mjs": `import { test } from "node:test"; import { spawn } from "node:child_process"; import { writeFileSync } from "node:fs";
    test("starts a helper and forgets it", () => {
      const child = spawn("sleep", ["600"], { stdio: "ignore" });
      writeFileSync(new URL("./leftover.pid", import.meta.url), String(child.pid));
      child.unref();
    });`,
  // A process in a group of its own that holds the file's output open: without a
  // limit, a runner reading that output to its end waits for ever.
  "e-holds-output.test.mjs": `import { test } from "node:test"; import { spawn } from "node:child_process"; import { writeFileSync } from "node:fs";
    test("starts a detached helper on its stdout", () => {
      const child = spawn("sleep", ["600"], { stdio: "inherit", detached: true });
      writeFileSync(new URL("./detached.pid", import.meta.url), String(child.pid));
      child.unref();
    });`,
  "f-crash.test.mjs": `import { test } from "node:test"; test("never runs", () => {}); console.error("about to fail at import"); throw new Error("a broken import");`,
  "g-slow.test.mjs": `import { test } from "node:test"; test("takes its time", () => new Promise((r) => setTimeout(r, 2500)));`,
  // An error far longer than a pipe's buffer still arrives as one event, cut to a bounded length.
  "h-big-error.test.mjs": `import { test } from "node:test"; test("fails at length", () => { throw new Error("x".repeat(200000)); });`,
};

function runRunner(dir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const args = [RUNNER, "--timeout-s", "8", "--slow-file-s", "2", ...Object.keys(FILES).sort()];
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    // Far above what the run needs: if it is hit, the runner hung.
    const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("a run with failing, skipped, hung, crashing and leaking files ends, fails, and says what each did", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-runner-"));
  const pidIn = async (name: string): Promise<number> => Number(await readFile(join(dir, name), "utf8").catch(() => "0"));
  try {
    for (const [name, text] of Object.entries(FILES)) await writeFile(join(dir, name), text);
    const run = await runRunner(dir);
    const out = run.stdout;
    assert.notEqual(run.code, null, `the runner hung and was killed:\n${out}${run.stderr}`);
    assert.equal(run.code, 1, out + run.stderr);
    assert.match(out, /^✔ a-pass\.test\.mjs · 1 test · [\d.]+ s$/m);
    assert.match(out, /^✖ b-fail\.test\.mjs · 2 tests, 1 failed, 1 skipped · [\d.]+ s\n {2}✖ compares \(\d+ ms\)\n {4}AssertionError/m);
    assert.match(out, /^ {2}- skipped: needs a GPU — no GPU here$/m);
    assert.match(out, /^✖ c-hang\.test\.mjs · 0 tests · [\d.]+ s\n {4}killed after 8 s, in: a suite › never settles$/m);
    assert.match(out, /^✖ d-leftover\.test\.mjs · 1 test · [\d.]+ s\n {4}it left a process running \(killed\):\n {6}\d+ sleep 600$/m);
    assert.match(out, /^✖ e-holds-output\.test\.mjs · 1 test · [\d.]+ s\n {4}it exited, but its output stayed open/m);
    assert.match(out, /^✖ f-crash\.test\.mjs · 0 tests · [\d.]+ s\n {4}its process ended with exit code \d+ outside any test\n {4}its last output:\n(?: {6}.*\n)*? {6}about to fail at import\n/m);
    assert.match(out, /Error: a broken import/);
    assert.match(out, /^✔ g-slow\.test\.mjs · 1 test · /m);
    assert.match(out, /^… still running: .*c-hang\.test\.mjs \(\d+ s\)/m, "a file past the slow limit is named while it runs");
    assert.match(out, /^✖ h-big-error\.test\.mjs · 1 test, 1 failed · [\d.]+ s\n {2}✖ fails at length \(\d+ ms\)\n {4}Error: x{100}/m);
    assert.match(out, /more characters\)$/m);
    assert.match(out, /^ℹ 7 tests in 8 files \(6 failed\): 4 passed, 2 failed, 0 cancelled, 1 skipped, 0 todo · [\d.]+ s$/m);
    assert.equal(alive(await pidIn("leftover.pid")), false, "the runner killed the leftover process");
  } finally {
    for (const name of ["leftover.pid", "detached.pid"]) {
      const pid = await pidIn(name);
      if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
    }
    await rm(dir, { recursive: true, force: true });
  }
});

test("bad arguments: exit 2 with the usage", async () => {
  const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [RUNNER, "--concurrency", "none"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("close", (code) => resolve({ code, stderr }));
  });
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^run-files: --concurrency needs a whole number of at least 1\nusage: run-files\.js/);
});

test("stopping the runner (Ctrl-C) kills the test files it is running", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-runner-"));
  try {
    await writeFile(
      join(dir, "waits.test.mjs"),
      `import { test } from "node:test"; import { writeFileSync } from "node:fs";
       test("waits", () => { writeFileSync(new URL("./waits.pid", import.meta.url), String(process.pid)); return new Promise(() => setInterval(() => {}, 1000)); });`,
    );
    const child = spawn(process.execPath, [RUNNER, "waits.test.mjs"], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    let pid = 0;
    for (let i = 0; i < 300 && pid === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pid = Number(await readFile(join(dir, "waits.pid"), "utf8").catch(() => "0"));
    }
    assert.ok(pid > 0, "the test file started");
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("close", r));
    assert.equal(code, 130);
    assert.match(stderr, /stopped by SIGINT; killed the 1 test files running/);
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(pid), false, "the test file's process is gone");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
