// The main-thread side of udp-rx-worker.ts: starts the worker, waits for its
// bind, and hands each datagram of each batch to onFrame in arrival order.

import { Worker } from "node:worker_threads";
import { SealboxError } from "../errors.js";
/** Milliseconds of datagram handling per event-loop turn before timers and I/O get theirs. */
const TURN_MS = 10;

import type { WorkerConfig, WorkerIn, WorkerOut } from "./udp-rx-worker.js";

export interface UdpReader {
  /** The bound port. */
  readonly port: number;
  /** Stops the worker (its socket closes with it). Idempotent. */
  close(): Promise<void>;
}

export interface UdpReaderOptions {
  config: WorkerConfig;
  onFrame(bytes: Uint8Array): void;
  /** Datagrams the worker dropped because the main thread was that far behind. */
  onDropped(n: number): void;
  onError(message: string): void;
  /** After each batch: a chance for work that would otherwise wait for a timer behind a stream of batches. */
  onBatchEnd?(): void;
}

export async function startUdpReader(o: UdpReaderOptions): Promise<UdpReader> {
  const worker = new Worker(new URL("./udp-rx-worker.js", import.meta.url), { workerData: o.config });
  let closing: Promise<void> | undefined;
  // Batches are queued by the message handler and handled here, a time-boxed share per turn
  // of the event loop: Node delivers a port's backlog of messages in one go, and handling
  // them inline starved the timers (flushes, completion checks) for seconds when busy.
  const queue: { data: Uint8Array; lengths: Uint32Array }[] = [];
  let queueOffset = 0; // datagrams of queue[0] already handled
  const drain = (): void => {
    const until = performance.now() + TURN_MS;
    while (queue.length > 0 && !closing) {
      const b = queue[0]!;
      let off = 0;
      for (let i = 0; i < queueOffset; i++) off += b.lengths[i]!;
      while (queueOffset < b.lengths.length) {
        const len = b.lengths[queueOffset++]!;
        o.onFrame(b.data.subarray(off, off + len));
        off += len;
        if (performance.now() > until && queueOffset < b.lengths.length) break;
      }
      if (queueOffset === b.lengths.length) {
        queue.shift();
        queueOffset = 0;
        worker.postMessage({ type: "ack", bytes: b.data.length } satisfies WorkerIn);
      }
      if (performance.now() > until) break;
    }
    o.onBatchEnd?.();
    if (queue.length > 0 && !closing) setImmediate(drain);
  };
  const close = (): Promise<void> =>
    (closing ??= worker.terminate().then(
      () => undefined,
      () => undefined,
    ));
  const port = await new Promise<number>((resolve, reject) => {
    const fail = (e: Error): void => {
      void close();
      reject(new SealboxError("DIODE_ERROR", `diode receive: udp ${o.config.host}:${o.config.port}: ${e.message}`, { cause: e }));
    };
    worker.once("error", fail);
    worker.once("exit", (code) => fail(new Error(`the udp reader exited ${code} before binding`)));
    worker.on("message", (m: WorkerOut) => {
      if (m.type === "bound") {
        worker.removeAllListeners("exit");
        worker.off("error", fail);
        resolve(m.port);
      } else if (m.type === "error") {
        if (m.fatal) fail(new Error(m.message));
        else o.onError(m.message);
      } else if (m.type === "batch") {
        if (closing) return;
        if (m.dropped > 0) o.onDropped(m.dropped);
        queue.push(m);
        if (queue.length === 1) setImmediate(drain);
      }
    });
  });
  worker.on("error", (e) => o.onError(`udp reader: ${e.message}`));
  return { port, close };
}
