// Structured log lines on stderr. Under systemd (JOURNAL_STREAM is set) each
// line starts with a sd-daemon(3) priority prefix ("<3>") so journald stores it
// at the right level; otherwise lines are plain for a person at a terminal.
// Never log secrets, prompt text or key material: pass hashes and sizes.

export type LogLevel = "debug" | "info" | "notice" | "warn" | "error";

const PRIORITY: Record<LogLevel, number> = { debug: 7, info: 6, notice: 5, warn: 4, error: 3 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  notice(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  component?: string;
  minLevel?: LogLevel;
  /** Where lines go. Defaults to process.stderr. */
  write?: (line: string) => void;
  /** Prefix lines with "<N>" for journald. Defaults to whether JOURNAL_STREAM is set. */
  journald?: boolean;
}

function formatValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === "string") return /^[\w./:@+-]*$/.test(v) && v !== "" ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? "undefined";
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const minLevel = options.minLevel ?? ((process.env.SEALBOX_LOG_LEVEL as LogLevel | undefined) ?? "info");
  const write = options.write ?? ((line: string) => void process.stderr.write(line + "\n"));
  const journald = options.journald ?? process.env.JOURNAL_STREAM !== undefined;
  const component = options.component ?? "sealbox";

  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (PRIORITY[level] > PRIORITY[minLevel]) return;
    const parts = [journald ? `<${PRIORITY[level]}>${level}` : `${new Date().toISOString()} ${level}`, `[${component}]`, msg];
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) parts.push(`${k}=${formatValue(v)}`);
    write(parts.join(" "));
  };

  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    notice: (m, f) => emit("notice", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (name) => createLogger({ ...options, minLevel, write, journald, component: `${component}/${name}` }),
  };
}

/** A logger that keeps lines in memory, for tests. */
export function createMemoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ write: (l) => lines.push(l), journald: false, minLevel: "debug" });
  return Object.assign(logger, { lines });
}
