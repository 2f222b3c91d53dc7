// The composition root's one call for health: builds the probes the config
// asks for (nvidia-smi only in "cuda" mode), the monitor over them, and one
// close() that stops the monitor and then kills any probe still running.
//
//   const health = lifecycle.add("health", await openHealth({ config, audit: ledger, logger }));
//   await health.monitor.start();          // the first reading, audited
//   inference calls health.monitor.check() before each request
//   on SIGHUP: await health.applyConfig(next.health)   // new limits, audited, polled at once

import { realpath } from "node:fs/promises";
import type { Config, HealthConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import type { AuditLog } from "../ledger/types.js";
import { NvidiaSmiProbe } from "../../hal/gpu/nvidia-smi.js";
import { SystemInfoProbe } from "../../hal/system/system-probe.js";
import type { GpuProbe } from "../../hal/gpu/types.js";
import type { SystemProbe } from "../../hal/system/types.js";
import { HealthMonitor } from "./monitor.js";
import { thresholdsFromConfig, type HealthThresholds } from "./thresholds.js";

export interface OpenHealthOptions {
  config: Pick<Config, "health" | "inference" | "paths">;
  audit: AuditLog;
  logger?: Logger;
  /** Limits the config file does not set (memory temperature, ECC, …). */
  extraThresholds?: Partial<HealthThresholds>;
  /** Environment for nvidia-smi (tests put the recorded one on PATH). Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface Health {
  monitor: HealthMonitor;
  gpu: GpuProbe | null;
  system: SystemProbe;
  /**
   * Hands a reloaded [health] section's limits to the monitor, mapped as at
   * start (thresholdsFromConfig, with the same extraThresholds), and polls at
   * once when they changed so that they apply now rather than at the next
   * interval. Rejects, keeping the old limits, as HealthMonitor.setThresholds
   * does (BAD_CONFIG, or the ledger's error when the change cannot be audited).
   * The poll interval, nvidia-smi timeout and CPU fallback need a restart.
   */
  applyConfig(health: HealthConfig, context?: { reason?: string }): Promise<HealthThresholds>;
  close(): Promise<void>;
}

export async function openHealth(options: OpenHealthOptions): Promise<Health> {
  const { config } = options;
  const gpuRequired = config.inference.mode === "cuda";
  const gpu = gpuRequired ? new NvidiaSmiProbe({ timeoutMs: config.health.nvidiaSmiTimeoutMs, ...(options.env ? { env: options.env } : {}) }) : null;
  const system = new SystemInfoProbe();
  const logger = options.logger?.child("health");
  const monitor = new HealthMonitor({
    audit: options.audit,
    gpu,
    system,
    gpuRequired,
    thresholds: thresholdsFromConfig(config.health, options.extraThresholds),
    intervalMs: config.health.intervalMs,
    cpuFallback: config.health.cpuFallback,
    // mountOf matches real paths against mount points.
    watchPaths: [await realpath(config.paths.state)],
    ...(logger ? { logger } : {}),
  });
  let closed: Promise<void> | undefined;
  return {
    monitor,
    gpu,
    system,
    async applyConfig(health, context = {}) {
      const before = monitor.currentThresholds;
      const now = await monitor.setThresholds(thresholdsFromConfig(health, options.extraThresholds), context);
      if (now !== before && closed === undefined) {
        monitor.poll().catch((e: unknown) => logger?.error("health poll after new thresholds failed", { error: e instanceof Error ? e : String(e) }));
      }
      return now;
    },
    close() {
      closed ??= (async () => {
        await monitor.close();
        await gpu?.close();
        await system.close();
      })();
      return closed;
    },
  };
}
