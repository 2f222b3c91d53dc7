// A worker thread that owns the receiver's UDP socket and only drains it:
// datagrams are gathered and handed to the receiver's main thread in batches
// (one transferred buffer per batch). The main thread stalls for tens of
// milliseconds at a time (a block decoded, 4,000 leaves hashed, a flush); a
// socket read on that thread then waited, the kernel's buffer (4 MiB at most
// under the default net.core.rmem_max) filled, and datagrams were dropped —
// measured as most of the receiver's losses above ~10 MB/s on two cores. Here
// the socket is read whatever the main thread is doing. It never sends a byte.
//
// In (workerData): WorkerConfig. Out: { type: "bound", port } once, then
// { type: "batch", data, lengths, dropped } messages, or { type: "error", message }.
// In (messages): { type: "ack", bytes } as the main thread consumes batches;
// { type: "close" }. Datagrams beyond maxQueuedBytes not yet acknowledged are
// dropped and counted (memory stays bounded; FEC and the carousel recover).

import { createSocket } from "node:dgram";
import { parentPort, workerData } from "node:worker_threads";

export interface WorkerConfig {
  host: string;
  port: number;
  udp6: boolean;
  recvBufferBytes: number;
  maxFrameBytes: number;
  maxQueuedBytes: number;
}

export type WorkerOut =
  | { type: "bound"; port: number }
  | { type: "batch"; data: Uint8Array; lengths: Uint32Array; dropped: number }
  | { type: "error"; message: string; fatal: boolean };

export type WorkerIn = { type: "ack"; bytes: number } | { type: "close" };

/** How long datagrams gather before a batch goes (the main thread's per-message cost is then paid per batch). */
const BATCH_MS = 2;
const MAX_BATCH_BYTES = 1024 * 1024;

if (parentPort) {
  const port = parentPort;
  const c = workerData as WorkerConfig;
  const s = createSocket({ type: c.udp6 ? "udp6" : "udp4", recvBufferSize: c.recvBufferBytes });
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let unacked = 0;
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  const send = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (batch.length === 0) return;
    const data = new Uint8Array(batchBytes);
    const lengths = new Uint32Array(batch.length);
    let off = 0;
    batch.forEach((b, i) => {
      data.set(b, off);
      off += b.length;
      lengths[i] = b.length;
    });
    unacked += batchBytes;
    batch = [];
    batchBytes = 0;
    const msg: WorkerOut = { type: "batch", data, lengths, dropped };
    dropped = 0;
    port.postMessage(msg, [data.buffer, lengths.buffer]);
  };
  s.on("message", (m) => {
    if (m.length > c.maxFrameBytes) return;
    if (unacked + batchBytes + m.length > c.maxQueuedBytes) {
      dropped++;
      return;
    }
    batch.push(m);
    batchBytes += m.length;
    if (batchBytes >= MAX_BATCH_BYTES) send();
    else timer ??= setTimeout(send, BATCH_MS);
  });
  let bound = false;
  // Before the bind completes an error is fatal (the port is taken); after it, counted and logged.
  s.on("error", (e) => port.postMessage({ type: "error", message: e.message, fatal: !bound } satisfies WorkerOut));
  port.on("message", (m: WorkerIn) => {
    if (m.type === "ack") unacked = Math.max(0, unacked - m.bytes);
    else if (m.type === "close") {
      if (timer) clearTimeout(timer);
      s.close(() => port.close());
    }
  });
  s.bind(c.port, c.host, () => {
    bound = true;
    port.postMessage({ type: "bound", port: s.address().port } satisfies WorkerOut);
  });
}
