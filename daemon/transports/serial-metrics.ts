// Counters of one serial port, for /metrics, and the warn-level log of
// dropped frames. Every drop is counted; log lines are rate-limited so a
// babbling line cannot flood the journal, and the lines that were held back
// are reported by count, never lost.

import type { Logger } from "../log.js";
import type { FrameDropReason } from "./serial-frames.js";

/** Frame-layer reasons plus the protocol layer's: wrong version, reserved flag bits, a type the receiver does not take, a sequence gap, a message over the limit, a payload that is not the expected JSON. */
export type DropReason = FrameDropReason | "version" | "flags" | "unexpected-type" | "seq" | "too-large" | "malformed";
export const DROP_REASONS: readonly DropReason[] = ["oversize", "cobs", "short", "length", "crc", "version", "flags", "unexpected-type", "seq", "too-large", "malformed"];

export interface SerialCounters {
  bytesReceived: number;
  bytesSent: number;
  framesReceived: number;
  framesSent: number;
  framesDropped: Record<DropReason, number>;
  /** ERROR frames sent, by code. */
  errorsSent: Record<string, number>;
  authSuccesses: number;
  authFailures: number;
  authRateLimited: number;
  sessionsOpened: number;
  sessionsExpired: number;
  requestsStarted: number;
  requestsCancelled: number;
  linkOpens: number;
  linkLosses: number;
  linkOpenFailures: number;
}

export function newCounters(): SerialCounters {
  return {
    bytesReceived: 0,
    bytesSent: 0,
    framesReceived: 0,
    framesSent: 0,
    framesDropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    errorsSent: {},
    authSuccesses: 0,
    authFailures: 0,
    authRateLimited: 0,
    sessionsOpened: 0,
    sessionsExpired: 0,
    requestsStarted: 0,
    requestsCancelled: 0,
    linkOpens: 0,
    linkLosses: 0,
    linkOpenFailures: 0,
  };
}

export function copyCounters(c: SerialCounters): SerialCounters {
  return { ...c, framesDropped: { ...c.framesDropped }, errorsSent: { ...c.errorsSent } };
}

export function totalDropped(c: SerialCounters): number {
  return DROP_REASONS.reduce((s, r) => s + c.framesDropped[r], 0);
}

/** Prometheus text exposition (format 0.0.4) of several ports' counters. */
export function renderSerialMetrics(ports: readonly { port: string; counters: SerialCounters }[]): string {
  const lines: string[] = [];
  const label = (port: string, extra = ""): string => `{port="${port.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"${extra}}`;
  const simple: [keyof SerialCounters, string, string][] = [
    ["bytesReceived", "sealbox_serial_received_bytes_total", "Bytes read from the serial line."],
    ["bytesSent", "sealbox_serial_sent_bytes_total", "Bytes written to the serial line."],
    ["framesReceived", "sealbox_serial_received_frames_total", "Good frames received."],
    ["framesSent", "sealbox_serial_sent_frames_total", "Frames sent."],
    ["authSuccesses", "sealbox_serial_auth_successes_total", "Successful handshakes."],
    ["authFailures", "sealbox_serial_auth_failures_total", "Failed handshakes (audited)."],
    ["authRateLimited", "sealbox_serial_auth_rate_limited_total", "Handshakes refused during backoff."],
    ["sessionsOpened", "sealbox_serial_sessions_opened_total", "Authenticated sessions opened."],
    ["sessionsExpired", "sealbox_serial_sessions_expired_total", "Sessions dropped for idleness."],
    ["requestsStarted", "sealbox_serial_requests_total", "Requests dispatched."],
    ["requestsCancelled", "sealbox_serial_requests_cancelled_total", "Requests cancelled by the peer or by session end."],
    ["linkOpens", "sealbox_serial_link_opens_total", "Times the port was opened."],
    ["linkLosses", "sealbox_serial_link_losses_total", "Times the port went away."],
    ["linkOpenFailures", "sealbox_serial_link_open_failures_total", "Failed attempts to open the port."],
  ];
  for (const [key, name, help] of simple) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const p of ports) lines.push(`${name}${label(p.port)} ${p.counters[key] as number}`);
  }
  lines.push("# HELP sealbox_serial_dropped_frames_total Frames dropped, by reason.", "# TYPE sealbox_serial_dropped_frames_total counter");
  for (const p of ports) for (const r of DROP_REASONS) lines.push(`sealbox_serial_dropped_frames_total${label(p.port, `,reason="${r}"`)} ${p.counters.framesDropped[r]}`);
  lines.push("# HELP sealbox_serial_error_frames_total ERROR frames sent, by code.", "# TYPE sealbox_serial_error_frames_total counter");
  for (const p of ports) for (const [code, n] of Object.entries(p.counters.errorsSent)) lines.push(`sealbox_serial_error_frames_total${label(p.port, `,code="${code}"`)} ${n}`);
  return lines.join("\n") + "\n";
}

/**
 * Counts a drop and logs it at warn: at most `burst` lines per `intervalMs`;
 * the rest are summed into one "suppressed" line when the interval ends.
 */
export class DropLog {
  private windowStartMs = 0;
  private linesInWindow = 0;
  private suppressed = 0;
  private suppressedByReason: Partial<Record<DropReason, number>> = {};
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly counters: SerialCounters,
    private readonly logger: Logger,
    private readonly port: string,
    private readonly burst = 20,
    private readonly intervalMs = 1000,
  ) {}

  drop(reason: DropReason, lineBytes: number, detail: string, fields: Record<string, unknown> = {}): void {
    this.counters.framesDropped[reason]++;
    const now = Date.now();
    if (now - this.windowStartMs >= this.intervalMs) {
      this.windowStartMs = now;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow < this.burst) {
      this.linesInWindow++;
      this.logger.warn("serial frame dropped", { port: this.port, reason, lineBytes, detail, ...fields });
      return;
    }
    this.suppressed++;
    this.suppressedByReason[reason] = (this.suppressedByReason[reason] ?? 0) + 1;
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs).unref();
  }

  /** Logs the count of held-back lines, if any. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.suppressed === 0) return;
    this.logger.warn("serial frames dropped (log lines suppressed)", { port: this.port, count: this.suppressed, byReason: this.suppressedByReason });
    this.suppressed = 0;
    this.suppressedByReason = {};
  }
}
