// SIGHUP for sealboxd (`systemctl reload sealbox`): re-read and re-validate
// the configuration the daemon started with; apply what can change safely
// (config/reload.ts: the log level, and [health] where the daemon can); name every other
// changed key as needing a restart; refuse an invalid file and keep running.
// Tells systemd RELOADING=1 … READY=1 around it.

import { toSealboxError, type SealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Notifier } from "../notify.js";
import { loadDaemonConfig } from "./daemon-config.js";
import { applyReloadable, diffConfig, RELOADABLE_SECTIONS, type ConfigChange, type ReloadableSection } from "./reload.js";
import { DEFAULT_CONFIG_FILE, type Config } from "./types.js";

export type ReloadResult =
  | { ok: true; applied: string[]; needsRestart: string[]; config: Config }
  | { ok: false; error: SealboxError };

export interface ConfigReloaderOptions {
  /** sealboxd's argv: the same --config/--state are read again. */
  argv: readonly string[];
  /** The configuration the daemon is running on. */
  running: Config;
  log: Logger;
  notifier?: Notifier;
  /** Sections the daemon can apply at once. Defaults to RELOADABLE_SECTIONS (the log level). */
  reloadable?: readonly ReloadableSection[];
  /** Applies the reloadable part (new log level, health thresholds). Errors are logged, not thrown. */
  apply?: (next: Config, changes: ConfigChange[]) => void | Promise<void>;
  /** Defaults to /etc/sealbox/sealbox.toml. */
  defaultFile?: string;
  /** One line for `systemctl status` after a reload. */
  statusLine?: () => string;
}

export class ConfigReloader {
  private current: Config;
  private inFlight: Promise<ReloadResult> | undefined;
  private unlisten: (() => void) | undefined;

  constructor(private readonly options: ConfigReloaderOptions) {
    this.current = options.running;
  }

  /** The configuration in force (reloadable sections updated by each good reload). */
  get config(): Config {
    return this.current;
  }

  /** One reload. Concurrent calls (two quick SIGHUPs) share the one in flight. */
  reload(): Promise<ReloadResult> {
    this.inFlight ??= this.run().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async run(): Promise<ReloadResult> {
    const { log, notifier } = this.options;
    notifier?.reloading("reloading configuration");
    try {
      let next: Config;
      let source: string;
      try {
        ({ config: next, source } = await loadDaemonConfig(this.options.argv, this.options.defaultFile ?? DEFAULT_CONFIG_FILE));
      } catch (e) {
        const error = toSealboxError(e, "BAD_CONFIG");
        log.error("configuration reload refused; running on the previous configuration", { error: error.message, code: error.code });
        return { ok: false, error };
      }
      const sections = this.options.reloadable ?? RELOADABLE_SECTIONS;
      const changes = diffConfig(this.current, next, sections);
      const applied = changes.filter((c) => c.reloadable).map((c) => c.key);
      const needsRestart = changes.filter((c) => !c.reloadable).map((c) => c.key);
      for (const key of needsRestart) log.warn("configuration changed: takes effect at the next restart", { key });
      const merged = applyReloadable(this.current, next, sections);
      if (applied.length > 0) {
        try {
          await this.options.apply?.(merged, changes);
        } catch (e) {
          const error = toSealboxError(e, "BAD_CONFIG");
          log.error("configuration reload could not be applied; running on the previous configuration", { error: error.message });
          return { ok: false, error };
        }
      }
      this.current = merged;
      log.notice("configuration reloaded", { source, applied: applied.join(",") || "-", restart_needed: needsRestart.join(",") || "-" });
      return { ok: true, applied, needsRestart, config: merged };
    } finally {
      notifier?.ready(this.options.statusLine?.() ?? "running (configuration reloaded)");
    }
  }

  /** Reloads on every SIGHUP until close(). */
  listen(): void {
    if (this.unlisten) return;
    const onHup = (): void => void this.reload();
    process.on("SIGHUP", onHup);
    this.unlisten = () => process.off("SIGHUP", onHup);
  }

  /** Stops listening. Idempotent. */
  close(): void {
    this.unlisten?.();
    this.unlisten = undefined;
  }
}
