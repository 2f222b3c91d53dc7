// bin/sealboxd --state DIR: records its start and clean stop, notices an
// unclean previous stop, closes in reverse order on SIGTERM/SIGINT. Also:
// exporting while a writer is appending gives bundles that verify.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openLedgerReader } from "../../../daemon/ledger/reader.js";
import type { AuditRecord } from "../../../daemon/ledger/types.js";
import { runMarkerPath } from "../../../daemon/daemon-run-marker.js";
import { sealbox, sealboxdBin, tempDir, tempState } from "../../helpers/ledger-harness.js";

const cleanups: (() => Promise<void>)[] = [];
const children = new Set<ChildProcess>();
after(async () => {
  for (const c of children) c.kill("SIGKILL");
  for (const c of cleanups) await c();
});

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts sealboxd and waits for its "ready" line (or its exit). */
function startDaemon(state: string): Promise<Running & { ready: boolean }> {
  return new Promise((resolve) => {
    // A config path that does not exist would be an error; embedded defaults apply when /etc/sealbox has none.
    const child = spawn(sealboxdBin, ["--state", state], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SEALBOX_LOG_LEVEL: "info" } });
    children.add(child);
    let err = "";
    let done = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
      child.on("close", (code, signal) => {
        children.delete(child);
        r({ code, signal });
        if (!done) {
          done = true;
          resolve({ child, stderr: () => err, exited, ready: false });
        }
      }),
    );
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", () => clearTimeout(guard));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      err += d;
      if (!done && /sealboxd ready/.test(err)) {
        done = true;
        resolve({ child, stderr: () => err, exited, ready: true });
      }
    });
    child.stdout!.resume();
  });
}

/** The daemon's own lifecycle records (other parts of the box add theirs in between). */
async function records(state: string): Promise<AuditRecord[]> {
  const r = await openLedgerReader(state);
  try {
    return Array.from({ length: r.size() }, (_, i) => r.record(i)!).filter((x) => /^(daemon|ledger)\./.test(x.action));
  } finally {
    await r.close();
  }
}

test("start and clean stop are recorded; shutdown closes in reverse order of opening", async () => {
  const s = await tempState();
  cleanups.push(() => s.cleanup());
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    const d = await startDaemon(s.dir);
    assert.ok(d.ready, d.stderr());
    assert.match(d.stderr(), /SOFTWARE key/);
    assert.ok(existsSync(runMarkerPath(s.dir)), "the run marker is written once started");
    d.child.kill(signal);
    const { code } = await d.exited;
    assert.equal(code, 0, d.stderr());
    const log = d.stderr();
    const order = ["daemon.stop record", "ledger", "key"].map((p) => log.indexOf(`closed part=${p.includes(" ") ? JSON.stringify(p) : p}`));
    assert.ok(order.every((i) => i > 0), `every part closes:\n${log}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, "stop record, then ledger, then key");
    assert.ok(!existsSync(runMarkerPath(s.dir)), "the run marker is gone after a clean stop");
  }
  const recs = await records(s.dir);
  assert.deepEqual(
    recs.map((r) => r.action),
    ["ledger.create", "daemon.start", "daemon.stop", "daemon.start", "daemon.stop"],
  );
  assert.equal(recs[2]!.details!.reason, "SIGTERM");
  assert.equal(recs[4]!.details!.reason, "SIGINT");
  assert.deepEqual(recs[1]!.details!.key, { origin: "software", name: s.signer.name });
});

test("after a SIGKILL, the next start records that the previous run did not stop cleanly", async () => {
  const s = await tempState();
  cleanups.push(() => s.cleanup());
  const first = await startDaemon(s.dir);
  assert.ok(first.ready, first.stderr());
  const pid = first.child.pid!;
  first.child.kill("SIGKILL");
  await first.exited;
  const second = await startDaemon(s.dir);
  assert.ok(second.ready, second.stderr());
  assert.match(second.stderr(), /did not stop cleanly/);
  second.child.kill("SIGTERM");
  assert.equal((await second.exited).code, 0);
  const recs = await records(s.dir);
  assert.deepEqual(
    recs.map((r) => r.action),
    ["ledger.create", "daemon.start", "daemon.unclean-stop", "daemon.start", "daemon.stop"],
  );
  assert.equal(recs[2]!.details!.previous_pid, pid);
  assert.equal(recs[2]!.details!.previous_start_seq, recs[1]!.seq, "it names the start record of the run that crashed");
});

test("a second daemon on the same state is refused; no key is a clear error", async () => {
  const s = await tempState();
  cleanups.push(() => s.cleanup());
  const first = await startDaemon(s.dir);
  assert.ok(first.ready);
  const second = await startDaemon(s.dir);
  assert.equal(second.ready, false);
  assert.equal((await second.exited).code, 75);
  assert.match(second.stderr(), /already running/);
  first.child.kill("SIGTERM");
  assert.equal((await first.exited).code, 0);

  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const none = await startDaemon(join(dir, "empty"));
  assert.equal(none.ready, false);
  assert.notEqual((await none.exited).code, 0);
  assert.match(none.stderr(), /box\.json does not exist|provision/);
});

test("exporting while a writer appends gives bundles that verify", async () => {
  const s = await tempState();
  cleanups.push(() => s.cleanup());
  const childScript = fileURLToPath(new URL("../../helpers/ledger-crash-child.js", import.meta.url));
  const writer = spawn(process.execPath, [childScript, s.dir, "live"], { stdio: ["ignore", "pipe", "inherit"] });
  children.add(writer);
  await new Promise<void>((resolve) => {
    let buf = "";
    writer.stdout!.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      if (buf.includes("ack ")) resolve();
    });
  });
  const sizes: number[] = [];
  for (let i = 0; i < 4; i++) {
    const out = join(s.dir, "..", `live-${i}`);
    const e = await sealbox(["audit", "export", "--state", s.dir, "--out", out, "--json"]);
    assert.equal(e.code, 0, e.stderr + e.stdout);
    const v = await sealbox(["verify", out, "--key", s.vkey, "--json"]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    sizes.push((JSON.parse(v.stdout) as { treeSize: number }).treeSize);
  }
  writer.kill("SIGKILL");
  assert.ok(sizes[3]! > sizes[0]!, `the log grew during the exports: ${sizes.join(", ")}`);
});
