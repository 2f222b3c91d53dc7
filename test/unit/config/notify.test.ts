import { test } from "node:test";
import assert from "node:assert/strict";
import { Notifier, openNotifier, statusLine, watchdogIntervalUs, type NotifyTransport } from "../../../daemon/notify.js";
import { diffConfig, applyReloadable } from "../../../daemon/config/reload.js";
import { defaultConfig } from "../../../daemon/config.js";
import { createMemoryLogger } from "../../../daemon/log.js";

function recorder(rc = 1): NotifyTransport & { sent: string[] } {
  const sent: string[] = [];
  return { sent, send: (s) => (sent.push(s), rc) };
}

test("watchdogIntervalUs follows sd_watchdog_enabled(3): WATCHDOG_PID must be ours", () => {
  assert.equal(watchdogIntervalUs({}, 10), undefined);
  assert.equal(watchdogIntervalUs({ WATCHDOG_USEC: "20000000" }, 10), 20_000_000);
  assert.equal(watchdogIntervalUs({ WATCHDOG_USEC: "20000000", WATCHDOG_PID: "10" }, 10), 20_000_000);
  assert.equal(watchdogIntervalUs({ WATCHDOG_USEC: "20000000", WATCHDOG_PID: "11" }, 10), undefined);
  for (const bad of ["", "0", "-5", "1e6", "abc", " 5", "99999999999999999999"]) assert.equal(watchdogIntervalUs({ WATCHDOG_USEC: bad }, 10), undefined, bad);
});

test("statusLine cannot smuggle a second assignment", () => {
  assert.equal(statusLine("ok\nREADY=1"), "ok READY=1");
  assert.equal(statusLine("a\r\n\0b"), "a b");
  assert.equal(statusLine("x".repeat(2000)).length, 512);
});

test("the notifier sends the sd_notify(3) assignments", async () => {
  const t = recorder();
  const n = await openNotifier({ transport: t, env: {}, pid: 1 });
  n.ready("ledger 12 records; key tpm; model ab12");
  n.status("busy\nREADY=1");
  n.extendTimeout(90_000);
  n.reloading();
  n.stopping("stopping: finishing 2 requests");
  n.close();
  n.close();
  n.status("after close");
  assert.deepEqual(t.sent, [
    "READY=1\nSTATUS=ledger 12 records; key tpm; model ab12",
    "STATUS=busy READY=1",
    "EXTEND_TIMEOUT_USEC=90000000",
    "RELOADING=1",
    "STOPPING=1\nSTATUS=stopping: finishing 2 requests",
  ]);
  assert.equal(n.counts.sent, 5);
});

test("without NOTIFY_SOCKET every call is a no-op", async () => {
  const n = await openNotifier({ env: { WATCHDOG_USEC: "1000" } });
  assert.equal(n.enabled, false);
  assert.equal(n.watchdogUs, undefined);
  assert.equal(n.startWatchdog(), undefined);
  n.ready();
  n.close();
  assert.equal(n.counts.sent, 0);
});

test("watchdog pings at half the interval from the event loop, and stop on stopping()", async () => {
  const t = recorder();
  const n = new Notifier(t, 40_000, undefined); // 40 ms → a ping every 20 ms
  assert.equal(n.startWatchdog(), 20);
  assert.equal(n.startWatchdog(), undefined, "a second start does not add a timer");
  await new Promise((r) => setTimeout(r, 150));
  const pings = t.sent.filter((s) => s === "WATCHDOG=1").length;
  assert.ok(pings >= 3, `expected several pings, got ${pings}`);
  n.stopping();
  const after = t.sent.length;
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(t.sent.length, after, "no ping after STOPPING");
  n.close();
});

test("failures are counted and logged, a bounded number of times", () => {
  const log = createMemoryLogger();
  const n = new Notifier(recorder(-111), undefined, log);
  for (let i = 0; i < 250; i++) n.status("x");
  assert.equal(n.counts.failed, 250);
  assert.equal(log.lines.filter((l) => l.includes("sd_notify failed")).length, 5); // 1,2,3,100,200
  const throwing = new Notifier({ send: () => { throw new Error("boom"); } }, undefined, log);
  throwing.ready();
  assert.equal(throwing.counts.failed, 1);
});

test("reload: the log level applies at once (health where the daemon can), everything else needs a restart", () => {
  const a = defaultConfig({ paths: { state: "/tmp/s" } });
  const b = defaultConfig({ paths: { state: "/tmp/s" }, log: { level: "debug" }, health: { gpuTempCriticalC: 95, diskFreeCriticalBytes: 1 }, inference: { threads: a.inference.threads + 1 }, serial: { ports: [{ path: "/dev/x", baudRate: 9600, parity: "none", dataBits: 8, stopBits: 1, pskFile: "/p", role: "integrator" }] } });
  assert.deepEqual(diffConfig(a, b, ["log", "health"]), [
    { key: "log.level", reloadable: true },
    { key: "inference.threads", reloadable: false },
    { key: "health.gpu_temp_critical_c", reloadable: true },
    { key: "health.disk_free_critical_mib", reloadable: true },
    { key: "serial.ports", reloadable: false },
  ]);
  assert.deepEqual(diffConfig(a, b).filter((c) => c.reloadable).map((c) => c.key), ["log.level"], "by default only the log level");
  assert.equal(applyReloadable(a, b).health.gpuTempCriticalC, 90);
  const applied = applyReloadable(a, b, ["log", "health"]);
  assert.equal(applied.log.level, "debug");
  assert.equal(applied.health.gpuTempCriticalC, 95);
  assert.equal(applied.inference.threads, a.inference.threads, "threads need a restart");
  assert.deepEqual(applied.serial.ports, []);
  assert.deepEqual(diffConfig(a, a), []);
});

test("withLevel: the level can change while running, children follow", async () => {
  const { withLevel, initialLogLevel } = await import("../../../daemon/config/level-logger.js");
  const base = createMemoryLogger();
  let level: "info" | "debug" | "error" = "info";
  const log = withLevel(base, () => level);
  const child = log.child("x");
  log.debug("d1");
  log.info("i1");
  child.debug("d2");
  level = "debug";
  child.debug("d3");
  level = "error";
  log.warn("w1");
  log.error("e1");
  assert.deepEqual(base.lines.map((l) => l.split(" ").slice(2).join(" ")), ["i1", "d3", "e1"].map((m, i) => (i === 1 ? `[sealbox/x] ${m}` : `[sealbox] ${m}`)));
  assert.equal(initialLogLevel("info", { SEALBOX_LOG_LEVEL: "warn" }), "warn");
  assert.equal(initialLogLevel("info", { SEALBOX_LOG_LEVEL: "loud" }), "info");
  assert.equal(initialLogLevel("notice", {}), "notice");
});
