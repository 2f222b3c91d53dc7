// What SIGHUP may change in a running daemon. Only settings nothing holds
// open are reloaded (the log level; [health] too where the daemon can hand new
// thresholds to its monitor); everything else — paths, keys, sockets, serial
// ports, the model, the diode — is named so the operator knows a restart is
// needed. Pure: two Configs in, a list out.

import type { Config } from "./types.js";

/** Sections that can apply at once on reload. */
export type ReloadableSection = "log" | "health";
/** What sealboxd reloads by default. */
export const RELOADABLE_SECTIONS: readonly ReloadableSection[] = ["log"];

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
    .map((key) => ({ key, reloadable: (reloadable as readonly string[]).includes(key.split(".")[0]!) }));
}

/**
 * The configuration to run on after a reload: the new values of reloadable
 * sections, the running values of everything else.
 */
export function applyReloadable(running: Config, next: Config, reloadable: readonly ReloadableSection[] = RELOADABLE_SECTIONS): Config {
  return {
    ...running,
    log: reloadable.includes("log") ? { ...next.log } : running.log,
    health: reloadable.includes("health") ? { ...next.health } : running.health,
  };
}
