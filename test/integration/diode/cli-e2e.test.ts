// End to end with the real pieces: a box state directory with a software key
// and the LMDB ledger, `sealbox diode send` and `sealbox diode receive` as
// separate processes, each SIGKILLed mid-transfer and started again, then
// `sealbox verify OUT --key VKEY` on the receiver's output. Also the CLI's
// exit codes and `sealbox diode status`.

import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { openSigner, provisionSoftwareKey } from "../../../daemon/keys/key-store.js";
import { openLedger } from "../../../daemon/ledger/ledger.js";
import { formatVkey } from "../../../daemon/ledger/note.js";
import type { AuditRecord } from "../../../daemon/ledger/types.js";
import { readLines, readState, tempDirs, waitFor } from "../../helpers/diode-harness.js";
import { ensureLoopback } from "../../helpers/loopback.js";

// Real UDP on 127.0.0.1: up even in a fresh `unshare -n` namespace.
before(ensureLoopback);

const dirs = tempDirs();
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  dirs.cleanup();
});
const CLI = fileURLToPath(new URL("../../../daemon/console/cli.js", import.meta.url));

function sealbox(args: string[]): ChildProcess {
  const c = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(c);
  c.stdout!.resume();
  c.stderr!.resume();
  return c;
}

function exited(c: ChildProcess): Promise<number | null> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once("exit", (code) => r(code)));
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A box: software key, LMDB ledger with n records. Returns its vkey and the records' bytes. */
async function makeBox(n: number): Promise<{ state: string; vkey: string }> {
  const state = dirs.make("box");
  await provisionSoftwareKey(state);
  const signer = await openSigner(state);
  const ledger = await openLedger({ stateDir: state, signer });
  try {
    for (let i = 0; i < n; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, n - i) }, (_, j) =>
          ledger.append({ actor: { role: "operator", transport: "test", peer: "-" }, category: "inference", action: "chat", target: "m", outcome: "success", details: { i: i + j, pad: "p".repeat(200) } }),
        ),
      );
    }
  } finally {
    await ledger.close();
  }
  const vkey = formatVkey(signer.name, signer.publicKey);
  signer.close();
  return { state, vkey };
}

/** The ledger's records, read after the sender has stopped. */
async function ledgerRecords(state: string): Promise<{ bytes: Uint8Array[]; records: AuditRecord[] }> {
  const signer = await openSigner(state);
  const ledger = await openLedger({ stateDir: state, signer, readOnly: true });
  try {
    const bytes: Uint8Array[] = [];
    const records: AuditRecord[] = [];
    for (let s = 0; s < ledger.size(); s++) {
      bytes.push(ledger.recordBytes(s)!);
      records.push(ledger.record(s)!);
    }
    return { bytes, records };
  } finally {
    await ledger.close();
    signer.close();
  }
}

describe("sealbox diode send / receive, end to end", { timeout: 300_000 }, () => {
  it("survives SIGKILL of the sender and of the receiver, and sealbox verify accepts the output", async () => {
    const { state, vkey } = await makeBox(8000);
    const out = dirs.make("rx");
    const port = await freeUdpPort();
    const send = (): ChildProcess => sealbox(["diode", "send", "--state", state, "--udp", `127.0.0.1:${port}`, "--rate", "600000"]);
    const receive = (): ChildProcess => sealbox(["diode", "receive", "--listen", `127.0.0.1:${port}`, "--out", out, "--key", vkey, "--until-head", "--timeout-s", "200"]);
    let rx = receive();
    let tx = send();
    // Kill both while the log is in flight (blocks are interleaved, so entries land in bursts).
    await waitFor("part of the log in flight", () => {
      try {
        return (readState(out).counters.frames ?? 0) > 800;
      } catch {
        return false;
      }
    }, 60_000);
    tx.kill("SIGKILL"); // no diode.stop record: the next start notices nothing but a new epoch
    await exited(tx);
    rx.kill("SIGKILL"); // mid-write: the restarted receiver cuts its files back to its state
    await exited(rx);
    const headAtKill = readState(out).head;
    assert.ok(headAtKill < 8000, "killed mid-transfer");
    tx = send();
    await new Promise((r) => setTimeout(r, 1500));
    rx = receive();
    const code = await exited(rx);
    assert.equal(code, 0, "the restarted receiver completes (--until-head)");
    tx.kill("SIGTERM");
    assert.equal(await exited(tx), 0, "the sender stops cleanly on SIGTERM");

    const { bytes, records } = await ledgerRecords(state);
    const lines = readLines(join(out, "records.jsonl"));
    assert.ok(lines.length >= 8000);
    lines.forEach((l, i) => assert.equal(l, Buffer.from(bytes[i]!).toString("utf8"), `record ${i}`));
    // The diode's own audit trail: both starts (write-ahead), the send authorisations, one clean stop.
    const diode = records.filter((r) => r.category === "diode");
    assert.equal(diode.filter((r) => r.action === "diode.start" && r.outcome === "requested").length, 2);
    assert.ok(diode.some((r) => r.action === "diode.send"));
    assert.equal(diode.filter((r) => r.action === "diode.stop").length, 1);

    const verify = spawnSync(process.execPath, [CLI, "verify", out, "--key", vkey, "--json"], { encoding: "utf8" });
    assert.equal(verify.status, 0, verify.stderr + verify.stdout);
    const report = JSON.parse(verify.stdout) as { to: number; from: number };
    assert.equal(report.from, 0);
    assert.equal(report.to, lines.length);

    const status = spawnSync(process.execPath, [CLI, "diode", "status", "--state", state], { encoding: "utf8" });
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /diode sender stopped/);
    assert.match(status.stdout, /catch-up bound: \([\d.]+ MB retained \+ [\d.]+ MB open when a receiver joins\) ÷ carousel rate \+ a heartbeat = [\d.]+ s/);
    const rxStatus = spawnSync(process.execPath, [CLI, "diode", "status", "--out", out], { encoding: "utf8" });
    assert.equal(rxStatus.status, 0, rxStatus.stderr);
    assert.match(rxStatus.stdout, new RegExp(`verified entries   \\[0, ${lines.length}\\)`));
    const events = readLines(join(out, "events.jsonl")).map((l) => JSON.parse(l) as { type: string; resumed?: boolean });
    assert.ok(events.some((e) => e.type === "receiver_started" && e.resumed === true));
    assert.ok(events.some((e) => e.type === "sender_restarted"));
  });

  it("sends jumbo datagrams with --mtu, and refuses an --mtu out of range", async () => {
    const { state, vkey } = await makeBox(3000);
    const out = dirs.make("rx");
    const port = await freeUdpPort();
    const rx = sealbox(["diode", "receive", "--listen", `127.0.0.1:${port}`, "--out", out, "--key", vkey, "--until-head", "--timeout-s", "120"]);
    const tx = sealbox(["diode", "send", "--state", state, "--udp", `127.0.0.1:${port}`, "--rate", "4000000", "--mtu", "8972"]);
    assert.equal(await exited(rx), 0, "the receiver completes");
    tx.kill("SIGTERM");
    assert.equal(await exited(tx), 0);
    const { bytes } = await ledgerRecords(state);
    const lines = readLines(join(out, "records.jsonl"));
    assert.ok(lines.length >= 3000);
    lines.forEach((l, i) => assert.equal(l, Buffer.from(bytes[i]!).toString("utf8"), `record ${i}`));
    // The sender's own status names the symbol size it used: (8972 − 52) rounded down to 8 bytes.
    const status = JSON.parse(readFileSync(join(state, "diode", "status.json"), "utf8")) as { channels: { symbolBytes: number }[] };
    assert.equal(status.channels[0]!.symbolBytes, 8920);
    for (const bad of ["575", "65508", "1400.5", "big"]) {
      const r = spawnSync(process.execPath, [CLI, "diode", "send", "--state", state, "--udp", `127.0.0.1:${port}`, "--mtu", bad], { encoding: "utf8", timeout: 60_000 });
      assert.equal(r.status, 64, `--mtu ${bad}: ${r.stderr}`);
      assert.match(r.stderr, /--mtu/);
    }
  });

  it("exits with the documented codes", async () => {
    const { vkey } = await makeBox(10);
    const out = dirs.make("rx");
    const run = (args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [CLI, "diode", ...args], { encoding: "utf8", timeout: 60_000 });
    assert.equal(run(["receive", "--out", out, "--key", vkey]).status, 64, "no link: usage");
    assert.equal(run(["receive", "--listen", "127.0.0.1:0", "--out", out, "--key", "not-a-vkey"]).status, 64, "a bad key: usage");
    assert.equal(run(["receive", "--listen", "localhost:9", "--out", out, "--key", vkey]).status, 64, "names are not resolved");
    assert.equal(run(["receive", "--listen", "127.0.0.1:0", "--out", out, "--key", vkey, "--once", "--until-head"]).status, 64);
    const timedOut = run(["receive", "--listen", "127.0.0.1:0", "--out", out, "--key", vkey, "--until-head", "--timeout-s", "1", "--json"]);
    assert.equal(timedOut.status, 75, "nothing arrived in time: retry later");
    assert.equal((JSON.parse(String(timedOut.stdout)) as { reason: string }).reason, "timeout");
    assert.equal(run(["status", "--state", dirs.make("empty")]).status, 66, "no diode ran there");
    assert.equal(run(["bogus"]).status, 64);
    assert.equal(run(["--help"]).status, 0);
    // The key may also come from a file, as the systemd unit passes it.
    const keyFile = join(dirs.make("key"), "box.vkey");
    (await import("node:fs")).writeFileSync(keyFile, vkey + "\n");
    assert.equal(run(["receive", "--listen", "127.0.0.1:0", "--out", dirs.make("rx"), "--key", keyFile, "--once", "--timeout-s", "1"]).status, 75);
    assert.ok(readFileSync(keyFile, "utf8").startsWith(vkey));
  });
});
