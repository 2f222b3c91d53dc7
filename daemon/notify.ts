// systemd's service notification protocol (sd_notify(3)) from Node with no
// compiler on the box: koffi calls sd_notify() in libsystemd.so.0 (FACTS:
// 0.4 ms a call, works with NotifyAccess=main; the systemd-notify CLI costs
// ~89 ms and needs NotifyAccess=all). Without NOTIFY_SOCKET every call is a
// no-op, so the daemon runs the same under a terminal, a test or systemd.
//
// The watchdog is pinged from a timer on the event loop: if the loop stalls,
// the pings stop and systemd kills and restarts the service (WatchdogSec=).

import type { Logger } from "./log.js";

/** The seam: hands one notification ("READY=1\nSTATUS=…") to the service manager. Returns sd_notify's result (>0 sent, 0 no socket, <0 −errno). */
export interface NotifyTransport {
  send(state: string): number;
}

/** Loads sd_notify from libsystemd.so.0 through koffi. Throws when the library is missing. */
export async function openSdNotify(): Promise<NotifyTransport> {
  const koffi = (await import("koffi")).default;
  const lib = koffi.load("libsystemd.so.0");
  const sdNotify = lib.func("int sd_notify(int unset_environment, const char *state)") as (unset: number, state: string) => number;
  return { send: (state) => sdNotify(0, state) };
}

/**
 * The watchdog interval systemd asks for, in microseconds (sd_watchdog_enabled(3)):
 * WATCHDOG_USEC, honoured only when WATCHDOG_PID is unset or names this process.
 */
export function watchdogIntervalUs(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || !/^[1-9]\d{0,15}$/.test(usec)) return undefined;
  const forPid = env.WATCHDOG_PID;
  if (forPid !== undefined && forPid !== String(pid)) return undefined;
  return Number(usec);
}

/** One line for `systemctl status`: newlines would start new assignments (READY=1…), so they are flattened. */
export function statusLine(text: string): string {
  return text.replace(/[\r\n\0]+/g, " ").slice(0, 512);
}

export interface NotifierOptions {
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Defaults to process.pid. */
  pid?: number;
  /** Defaults to openSdNotify() when NOTIFY_SOCKET is set. */
  transport?: NotifyTransport;
  log?: Logger;
}

export class Notifier {
  /** Whether a service manager is listening (NOTIFY_SOCKET was set). */
  readonly enabled: boolean;
  /** Watchdog interval in microseconds, when systemd asked for one. */
  readonly watchdogUs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failures = 0;
  /** Notifications handed to the manager, by kind, for /metrics and tests. */
  readonly counts = { sent: 0, failed: 0, watchdog: 0 };

  constructor(
    private readonly transport: NotifyTransport | undefined,
    watchdogUs: number | undefined,
    private readonly log: Logger | undefined,
  ) {
    this.enabled = transport !== undefined;
    this.watchdogUs = transport ? watchdogUs : undefined;
  }

  private send(state: string): void {
    if (!this.transport || this.closed) return;
    let rc: number;
    try {
      rc = this.transport.send(state);
    } catch (e) {
      rc = -1;
      this.log?.warn("sd_notify threw", { error: e as Error });
    }
    if (rc > 0) {
      this.counts.sent++;
      return;
    }
    this.counts.failed++;
    // Warn on the first failures, then every 100th, so a broken socket cannot flood the journal.
    if (++this.failures <= 3 || this.failures % 100 === 0) this.log?.warn("sd_notify failed", { rc, state: state.split("\n")[0], failures: this.failures });
  }

  /** The service is up: systemd moves it from "activating" to "active". */
  ready(status?: string): void {
    this.send(status === undefined ? "READY=1" : `READY=1\nSTATUS=${statusLine(status)}`);
  }

  /** A line a person reads in `systemctl status`. */
  status(text: string): void {
    this.send(`STATUS=${statusLine(text)}`);
  }

  /** A long start step (model load, CUDA JIT): ask for more time than TimeoutStartSec. */
  extendTimeout(ms: number): void {
    this.send(`EXTEND_TIMEOUT_USEC=${Math.max(1, Math.round(ms * 1000))}`);
  }

  /** Reloading configuration (SIGHUP); call ready() when done. */
  reloading(status?: string): void {
    this.send(status === undefined ? "RELOADING=1" : `RELOADING=1\nSTATUS=${statusLine(status)}`);
  }

  /** Shutting down. Stops the watchdog pings too: a hung shutdown is then bounded by TimeoutStopSec. */
  stopping(status?: string): void {
    this.stopWatchdog();
    this.send(status === undefined ? "STOPPING=1" : `STOPPING=1\nSTATUS=${statusLine(status)}`);
  }

  /** One watchdog keep-alive. */
  watchdog(): void {
    this.counts.watchdog++;
    this.send("WATCHDOG=1");
  }

  /**
   * Pings the watchdog from the event loop at half the interval systemd asked for
   * (sd_watchdog_enabled(3) recommends half). The timer is unref'd: it never keeps
   * the process alive on its own. Returns the ping interval in ms, or undefined.
   */
  startWatchdog(): number | undefined {
    if (this.watchdogUs === undefined || this.timer || this.closed) return undefined;
    const everyMs = Math.max(1, Math.floor(this.watchdogUs / 2000));
    this.watchdog();
    this.timer = setInterval(() => this.watchdog(), everyMs);
    this.timer.unref();
    return everyMs;
  }

  stopWatchdog(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops the pings. Idempotent. */
  close(): void {
    this.stopWatchdog();
    this.closed = true;
  }
}

/** A Notifier for this process: real sd_notify under systemd, a no-op otherwise. */
export async function openNotifier(options: NotifierOptions = {}): Promise<Notifier> {
  const env = options.env ?? process.env;
  const wd = watchdogIntervalUs(env, options.pid ?? process.pid);
  if (options.transport) return new Notifier(options.transport, wd, options.log);
  if (!env.NOTIFY_SOCKET) return new Notifier(undefined, undefined, options.log);
  return new Notifier(await openSdNotify(), wd, options.log);
}
