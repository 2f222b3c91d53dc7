// Bounded memory on both sides: a sender with far more to send than its rate
// allows holds only its interleave window, and a receiver that starts far
// behind (a separate `sealbox diode receive` process, its RSS sampled from
// /proc) stays within its decoder budget, parking what runs ahead on disk
// within its own budget.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { SYMBOL_OVERHEAD_BYTES, symbolBytesForMtu } from "../../../daemon/diode/frame.js";
import { startDiodeSender } from "../../../daemon/diode/sender.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { createMemoryDiodeLedger } from "../../helpers/diode-ledger.js";
import { assertOutputIsLedgerPrefix, readState, tempDirs, waitFor } from "../../helpers/diode-harness.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureLoopback } from "../../helpers/loopback.js";

// Real UDP on 127.0.0.1: up even in a fresh `unshare -n` namespace.
before(ensureLoopback);

const dirs = tempDirs();
after(() => dirs.cleanup());
const CLI = fileURLToPath(new URL("../../../daemon/console/cli.js", import.meta.url));

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

describe("diode memory bounds", { timeout: 300_000 }, () => {
  it("a sender over its rate and a receiver far behind both stay within their budgets", async (t) => {
    const ledger = createMemoryDiodeLedger();
    ledger.appendMany(3000, 2000);
    const out = dirs.make("rx");
    const depth = 8;
    const blockSymbols = 64;
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const tx = await startDiodeSender({
      reader: ledger,
      audit: ledger,
      signer: ledger.signer,
      stateDir: dirs.make("tx"),
      udp: { host: "127.0.0.1", port },
      rateBytesPerS: 1_500_000,
      repairRatio: 0.1,
      interleaveDepth: depth,
      blockSymbols,
      log: createMemoryLogger(),
    });
    // The box writes ~2 MB/s of records; the diode may send 1.5 MB/s.
    const appender = setInterval(() => ledger.appendMany(100, 2000), 100);
    const frameBytes = symbolBytesForMtu(1400) + SYMBOL_OVERHEAD_BYTES;
    // Window bound: depth (+1 for a new-entry block let in ahead) blocks of (K + repair) frames.
    const windowBound = (depth + 1) * Math.ceil(blockSymbols * 1.1 + 2);
    let maxQueued = 0;
    let maxOpen = 0;
    const sampler = setInterval(() => {
      const c = tx.status().channels[0]!;
      maxQueued = Math.max(maxQueued, c.queuedFrames);
      maxOpen = Math.max(maxOpen, c.openBlocks);
    }, 50);
    let child: ReturnType<typeof spawn> | undefined;
    let maxRss = 0;
    try {
      await new Promise((r) => setTimeout(r, 4000));
      const backlogBefore = tx.status().channels[0]!.liveBacklog;
      assert.ok(backlogBefore > 1000, `the sender is behind (backlog ${backlogBefore})`);
      // The receiver starts late, far behind, with tight budgets.
      child = spawn(
        process.execPath,
        [CLI, "diode", "receive", "--listen", `127.0.0.1:${port}`, "--out", out, "--key", ledger.vkey, "--max-pending-mib", "16", "--max-decoders", "24"],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
      const pid = child.pid!;
      const until = Date.now() + 15_000;
      while (Date.now() < until) {
        await new Promise((r) => setTimeout(r, 200));
        if (child.exitCode !== null) assert.fail(`the receiver exited early: ${stderr}`);
        maxRss = Math.max(maxRss, rssBytes(pid));
      }
      clearInterval(appender);
      const backlogAfter = tx.status().channels[0]!.liveBacklog;
      assert.ok(backlogAfter > backlogBefore, `the backlog kept growing (${backlogBefore} → ${backlogAfter})`);
      await waitFor("the receiver's state", () => existsSync(join(out, "state.json")), 10_000);
      const s = readState(out);
      // Far behind: the start of the log comes back only with the carousel's share of the link,
      // so what arrives meanwhile is verified and parked on disk, within budget.
      assert.ok((s.counters.blocks_parked ?? 0) > 0 || s.head > 0, `the receiver took in blocks: ${JSON.stringify(s.counters)}`);
      assert.ok(s.counters.pending_bytes! <= 16 * 1024 * 1024, `parked ${s.counters.pending_bytes} bytes`);
      assert.ok(s.counters.decoders_open! <= 24);
    } finally {
      clearInterval(appender);
      clearInterval(sampler);
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child!.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await tx.close();
    }
    assert.equal(child.exitCode, 0, "SIGTERM stops the receiver cleanly");
    assert.ok(maxOpen <= depth + 1, `open blocks ${maxOpen}`);
    assert.ok(maxQueued <= windowBound, `queued frames ${maxQueued} > ${windowBound} (${((maxQueued * frameBytes) / 1e6).toFixed(1)} MB)`);
    t.diagnostic(`sender: ≤ ${maxOpen} open blocks, ≤ ${maxQueued} queued frames (bound ${windowBound}); receiver RSS peak ${(maxRss / 1e6).toFixed(0)} MB`);
    assert.ok(maxRss > 0 && maxRss < 250 * 1024 * 1024, `receiver RSS peaked at ${(maxRss / 1e6).toFixed(0)} MB`);
    assertOutputIsLedgerPrefix(out, ledger.records, ledger.vkey);
  });
});
