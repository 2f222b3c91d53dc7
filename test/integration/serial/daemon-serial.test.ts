// The integrators' serial line as the box runs it: the real `sealboxd` (a
// child process, --config FILE with one [[serial.ports]] entry, --demo-model)
// serving one end of a socat pty pair; the reference client on the other end
// authenticates, asks for the status and a streamed answer. The calls land in
// the real ledger with transport "serial" and the port as peer; a wrong key is
// refused and audited; /metrics on the operator socket carries the port's
// counters; SIGTERM closes the port and the daemon exits 0.

import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { openSerialLink, type SerialLink } from "../../../hal/serial/index.js";
import type { JsonValue } from "../../../daemon/ledger/types.js";
import { SerialClient } from "../../../daemon/transports/serial-client.js";
import { isSealboxError } from "../../../daemon/errors.js";
import { REPO, runSealbox } from "../../helpers/console.js";
import { request } from "../../helpers/http-box.js";
import { startPtyPair, type PtyPair } from "../../helpers/socat.js";

interface LedgerRecord {
  seq: number;
  actor: { role: string; transport: string; peer: string };
  category: string;
  action: string;
  target?: string;
  outcome: string;
  details?: Record<string, JsonValue>;
}

const SEALBOXD = join(REPO, "bin", "sealboxd");
const SEALBOX = join(REPO, "bin", "sealbox");
/** The daemon's default handshake backoff after one failure (serial-auth.ts): the test waits it out. */
const AUTH_BACKOFF_MS = 1000;

/** A TOML basic string (paths from mkdtemp hold no quotes or backslashes, but say so if one ever does). */
function tomlString(s: string): string {
  assert.doesNotMatch(s, /["\\\n]/, `unexpected character in ${s}`);
  return `"${s}"`;
}

/** Resolves with the daemon's exit code (its log is in the message on a timeout). */
function exitOf(child: ChildProcess, timeoutMs: number, log: () => string): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`sealboxd did not exit within ${timeoutMs} ms:\n${log()}`)), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/**
 * Waits for the daemon's whole start (its "sealboxd ready" line comes after the serial
 * ports are opened; the sockets answer earlier) and for /readyz (the model loaded).
 */
async function waitReady(child: ChildProcess, log: () => string, operatorSock: string, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (/\] sealboxd ready/.test(log())) {
      const r = await request(operatorSock, "GET", "/readyz").catch(() => undefined);
      if (r?.status === 200) return;
    }
    if (child.exitCode !== null || Date.now() > until) assert.fail(`sealboxd did not become ready:\n${log()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe("sealboxd --config with a [[serial.ports]] entry on a socat pty", { timeout: 300_000 }, () => {
  let root: string;
  let state: string;
  let config: string;
  let pskFile: string;
  let psk: Uint8Array;
  let pty: PtyPair;
  let daemon: ChildProcess;
  let daemonLog = "";
  let link: SerialLink | undefined;
  let client: SerialClient | undefined;
  let boxId: string;
  const seen: number[] = [];

  const operatorSock = (): string => join(state, "run", "operator.sock");
  const technicianSock = (): string => join(state, "run", "technician.sock");

  async function auditShow(seq: number): Promise<LedgerRecord> {
    const r = await runSealbox(["audit", "show", "--state", state, String(seq), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const rec = JSON.parse(r.stdout) as LedgerRecord;
    assert.equal(rec.seq, seq);
    return rec;
  }

  /** Records from `from` on, through the technician socket's method table. */
  async function recordsFrom(from: number): Promise<LedgerRecord[]> {
    const r = await request(technicianSock(), "POST", "/sealbox/v1/rpc/audit.records", { from, count: 100 });
    assert.equal(r.status, 200, r.text);
    const body = r.json() as { from: number; records: LedgerRecord[] };
    assert.equal(body.from, from);
    return body.records;
  }

  async function connect(key: Uint8Array): Promise<SerialClient> {
    link ??= await openSerialLink(pty.b);
    return SerialClient.connect(link, { psk: key, client: "daemon-serial.test", timeoutMs: 20_000 });
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "sealbox-dserial-"));
    state = join(root, "state");
    const prov = spawnSync(SEALBOX, ["keys", "provision", "--state", state, "--software"], { encoding: "utf8" });
    assert.equal(prov.status, 0, prov.stderr);
    boxId = (JSON.parse(await readFile(join(state, "box.json"), "utf8")) as { box_id: string }).box_id;

    pty = await startPtyPair({ a: join(root, "ttyBOX"), b: join(root, "ttyPLC") });
    psk = new Uint8Array(randomBytes(32));
    pskFile = join(root, "ttyBOX.psk");
    await writeFile(pskFile, Buffer.from(psk).toString("hex") + "\n", { mode: 0o600 });

    config = join(root, "sealbox.toml");
    await writeConfig(config, { path: pty.a, pskFile });

    daemon = spawn(SEALBOXD, ["--config", config, "--state", state, "--demo-model"], { stdio: ["ignore", "pipe", "pipe"] });
    daemon.stdout!.on("data", (c: Buffer) => (daemonLog += c.toString()));
    daemon.stderr!.on("data", (c: Buffer) => (daemonLog += c.toString()));
    await waitReady(daemon, () => daemonLog, operatorSock());
  });

  after(async () => {
    client?.close();
    await link?.close().catch(() => undefined);
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const gone = new Promise((r) => daemon.once("exit", r));
      daemon.kill("SIGKILL");
      await gone;
    }
    await pty?.close();
    await rm(root, { recursive: true, force: true });
  });

  it("opens the configured port before it says it is ready", () => {
    const open = daemonLog.split("\n").findIndex((l) => l.includes("serial port open") && l.includes(`port=${pty.a}`));
    const ready = daemonLog.split("\n").findIndex((l) => /\] sealboxd ready/.test(l));
    assert.ok(open >= 0 && ready > open, daemonLog);
  });

  it("authenticates over the pty with the port's key and answers status; the call is in the ledger as serial, from the port", async () => {
    client = await connect(psk);
    assert.equal(client.negotiated.version, 1);
    const st = (await client.call("status", {})) as { box: { id: string }; key: { origin: string }; inference: { state: string; model?: { name: string } }; auditSeq: number[] };
    assert.equal(st.box.id, boxId);
    assert.equal(st.key.origin, "software");
    assert.equal(st.inference.state, "ready");
    assert.equal(st.auditSeq.length, 1);
    const rec = await auditShow(st.auditSeq[0]!);
    assert.equal(rec.action, "status");
    assert.equal(rec.outcome, "success");
    assert.deepEqual(rec.actor, { role: "integrator", transport: "serial", peer: pty.a });
    seen.push(rec.seq);
    // The handshake was audited just before the call.
    const auth = (await recordsFrom(Math.max(0, rec.seq - 10))).filter((r) => r.seq < rec.seq && r.action === "serial.auth");
    assert.equal(auth.at(-1)?.outcome, "success", JSON.stringify(auth));
    assert.deepEqual(auth.at(-1)!.actor, { role: "integrator", transport: "serial", peer: pty.a });
    assert.equal(auth.at(-1)!.target, pty.a);
  });

  it("streams an ask: text chunks add up to the answer, and its request and outcome records name the serial port", async () => {
    const chunks: JsonValue[] = [];
    const r = (await client!.call("ask", { prompt: "Is pump 3 ok?", maxTokens: 12, seed: 3 }, { onChunk: (c) => chunks.push(c) })) as {
      text: string;
      finishReason: string;
      usage: { completionTokens: number };
      model: { name: string };
      auditSeq: number[];
    };
    const texts = chunks.flatMap((c) => (c !== null && typeof c === "object" && !Array.isArray(c) && typeof c.text === "string" ? [c.text] : []));
    assert.ok(texts.length >= 1, `streamed text chunks: ${JSON.stringify(chunks)}`);
    assert.equal(texts.join(""), r.text);
    assert.ok(r.usage.completionTokens >= 1 && r.usage.completionTokens <= 12);
    assert.equal(r.model.name, "demo");
    // The request record's number is streamed before the text.
    const first = chunks[0] as { auditSeq?: number };
    assert.equal(first.auditSeq, r.auditSeq[0]);
    assert.equal(r.auditSeq.length, 2);
    const [req, out] = await Promise.all(r.auditSeq.map((s) => auditShow(s)));
    for (const rec of [req!, out!]) {
      assert.equal(rec.category, "inference");
      assert.deepEqual(rec.actor, { role: "integrator", transport: "serial", peer: pty.a });
    }
    assert.equal(req!.outcome, "requested");
    assert.equal(out!.outcome, "success");
    assert.equal(out!.details?.requestSeq, req!.seq);
    seen.push(req!.seq, out!.seq);
  });

  it("streams a chat the same way", async () => {
    let text = "";
    const r = (await client!.call("chat", { messages: [{ role: "user", content: "valve 7?" }], maxTokens: 6 }, { onChunk: (c) => void (typeof (c as { text?: unknown }).text === "string" && (text += (c as { text: string }).text)) })) as { text: string; auditSeq: number[] };
    assert.equal(text, r.text);
    const out = await auditShow(r.auditSeq[1]!);
    assert.equal(out.category, "inference");
    assert.equal(out.actor.transport, "serial");
    assert.equal(out.actor.peer, pty.a);
    seen.push(out.seq);
  });

  it("refuses a wrong key (UNAUTHENTICATED) and audits the refusal; after the backoff the right key works again", async () => {
    client!.close();
    client = undefined;
    const from = Math.max(...seen) + 1;
    const wrong = new Uint8Array(32).fill(0xa5);
    await assert.rejects(connect(wrong), (e: unknown) => isSealboxError(e, "UNAUTHENTICATED"));
    const refused = (await recordsFrom(from)).filter((r) => r.action === "serial.auth" && r.outcome === "refused");
    assert.equal(refused.length, 1, JSON.stringify(refused));
    assert.equal(refused[0]!.category, "auth");
    assert.deepEqual(refused[0]!.actor, { role: "integrator", transport: "serial", peer: pty.a });
    assert.equal(refused[0]!.details?.reason, "bad-mac");
    assert.equal((await auditShow(refused[0]!.seq)).outcome, "refused");
    // The key never appears in the log.
    assert.ok(!daemonLog.includes(Buffer.from(psk).toString("hex")));

    await new Promise((res) => setTimeout(res, AUTH_BACKOFF_MS + 200));
    client = await connect(psk);
    const st = (await client.call("status", {})) as { auditSeq: number[] };
    seen.push(st.auditSeq[0]!);
  });

  it("/metrics on the operator socket carries the port's counters", async () => {
    const r = await request(operatorSock(), "GET", "/metrics");
    assert.equal(r.status, 200, r.text);
    const label = `{port="${pty.a}"}`;
    const value = (name: string): number => {
      const line = r.text.split("\n").find((l) => l.startsWith(`${name}${label} `));
      assert.ok(line, `${name}${label} in /metrics:\n${r.text.split("\n").filter((l) => l.startsWith("sealbox_serial")).join("\n")}`);
      return Number(line.slice(line.lastIndexOf(" ") + 1));
    };
    assert.equal(value("sealbox_serial_link_opens_total"), 1);
    assert.equal(value("sealbox_serial_auth_successes_total"), 2);
    assert.equal(value("sealbox_serial_auth_failures_total"), 1);
    assert.equal(value("sealbox_serial_requests_total"), 4);
    assert.ok(value("sealbox_serial_received_bytes_total") > 0);
    assert.ok(value("sealbox_serial_sent_frames_total") > 0);
    assert.match(r.text, /^# TYPE sealbox_serial_dropped_frames_total counter$/m);
  });

  it("stops cleanly on SIGTERM (exit 0): the open serial session is closed and audited, then the stop is recorded as the last record, then the ledger closes", async () => {
    client!.close();
    client = undefined;
    const exited = exitOf(daemon, 60_000, () => daemonLog);
    daemon.kill("SIGTERM");
    assert.equal(await exited, 0, daemonLog);
    const closedAt = (part: string): number => daemonLog.indexOf(`closed part=${part.includes(" ") ? JSON.stringify(part) : part}`);
    const order = ["serial ports", "daemon.stop record", "ledger"].map(closedAt);
    assert.ok(order.every((i) => i >= 0), `every part closes:\n${daemonLog}`);
    assert.deepEqual([...order].sort((a, b) => a - b), order, "the serial ports, then the stop record, then the ledger");
    // Every record this run wrote after the calls above, read with the console from the stopped box.
    const after: LedgerRecord[] = [];
    for (let seq = Math.max(...seen) + 1; ; seq++) {
      const r = await runSealbox(["audit", "show", "--state", state, String(seq), "--json"]);
      if (r.code !== 0) {
        assert.equal(r.code, 66, r.stderr);
        assert.match(r.stdout + r.stderr, /NOT_FOUND/);
        break;
      }
      after.push(JSON.parse(r.stdout) as LedgerRecord);
    }
    const stop = after.find((r) => r.action === "daemon.stop");
    assert.equal(stop?.outcome, "success", JSON.stringify(after));
    assert.equal(stop?.details?.reason, "SIGTERM");
    // The session still open at SIGTERM ends with the port's close: audited, as the port's.
    const end = after.filter((r) => r.action === "serial.session.end");
    assert.equal(end.length, 1, JSON.stringify(after));
    assert.equal(end[0]!.details?.reason, "server closing");
    assert.deepEqual(end[0]!.actor, { role: "integrator", transport: "serial", peer: pty.a });
    // Every part stops before the stop record is written (main.ts): "daemon.stop" is the run's last record.
    assert.ok(end[0]!.seq < stop!.seq);
    assert.equal(after[after.length - 1]!.action, "daemon.stop", JSON.stringify(after));
  });
});

/** A config with the sockets in this process's group (with a config file, socket groups must exist) and one serial port. */
async function writeConfig(file: string, port: { path: string; pskFile: string }): Promise<void> {
  const group = spawnSync("id", ["-gn"], { encoding: "utf8" }).stdout.trim();
  await writeFile(
    file,
    [
      "[keys]",
      'origin = "software"',
      ...["operator", "technician", "integrator", "admin"].flatMap((r) => [`[socket.${r}]`, `group = ${tomlString(group)}`]),
      "[[serial.ports]]",
      `path = ${tomlString(port.path)}`,
      `psk_file = ${tomlString(port.pskFile)}`,
      "baud = 115200",
      "",
    ].join("\n"),
  );
}

describe("sealboxd with a configured serial port that appears only after the start", { timeout: 180_000 }, () => {
  it("starts without it, keeps retrying, and serves it once it is there", async () => {
    const root = await mkdtemp(join(tmpdir(), "sealbox-dserial-late-"));
    let daemon: ChildProcess | undefined;
    let pty: PtyPair | undefined;
    let link: SerialLink | undefined;
    let client: SerialClient | undefined;
    let log = "";
    try {
      const state = join(root, "state");
      const prov = spawnSync(SEALBOX, ["keys", "provision", "--state", state, "--software"], { encoding: "utf8" });
      assert.equal(prov.status, 0, prov.stderr);
      const psk = new Uint8Array(randomBytes(16));
      const pskFile = join(root, "late.psk");
      await writeFile(pskFile, Buffer.from(psk).toString("hex"), { mode: 0o600 });
      const paths = { a: join(root, "ttyLATE"), b: join(root, "ttyLATE-peer") };
      const config = join(root, "sealbox.toml");
      await writeConfig(config, { path: paths.a, pskFile });
      daemon = spawn(SEALBOXD, ["--config", config, "--state", state], { stdio: ["ignore", "pipe", "pipe"] });
      daemon.stdout!.on("data", (c: Buffer) => (log += c.toString()));
      daemon.stderr!.on("data", (c: Buffer) => (log += c.toString()));
      const sock = join(state, "run", "operator.sock");
      await waitReady(daemon, () => log, sock);
      assert.match(log, /cannot open serial port; will retry/);
      pty = await startPtyPair(paths);
      // The retry backoff is capped at 5 s (serial-server.ts): the port opens within a few tries.
      const openUntil = Date.now() + 30_000;
      while (!/serial port open/.test(log)) {
        if (Date.now() > openUntil) assert.fail(`the port was not opened once it appeared:\n${log}`);
        await new Promise((res) => setTimeout(res, 100));
      }
      link = await openSerialLink(paths.b);
      client = await SerialClient.connect(link, { psk, timeoutMs: 20_000 });
      const st = (await client.call("status", {})) as { inference: unknown; auditSeq: number[] };
      assert.equal(st.auditSeq.length, 1);
      const m = await request(sock, "GET", "/metrics");
      const failures = new RegExp(`^sealbox_serial_link_open_failures_total\\{port="${paths.a.replace(/[/.]/g, "\\$&")}"\\} (\\d+)$`, "m").exec(m.text);
      assert.ok(failures && Number(failures[1]) >= 1, m.text);
      client.close();
      client = undefined;
      const exited = exitOf(daemon, 60_000, () => log);
      daemon.kill("SIGTERM");
      assert.equal(await exited, 0, log);
    } finally {
      client?.close();
      await link?.close().catch(() => undefined);
      if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
        const gone = new Promise((r) => daemon!.once("exit", r));
        daemon.kill("SIGKILL");
        await gone;
      }
      await pty?.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("sealboxd refuses to start with a serial PSK file other users can read", () => {
  it("exits with BAD_CONFIG's code, naming the file, and leaves no sockets", { timeout: 120_000 }, async () => {
    const root = await mkdtemp(join(tmpdir(), "sealbox-dserial-bad-"));
    try {
      const state = join(root, "state");
      const prov = spawnSync(SEALBOX, ["keys", "provision", "--state", state, "--software"], { encoding: "utf8" });
      assert.equal(prov.status, 0, prov.stderr);
      const psk = join(root, "open.psk");
      await writeFile(psk, "11".repeat(32) + "\n", { mode: 0o644 });
      const config = join(root, "sealbox.toml");
      await writeConfig(config, { path: join(root, "ttyNONE"), pskFile: psk });
      const r = spawnSync(SEALBOXD, ["--config", config, "--state", state], { encoding: "utf8", timeout: 100_000 });
      assert.equal(r.status, 78, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /PSK file .*open\.psk is accessible to other users \(mode 644\)/);
      const sockets = spawnSync("sh", ["-c", `ls ${join(state, "run")}/*.sock 2>/dev/null | wc -l`], { encoding: "utf8" }).stdout.trim();
      assert.equal(sockets, "0");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
