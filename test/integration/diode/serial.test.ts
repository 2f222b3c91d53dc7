// The TX-only serial diode over real kernel ptys (socat), with a line in
// between that drops and corrupts bytes:
//
//   sender → pty A1 ═ socat ═ A2 → [test line: drop, corrupt] → B1 ═ socat ═ B2 → receiver
//
// The sender only ever writes A1; the receiver only ever reads B2.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { SerialPort } from "serialport";

import { startReceiver } from "../../../daemon/diode/receiver.js";
import { startDiodeSender } from "../../../daemon/diode/sender.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { createMemoryDiodeLedger } from "../../helpers/diode-ledger.js";
import { assertOutputIsLedgerPrefix, assertOutputVerifies, readState, tempDirs, waitFor } from "../../helpers/diode-harness.js";
import { seededRandom } from "../../helpers/lossy-relay.js";
import { startPtyPair, type PtyPair } from "../../helpers/socat.js";

const dirs = tempDirs();
after(() => dirs.cleanup());

function openPort(path: string): Promise<SerialPort> {
  const p = new SerialPort({ path, baudRate: 115200, autoOpen: false, lock: false });
  return new Promise((resolve, reject) => p.open((e) => (e ? reject(e) : resolve(p))));
}

function closePort(p: SerialPort): Promise<void> {
  return new Promise((resolve) => (p.isOpen ? p.close(() => resolve()) : resolve()));
}

describe("diode over a TX-only serial line", { timeout: 240_000 }, () => {
  it("delivers every entry through a line that drops and corrupts bytes", async () => {
    const ledger = createMemoryDiodeLedger();
    ledger.appendMany(600, 250);
    const pairs: PtyPair[] = [await startPtyPair(), await startPtyPair()];
    const [a, b] = pairs as [PtyPair, PtyPair];
    const lineIn = await openPort(a.b);
    const lineOut = await openPort(b.a);
    const rnd = seededRandom(42);
    const line = { bytes: 0, dropped: 0, corrupted: 0 };
    lineIn.on("data", (chunk: Buffer) => {
      const out: number[] = [];
      for (const byte of chunk) {
        line.bytes++;
        const r = rnd();
        if (r < 1 / 4000) {
          line.dropped++;
          continue;
        }
        if (r < 2 / 4000) {
          line.corrupted++;
          out.push(byte ^ (1 << Math.floor(rnd() * 8)));
          continue;
        }
        out.push(byte);
      }
      lineOut.write(Buffer.from(out));
    });
    const out = dirs.make("rx");
    const rx = await startReceiver({ outDir: out, vkey: ledger.vkey, serial: { path: b.b, baudRate: 115200 }, mode: "follow", log: createMemoryLogger() });
    const tx = await startDiodeSender({
      reader: ledger,
      audit: ledger,
      signer: ledger.signer,
      stateDir: dirs.make("tx"),
      // A pty ignores the line rate; the nominal baud sets the pacing (baud ÷ 10 bytes per second).
      serial: { path: a.a, baudRate: 2_000_000, mtuBytes: 256 },
      rateBytesPerS: 200_000,
      repairRatio: 0.25,
      carouselMinPassMs: 500,
      log: createMemoryLogger(),
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      ledger.appendMany(100, 250);
      await waitFor("every entry over the serial line", () => rx.status().head >= ledger.size(), 180_000);
    } finally {
      await tx.close();
      await rx.stop();
      await closePort(lineIn);
      await closePort(lineOut);
      for (const p of pairs) await p.close();
    }
    assert.ok(line.dropped > 10 && line.corrupted > 10, JSON.stringify(line));
    assertOutputIsLedgerPrefix(out, ledger.records, ledger.vkey);
    await assertOutputVerifies(out, ledger.vkey);
    const s = readState(out);
    assert.ok((s.counters.invalid_crc ?? 0) + (s.counters.invalid_length ?? 0) + (s.counters.invalid_short ?? 0) > 0, "damaged frames were caught");
    assert.equal(tx.status().channels[0]!.kind, "serial");
  });
});
