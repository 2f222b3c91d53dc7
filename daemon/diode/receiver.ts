// The diode receiver on the high side (`sealbox diode receive`): listens on
// UDP and/or reads a serial line, never sends a byte, and keeps OUT/ — the
// verified entries, syslog lines, checkpoints, events and its own state —
// resuming from that state after a restart. The logic is in receiver-core.ts.

import { createSocket, type Socket } from "node:dgram";
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { SealboxError, toSealboxError, type ErrorCode } from "../errors.js";
import { createLogger, type Logger } from "../log.js";
import { CobsStreamDecoder } from "./cobs.js";
import { MAX_SYMBOL_BYTES, SYMBOL_OVERHEAD_BYTES } from "./frame.js";
import { verifierFromVkey } from "./notes.js";
import { PendingStore } from "./pending-store.js";
import { ReceiverCore } from "./receiver-core.js";
import { ReceiverOutput } from "./receiver-output.js";
import { startUdpReader, type UdpReader } from "./udp-reader.js";
import { freshState, loadReceiverState, STATE_FILE, type ReceiverState } from "./receiver-state.js";
import { mulberry32 } from "../mulberry32.js";

export type ReceiverMode = "follow" | "once" | "until-head";

export interface ReceiverOptions {
  outDir: string;
  /** The box's verifier key (C2SP vkey, from `sealbox keys show`). */
  vkey: string;
  /** UDP address to listen on (an IP literal; port 0 picks one, see Receiver.udpPort). */
  listen?: { host: string; port: number };
  serial?: { path: string; baudRate: number };
  /**
   * "follow" (default) runs until stopped; "once" until the entries reach the
   * head of the first verified heartbeat; "until-head" until they reach the
   * head of the latest one.
   */
  mode?: ReceiverMode;
  /** Give up after this long (exit DIODE_TIMEOUT). Defaults to no limit. */
  timeoutMs?: number;
  maxDecoders?: number;
  maxDecoderBytes?: number;
  /** Disk budget for blocks that arrive ahead of a gap. Defaults to 1 GiB. */
  maxPendingBytes?: number;
  decoderIdleMs?: number;
  heartbeatTimeoutMs?: number;
  /** How often entries are fsynced and state.json written. Defaults to 500 ms. */
  flushIntervalMs?: number;
  /** SO_RCVBUF. Defaults to 8 MiB (capped by net.core.rmem_max). */
  recvBufferBytes?: number;
  /**
   * Read the UDP socket on a worker thread (default true): the socket is drained while
   * the main thread decodes, hashes and writes, instead of overflowing the kernel's buffer.
   */
  udpWorker?: boolean;
  /** Datagrams read by the worker and not yet handled, at most (beyond: dropped, counted). Defaults to 64 MiB. */
  maxQueuedBytes?: number;
  log?: Logger;
  /** Benchmarks only: discard this fraction of received datagrams, seeded (loss without a relay's CPU cost). */
  dropRatio?: number;
  dropSeed?: number;
}

export type ReceiverReason = "complete" | "stopped" | "timeout" | "unrecoverable" | "failed";

export interface ReceiverResult {
  reason: ReceiverReason;
  exitCode: number;
  /** Entries [base, head) are verified and written. */
  head: number;
  senderHead: number | null;
  error?: SealboxError;
}

export interface Receiver {
  /** The bound UDP port (useful with port 0). */
  readonly udpPort: number | undefined;
  /** The state as of now (not yet flushed). */
  status(): ReceiverState;
  /** Cheap progress figures (status() builds the whole state). */
  progress(): { head: number; senderHead: number | null; frames: number };
  /** Resolves when the receiver finishes (complete, timeout, stopped, failed). */
  readonly done: Promise<ReceiverResult>;
  /** Stops, flushes, and resolves like done. Idempotent. */
  stop(): Promise<ReceiverResult>;
}

function exitCodeOf(code: ErrorCode): number {
  return new SealboxError(code, "").spec.exitCode;
}

/** One receiver per output directory: a lock file holding our pid. */
function takeLock(outDir: string): () => void {
  const path = join(outDir, ".lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o640);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(path, "utf8").trim());
      let alive = false;
      try {
        if (Number.isInteger(pid) && pid > 0) {
          process.kill(pid, 0);
          alive = true;
        }
      } catch {
        alive = false;
      }
      if (alive && pid !== process.pid) throw new SealboxError("DIODE_ERROR", `another receiver (pid ${pid}) is writing ${outDir}`);
      rmSync(path, { force: true }); // stale: its process is gone
    }
  }
  throw new SealboxError("DIODE_ERROR", `cannot lock ${outDir}`);
}

function saveState(outDir: string, state: ReceiverState): void {
  const path = join(outDir, STATE_FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 2) + "\n", { mode: 0o640 });
  renameSync(`${path}.tmp`, path);
}

export async function startReceiver(o: ReceiverOptions): Promise<Receiver> {
  if (!o.listen && !o.serial) throw new SealboxError("BAD_ARGUMENT", "diode receive: give --listen ADDR:PORT or --serial PORT");
  if (o.listen && isIP(o.listen.host) === 0) throw new SealboxError("BAD_ARGUMENT", `--listen needs an IP address, got "${o.listen.host}"`);
  const log = o.log ?? createLogger({ component: "diode-receiver" });
  const verifier = verifierFromVkey(o.vkey);
  const mode = o.mode ?? "follow";

  const { mkdirSync } = await import("node:fs");
  mkdirSync(o.outDir, { recursive: true, mode: 0o750 });
  const unlock = takeLock(o.outDir);
  let state: ReceiverState;
  let output: ReceiverOutput;
  let pending: PendingStore;
  try {
    state = loadReceiverState(o.outDir) ?? freshState();
    output = ReceiverOutput.open(o.outDir, state.files);
    pending = PendingStore.open(join(o.outDir, ".diode", "pending"), o.maxPendingBytes ?? 1024 * 1024 * 1024);
  } catch (e) {
    unlock();
    throw e;
  }
  const resumed = state.head > 0 || state.senderEpoch !== null;
  const core = new ReceiverCore({
    verifier,
    output,
    pending,
    state,
    log,
    ...(o.maxDecoders !== undefined && { maxDecoders: o.maxDecoders }),
    ...(o.maxDecoderBytes !== undefined && { maxDecoderBytes: o.maxDecoderBytes }),
    ...(o.decoderIdleMs !== undefined && { decoderIdleMs: o.decoderIdleMs }),
    ...(o.heartbeatTimeoutMs !== undefined && { heartbeatTimeoutMs: o.heartbeatTimeoutMs }),
    onFatal: (e) => {
      log.error("receiver failed", { error: toSealboxError(e).message });
      finish("failed", exitCodeOf("DIODE_ERROR"), toSealboxError(e, "DIODE_ERROR"));
    },
  });
  output.event({ type: "receiver_started", time: new Date().toISOString(), head: state.head, resumed, mode });

  let finished: ReceiverResult | undefined;
  let resolveDone!: (r: ReceiverResult) => void;
  const done = new Promise<ReceiverResult>((r) => (resolveDone = r));
  let socket: Socket | undefined;
  let udpReader: UdpReader | undefined;
  let udpPort: number | undefined;
  let serialPort: { close(cb?: (e: Error | null) => void): void; isOpen: boolean } | undefined;
  const timers: NodeJS.Timeout[] = [];

  const vkey = o.vkey.trim();
  // A flush captures the state as of now, writes and fsyncs the entries queued so far off the
  // event loop, then saves that state with the file sizes it vouches for. One at a time.
  let flushing: Promise<void> | undefined;
  const flush = (): Promise<void> => {
    if (flushing) return flushing;
    const captured = structuredClone(core.snapshot());
    const written = output.flush(core.bundleView(vkey));
    core.dirty = false;
    flushing = written
      .then((sizes) => {
        captured.files = sizes;
        state.files = sizes;
        saveState(o.outDir, captured);
      })
      .finally(() => {
        flushing = undefined;
      });
    return flushing;
  };

  const finish = (reason: ReceiverReason, exitCode: number, error?: SealboxError): void => {
    if (finished) return;
    finished = { reason, exitCode, head: state.head, senderHead: state.senderHead, ...(error && { error }) };
    for (const t of timers) clearInterval(t);
    socket?.close();
    const readerClosed = udpReader?.close();
    if (serialPort?.isOpen) serialPort.close();
    void (async () => {
      try {
        await flushing?.catch(() => undefined);
        core.flushReports();
        output.event({ type: "receiver_stopped", time: new Date().toISOString(), reason, head: state.head, senderHead: state.senderHead });
        await flush();
      } catch (e) {
        finished = { ...finished!, reason: "failed", exitCode: exitCodeOf("DIODE_ERROR"), error: toSealboxError(e, "DIODE_ERROR") };
      }
      core.close();
      await readerClosed;
      await output.close().catch(() => undefined);
      unlock();
      finished = { ...finished!, head: state.head, senderHead: state.senderHead };
      log.info("receiver stopped", { reason: finished.reason, head: state.head, senderHead: state.senderHead });
      resolveDone(finished);
    })();
  };

  const checkDone = (): void => {
    if (finished || mode === "follow") return;
    const target = mode === "once" ? core.firstHeartbeatTarget : (state.senderHead ?? undefined);
    if (target !== undefined && state.head >= target && state.head > 0) finish("complete", 0);
    else if (core.stuck) finish("unrecoverable", exitCodeOf("DIODE_UNRECOVERABLE"));
  };

  const rnd = mulberry32(o.dropSeed ?? 1);
  const onFrame = (bytes: Uint8Array): void => {
    if (finished) return;
    if (o.dropRatio !== undefined && rnd() < o.dropRatio) return;
    try {
      core.onFrame(bytes);
    } catch (e) {
      // A bug or an I/O error writing the output: stop cleanly rather than write past it.
      log.error("receiver failed", { error: toSealboxError(e).message });
      finish("failed", exitCodeOf("DIODE_ERROR"), toSealboxError(e, "DIODE_ERROR"));
    }
  };

  try {
    if (o.listen) {
      const recvBufferBytes = o.recvBufferBytes ?? 8 * 1024 * 1024;
      const udp6 = isIP(o.listen.host) === 6;
      if (o.udpWorker === false) {
        const s = createSocket({ type: udp6 ? "udp6" : "udp4", recvBufferSize: recvBufferBytes });
        socket = s;
        await new Promise<void>((resolve, reject) => {
          s.once("error", reject);
          s.bind(o.listen!.port, o.listen!.host, () => {
            s.off("error", reject);
            resolve();
          });
        });
        s.on("error", (e) => log.warn("udp socket error", { error: e.message }));
        s.on("message", (msg) => {
          if (msg.length <= SYMBOL_OVERHEAD_BYTES + MAX_SYMBOL_BYTES) onFrame(msg);
        });
        udpPort = s.address().port;
      } else {
        const rx = await startUdpReader({
          config: { host: o.listen.host, port: o.listen.port, udp6, recvBufferBytes, maxFrameBytes: SYMBOL_OVERHEAD_BYTES + MAX_SYMBOL_BYTES, maxQueuedBytes: o.maxQueuedBytes ?? 64 * 1024 * 1024 },
          onFrame,
          onDropped: (n) => (core.counters.datagrams_dropped_rx_queue = (core.counters.datagrams_dropped_rx_queue ?? 0) + n),
          onError: (message) => log.warn("udp socket error", { error: message }),
          onBatchEnd: () => {
            if (!finished && !flushing && output.wantsFlush) flush().catch((e: unknown) => finish("failed", exitCodeOf("DIODE_ERROR"), toSealboxError(e, "DIODE_ERROR")));
          },
        });
        udpReader = rx;
        udpPort = rx.port;
      }
    }
    if (o.serial) {
      const { SerialPort } = await import("serialport");
      const framer = new CobsStreamDecoder(onFrame);
      const port = new SerialPort({ path: o.serial.path, baudRate: o.serial.baudRate, autoOpen: false, lock: false });
      await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
      serialPort = port;
      port.on("data", (chunk: Buffer) => framer.push(chunk));
      port.on("error", (e) => log.warn("serial port error", { error: e.message }));
      port.on("close", () => {
        if (!finished) finish("failed", exitCodeOf("DIODE_ERROR"), new SealboxError("DIODE_ERROR", `serial port ${o.serial!.path} closed`));
      });
    }
  } catch (e) {
    const err = e instanceof SealboxError ? e : new SealboxError("DIODE_ERROR", `diode receive: ${(e as Error).message}`, { cause: e });
    finish("failed", exitCodeOf(err.code), err);
    throw err;
  }

  const flushMs = o.flushIntervalMs ?? 500;
  timers.push(
    setInterval(() => {
      if (finished) return;
      try {
        core.tick();
        checkDone();
        if (!finished) flush().catch((e: unknown) => finish("failed", exitCodeOf("DIODE_ERROR"), toSealboxError(e, "DIODE_ERROR")));
      } catch (e) {
        finish("failed", exitCodeOf("DIODE_ERROR"), toSealboxError(e, "DIODE_ERROR"));
      }
    }, flushMs),
  );
  // A large backlog of verified entries is written without waiting for the timer.
  timers.push(
    setInterval(() => {
      if (!finished && !flushing && output.wantsFlush) flush().catch((e: unknown) => finish("failed", exitCodeOf("DIODE_ERROR"), toSealboxError(e, "DIODE_ERROR")));
    }, 20),
  );
  // Completion is checked often (cheaply) so --once returns promptly.
  timers.push(setInterval(checkDone, 50));
  if (o.timeoutMs !== undefined) {
    const t = setTimeout(() => finish("timeout", exitCodeOf("DIODE_TIMEOUT")), o.timeoutMs);
    timers.push(t);
  }
  log.info("receiver started", { out: o.outDir, udp: o.listen ? `${o.listen.host}:${udpPort}` : undefined, serial: o.serial?.path, head: state.head, mode });

  return {
    udpPort,
    status: () => core.snapshot(),
    progress: () => ({ head: state.head, senderHead: state.senderHead, frames: core.counters.frames ?? 0 }),
    done,
    stop() {
      finish("stopped", 0);
      return done;
    },
  };
}
