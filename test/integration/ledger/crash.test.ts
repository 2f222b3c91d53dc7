// Crash safety: a child appending as fast as it can is SIGKILLed at random
// moments, many times. After each kill the ledger reopens, the whole log
// verifies offline, and every append the child saw resolve is there.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openLedgerReader } from "../../../daemon/ledger/reader.js";
import { exportBundle } from "../../../daemon/ledger/export.js";
import { verifyBundle } from "../../../daemon/ledger/verify.js";
import { tempState } from "../../helpers/ledger-harness.js";

const child = fileURLToPath(new URL("../../helpers/ledger-crash-child.js", import.meta.url));
const ROUNDS = Number(process.env.SEALBOX_CRASH_ROUNDS ?? 24);

function runAndKill(stateDir: string, prefix: string, killAfterMs: number, afterReady: boolean): Promise<{ acks: Map<number, string>; ready: boolean }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [child, stateDir, prefix], { stdio: ["ignore", "pipe", "pipe"] });
    const acks = new Map<number, string>();
    let ready = false;
    let buf = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => void p.kill("SIGKILL");
    if (!afterReady) timer = setTimeout(kill, killAfterMs);
    p.stdout.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [kind, a, b] = line.split(" ");
        if (kind === "ready") {
          ready = true;
          if (afterReady) timer = setTimeout(kill, killAfterMs);
        } else if (kind === "ack") acks.set(Number(a), b!);
      }
    });
    p.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const guard = setTimeout(kill, 60_000);
    p.on("error", reject);
    p.on("close", (code, signal) => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`child ended by itself (code ${code}): ${stderr}`));
      else resolve({ acks, ready });
    });
  });
}

test(`${ROUNDS} rounds of SIGKILL at random moments lose nothing acknowledged`, { timeout: 600_000 }, async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const everAcked = new Map<number, string>();
  let killedWhileWriting = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // Some kills land during start-up (open, genesis), most during appends.
    const early = round % 6 === 5;
    const delay = early ? Math.floor(Math.random() * 120) : 20 + Math.floor(Math.random() * 300);
    const { acks, ready } = await runAndKill(s.dir, `r${round}`, delay, !early);
    if (ready && acks.size > 0) killedWhileWriting++;
    for (const [seq, id] of acks) {
      assert.ok(!everAcked.has(seq), `seq ${seq} acknowledged twice`);
      everAcked.set(seq, id);
    }

    const reader = await openLedgerReader(s.dir);
    try {
      const size = reader.size();
      for (const [seq, id] of everAcked) {
        assert.ok(seq < size, `round ${round}: acknowledged seq ${seq} is beyond the log (size ${size})`);
        assert.equal(reader.record(seq)!.target, id, `round ${round}: record ${seq} is not the one acknowledged`);
      }
      // Verify the whole log offline, as an auditor would (every 4th round, and the last).
      if (round % 4 === 3 || round === ROUNDS - 1) {
        const out = join(s.dir, "..", `bundle-${round}`);
        await exportBundle(reader, out, { vkey: s.vkey });
        const report = await verifyBundle(out, { key: s.vkey });
        assert.equal(report.treeSize, size);
      }
    } finally {
      await reader.close();
    }
  }
  assert.ok(killedWhileWriting >= ROUNDS / 2, `only ${killedWhileWriting} kills landed during appends`);
  assert.ok(everAcked.size > 100, `only ${everAcked.size} appends acknowledged in all`);
});
