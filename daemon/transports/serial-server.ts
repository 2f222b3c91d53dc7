// The serial transport for integrators: owns one port, keeps it open
// (re-opening with backoff when the device or the far end goes away), and
// runs a SerialConnection on each opening. Counters survive re-opens and are
// what /metrics shows. The constructor touches nothing; start() opens.

import { SealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AuditLog } from "../ledger/types.js";
import type { Dispatch, Role } from "../rpc/types.js";
import type { ByteLink } from "../../hal/index.js";
import { AuthGate, MAX_PSK_BYTES, MIN_PSK_BYTES } from "./serial-auth.js";
import { DEFAULT_SERIAL_LIMITS, SerialConnection, type SerialLimits } from "./serial-connection.js";
import { MAX_PAYLOAD_BYTES, MIN_PAYLOAD_BYTES } from "./serial-frames.js";
import { copyCounters, DropLog, newCounters, type SerialCounters } from "./serial-metrics.js";

export interface SerialServerOptions {
  /** The port's name in logs, metrics and audit records (its device path). */
  port: string;
  /** Opens the port; called again after the link goes away. */
  openLink: () => Promise<ByteLink>;
  /** The role of a caller authenticated on this port. Defaults to "integrator". */
  role?: Role;
  /** This port's pre-shared key (16–64 bytes). */
  psk: Uint8Array;
  dispatch: Dispatch;
  auditLog: AuditLog;
  logger: Logger;
  limits?: Partial<SerialLimits>;
  /** First delay before re-opening a lost port; doubles per failed try. Defaults to 100 ms. */
  reopenInitialDelayMs?: number;
  /** Ceiling of the re-open delay. Defaults to 5000 ms. */
  reopenMaxDelayMs?: number;
  /** Backoff after the first failed handshake; doubles per consecutive failure. Defaults to 1000 ms. */
  authInitialBackoffMs?: number;
  /** Ceiling of the handshake backoff. Defaults to 60,000 ms. */
  authMaxBackoffMs?: number;
  /** Clock for the handshake backoff; tests pass a controllable one. Defaults to Date.now. */
  now?: () => number;
  /** Nonce source; tests pass a deterministic one. Defaults to node:crypto randomBytes. */
  randomBytes?: (n: number) => Uint8Array;
}

function checkLimits(l: SerialLimits): void {
  const bad = (m: string): never => {
    throw new SealboxError("BAD_CONFIG", `serial limits: ${m}`);
  };
  if (!Number.isInteger(l.maxPayloadBytes) || l.maxPayloadBytes < MIN_PAYLOAD_BYTES || l.maxPayloadBytes > MAX_PAYLOAD_BYTES) bad(`maxPayloadBytes must be ${MIN_PAYLOAD_BYTES}–${MAX_PAYLOAD_BYTES}`);
  if (!Number.isInteger(l.maxMessageBytes) || l.maxMessageBytes < l.maxPayloadBytes) bad("maxMessageBytes must be at least maxPayloadBytes");
  if (!Number.isInteger(l.maxInFlight) || l.maxInFlight < 1 || l.maxInFlight > 1024) bad("maxInFlight must be 1–1024");
  for (const k of ["idleTimeoutMs", "handshakeTimeoutMs", "maxQueuedBytes"] as const) if (!(l[k] > 0)) bad(`${k} must be positive`);
  if (!(l.coalesceMs >= 0)) bad("coalesceMs must be 0 or more");
}

export class SerialServer {
  private readonly counters: SerialCounters = newCounters();
  private readonly limits: SerialLimits;
  private readonly gate: AuthGate;
  private readonly dropLog: DropLog;
  private link: ByteLink | undefined;
  private connection: SerialConnection | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopenAttempt = 0;
  private openWaiters: (() => void)[] = [];
  private started = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: SerialServerOptions) {
    if (options.psk.length < MIN_PSK_BYTES || options.psk.length > MAX_PSK_BYTES) {
      throw new SealboxError("BAD_CONFIG", `serial port ${options.port}: the PSK must be ${MIN_PSK_BYTES}–${MAX_PSK_BYTES} bytes`);
    }
    this.limits = { ...DEFAULT_SERIAL_LIMITS, ...options.limits };
    checkLimits(this.limits);
    this.gate = new AuthGate({
      auditLog: options.auditLog,
      peer: options.port,
      role: options.role ?? "integrator",
      logger: options.logger,
      initialBackoffMs: options.authInitialBackoffMs,
      maxBackoffMs: options.authMaxBackoffMs,
      ...(options.now ? { now: options.now } : {}),
    });
    this.dropLog = new DropLog(this.counters, options.logger, options.port);
  }

  get port(): string {
    return this.options.port;
  }

  get isOpen(): boolean {
    return this.link !== undefined;
  }

  /** The session state of the open line ("idle", "challenged", "authenticating", "ready"), or "closed". */
  get sessionState(): string {
    return this.connection?.sessionState ?? "closed";
  }

  /** Opens the port. When that fails it logs, keeps retrying with backoff, and resolves anyway: a port that appears later is served. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.tryOpen();
  }

  /** Resolves when the port is open (now, if it is). */
  whenOpen(): Promise<void> {
    if (this.link) return Promise.resolve();
    return new Promise((resolve) => this.openWaiters.push(resolve));
  }

  /** A snapshot of this port's counters. */
  metrics(): SerialCounters {
    return copyCounters(this.counters);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.reopenTimer) clearTimeout(this.reopenTimer);
      this.reopenTimer = undefined;
      this.connection?.close("server closing");
      this.connection = undefined;
      const link = this.link;
      this.link = undefined;
      this.dropLog.flush();
      if (link) await link.close();
    })();
    return this.closing;
  }

  private async tryOpen(): Promise<void> {
    if (this.closing) return;
    let link: ByteLink;
    try {
      link = await this.options.openLink();
    } catch (e) {
      this.counters.linkOpenFailures++;
      this.options.logger.warn("cannot open serial port; will retry", { port: this.options.port, attempt: this.reopenAttempt + 1, error: e });
      this.scheduleReopen();
      return;
    }
    if (this.closing) {
      await link.close();
      return;
    }
    this.reopenAttempt = 0;
    this.counters.linkOpens++;
    this.link = link;
    const connection = new SerialConnection({
      port: this.options.port,
      role: this.options.role ?? "integrator",
      psk: this.options.psk,
      dispatch: this.options.dispatch,
      gate: this.gate,
      auditLog: this.options.auditLog,
      limits: this.limits,
      counters: this.counters,
      dropLog: this.dropLog,
      logger: this.options.logger,
      write: (bytes) => link.write(bytes),
      onWriteFailure: () => void this.lose(link, "write failed"),
      ...(this.options.randomBytes ? { randomBytes: this.options.randomBytes } : {}),
    });
    this.connection = connection;
    link.onData((chunk) => {
      if (this.link === link) connection.receive(chunk);
    });
    link.onClose((error) => void this.lose(link, error ? error.message : "closed"));
    this.options.logger.info("serial port open", { port: this.options.port });
    const waiters = this.openWaiters;
    this.openWaiters = [];
    for (const w of waiters) w();
  }

  /** The link went away (far end gone, device unplugged, write failed): drop the session, re-open later. */
  private async lose(link: ByteLink, reason: string): Promise<void> {
    if (this.link !== link || this.closing) return;
    this.link = undefined;
    this.counters.linkLosses++;
    this.options.logger.warn("serial port lost; will re-open", { port: this.options.port, reason });
    this.connection?.close(`link lost: ${reason}`);
    this.connection = undefined;
    try {
      await link.close();
    } catch (e) {
      this.options.logger.debug("closing a lost serial link failed", { port: this.options.port, error: e });
    }
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.closing || this.reopenTimer) return;
    const initial = this.options.reopenInitialDelayMs ?? 100;
    const max = this.options.reopenMaxDelayMs ?? 5000;
    const delayMs = Math.min(max, initial * 2 ** Math.min(20, this.reopenAttempt));
    this.reopenAttempt++;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      void this.tryOpen();
    }, delayMs);
  }
}
