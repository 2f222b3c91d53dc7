// A Logger whose level can change while the daemon runs (SIGHUP applies
// log.level). It wraps a Logger made with minLevel "debug" and filters each
// call against the current level; child loggers follow the same level.

import type { Logger, LogLevel } from "../log.js";

const RANK: Record<LogLevel, number> = { debug: 7, info: 6, notice: 5, warn: 4, error: 3 };
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "notice", "warn", "error"];

/** The level to start with: SEALBOX_LOG_LEVEL (when it names a level) overrides the configured one. */
export function initialLogLevel(configured: LogLevel, env: NodeJS.ProcessEnv = process.env): LogLevel {
  const fromEnv = env.SEALBOX_LOG_LEVEL as LogLevel | undefined;
  return fromEnv !== undefined && LOG_LEVELS.includes(fromEnv) ? fromEnv : configured;
}

/** base must pass every level (create it with minLevel "debug"). */
export function withLevel(base: Logger, level: () => LogLevel): Logger {
  const on = (l: LogLevel): boolean => RANK[l] <= RANK[level()];
  return {
    debug: (m, f) => void (on("debug") && base.debug(m, f)),
    info: (m, f) => void (on("info") && base.info(m, f)),
    notice: (m, f) => void (on("notice") && base.notice(m, f)),
    warn: (m, f) => void (on("warn") && base.warn(m, f)),
    error: (m, f) => void (on("error") && base.error(m, f)),
    child: (name) => withLevel(base.child(name), level),
  };
}
