// What SIGHUP may change in a running daemon. Only settings nothing holds
// open are reloaded (the log level; [health]'s thresholds where the daemon can
// hand them to its monitor, as sealboxd does); everything else — paths, keys,
// sockets, serial ports, the model, the diode, and the [health] keys that
// shape the monitor and its probes rather than its limits — is named so the
// operator knows a restart is needed. Pure: two Configs in, a list out.

import type { Config } from "./types.js";

/** Sections that can apply at once on reload. */
export type ReloadableSection = "log" | "health";
/**
 * What a ConfigReloader applies when not told otherwise: the log level, which
 * needs nothing but a new value. sealboxd passes DAEMON_RELOADABLE_SECTIONS.
 */
export const RELOADABLE_SECTIONS: readonly ReloadableSection[] = ["log"];
/** What sealboxd reloads: the log level, and the health thresholds (HealthMonitor.setThresholds). */
export const DAEMON_RELOADABLE_SECTIONS: readonly ReloadableSection[] = ["log", "health"];

/**
 * Keys of a reloadable section that still need a restart: the poll interval
 * and the nvidia-smi timeout are fixed in the running monitor and probe, and
 * the CPU fallback decides how inference is set up.
 */
const RESTART_ONLY_KEYS: ReadonlySet<string> = new Set(["health.interval_ms", "health.nvidia_smi_timeout_ms", "health.cpu_fallback"]);

export interface ConfigChange {
  /** The key as the TOML file spells it, e.g. "inference.queue_depth". */
  key: string;
  reloadable: boolean;
}

// Internal names whose TOML spelling carries a different unit or word.
const TOML_NAMES: Record<string, string> = {
  mapSizeBytes: "map_size_mib",
  diskFreeDegradedBytes: "disk_free_degraded_mib",
  diskFreeCriticalBytes: "disk_free_critical_mib",
  memoryAvailableCriticalBytes: "memory_available_critical_mib",
  baudRate: "baud",
};

function tomlName(segment: string): string {
  return TOML_NAMES[segment] ?? segment.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === "" ? tomlName(k) : `${prefix}.${tomlName(k)}`, out);
    return;
  }
  out.set(prefix, JSON.stringify(value ?? null));
}

/** Keys whose value differs between the running and the new configuration, in file order. */
export function diffConfig(running: Config, next: Config, reloadable: readonly ReloadableSection[] = RELOADABLE_SECTIONS): ConfigChange[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  flatten(running, "", a);
  flatten(next, "", b);
  const keys = [...new Set([...a.keys(), ...b.keys()])];
  return keys
    .filter((k) => a.get(k) !== b.get(k))
    .map((key) => ({ key, reloadable: (reloadable as readonly string[]).includes(key.split(".")[0]!) && !RESTART_ONLY_KEYS.has(key) }));
}

/**
 * The configuration to run on after a reload: the new values of reloadable
 * sections (less their restart-only keys), the running values of everything else.
 */
export function applyReloadable(running: Config, next: Config, reloadable: readonly ReloadableSection[] = RELOADABLE_SECTIONS): Config {
  return {
    ...running,
    log: reloadable.includes("log") ? { ...next.log } : running.log,
    health: reloadable.includes("health")
      ? { ...next.health, intervalMs: running.health.intervalMs, nvidiaSmiTimeoutMs: running.health.nvidiaSmiTimeoutMs, cpuFallback: running.health.cpuFallback }
      : running.health,
  };
}
