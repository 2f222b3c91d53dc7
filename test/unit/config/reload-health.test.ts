// What sealboxd's SIGHUP applies of [health]: the limits (HealthMonitor.setThresholds),
// not the keys that shape the monitor and its probes, which keep needing a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyReloadable, DAEMON_RELOADABLE_SECTIONS, diffConfig, RELOADABLE_SECTIONS } from "../../../daemon/config/reload.js";
import { defaultConfig } from "../../../daemon/config.js";
import type { HealthConfig } from "../../../daemon/config/types.js";

const RESTART_ONLY: readonly (keyof HealthConfig)[] = ["intervalMs", "nvidiaSmiTimeoutMs", "cpuFallback"];

test("sealboxd reloads the log level and the health limits; a reloader without the monitor only the log level", () => {
  assert.deepEqual(DAEMON_RELOADABLE_SECTIONS, ["log", "health"]);
  assert.deepEqual(RELOADABLE_SECTIONS, ["log"]);
});

test("[health]: the limits are reloadable, interval, nvidia-smi timeout and CPU fallback need a restart", () => {
  const a = defaultConfig({ paths: { state: "/tmp/s" } });
  const b = defaultConfig({
    paths: { state: "/tmp/s" },
    health: {
      intervalMs: 500,
      nvidiaSmiTimeoutMs: 900,
      gpuTempDegradedC: 30,
      gpuTempCriticalC: 35,
      gpuMemoryDegradedPct: 50,
      diskFreeDegradedBytes: 4096 * 1024 * 1024,
      diskFreeCriticalBytes: 1024 * 1024 * 1024,
      memoryAvailableCriticalBytes: 128 * 1024 * 1024,
      cpuFallback: true,
    },
  });
  // Every [health] key differs, so a key added to HealthConfig later fails here until it is classified.
  assert.deepEqual(
    Object.keys(b.health).filter((k) => (a.health as unknown as Record<string, unknown>)[k] === (b.health as unknown as Record<string, unknown>)[k]),
    [],
    "the test changes every [health] key",
  );
  const changes = diffConfig(a, b, DAEMON_RELOADABLE_SECTIONS);
  assert.deepEqual(changes, [
    { key: "health.interval_ms", reloadable: false },
    { key: "health.nvidia_smi_timeout_ms", reloadable: false },
    { key: "health.gpu_temp_degraded_c", reloadable: true },
    { key: "health.gpu_temp_critical_c", reloadable: true },
    { key: "health.gpu_memory_degraded_pct", reloadable: true },
    { key: "health.disk_free_degraded_mib", reloadable: true },
    { key: "health.disk_free_critical_mib", reloadable: true },
    { key: "health.memory_available_critical_mib", reloadable: true },
    { key: "health.cpu_fallback", reloadable: false },
  ]);
  assert.ok(diffConfig(a, b).every((c) => !c.reloadable), "without health in the list, nothing of it reloads");

  const merged = applyReloadable(a, b, DAEMON_RELOADABLE_SECTIONS);
  for (const k of RESTART_ONLY) assert.equal(merged.health[k], a.health[k], `${k} keeps its running value`);
  assert.equal(merged.health.gpuTempCriticalC, 35);
  assert.equal(merged.health.memoryAvailableCriticalBytes, 128 * 1024 * 1024);
  // The next reload of the same file names the restart-only keys again (they still differ from what runs).
  assert.deepEqual(
    diffConfig(merged, b, DAEMON_RELOADABLE_SECTIONS).map((c) => c.key),
    ["health.interval_ms", "health.nvidia_smi_timeout_ms", "health.cpu_fallback"],
  );
});
