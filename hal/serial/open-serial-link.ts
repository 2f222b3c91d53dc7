// A serial port (or a pty) as a ByteLink, through serialport@13's stream on
// the Linux binding (wrapped so a hung-up line closes instead of spinning:
// hangup-binding.ts).
// write() resolves once the bytes are handed to the driver and drained
// (tcdrain), so the caller's queue sees the line's real speed. Modem lines
// (DTR/RTS) are left as the OS sets them: ptys refuse those ioctls.

import { SerialPortStream } from "@serialport/stream";
import { SealboxError } from "../../daemon/errors.js";
import type { ByteLink } from "../index.js";
import { HangupAwareLinuxBinding } from "./hangup-binding.js";

export type Parity = "none" | "even" | "odd";

export interface SerialLinkOptions {
  /** Defaults to 115200. Ignored by ptys. */
  baudRate?: number;
  /** Defaults to "none". */
  parity?: Parity;
  /** Defaults to 8. */
  dataBits?: 5 | 6 | 7 | 8;
  /** Defaults to 1. */
  stopBits?: 1 | 1.5 | 2;
  /** Take the port's advisory lock, so a second opener fails. Defaults to true. */
  lock?: boolean;
  /** Bytes kept while no data listener is attached yet; more are discarded and counted. Defaults to 1 MiB. */
  maxEarlyBytes?: number;
}

export const PARITIES: readonly Parity[] = ["none", "even", "odd"];

export interface SerialLink extends ByteLink {
  readonly path: string;
  /** Bytes that arrived before any onData listener and did not fit the early buffer. */
  readonly droppedEarlyBytes: number;
}

export async function openSerialLink(path: string, options: SerialLinkOptions = {}): Promise<SerialLink> {
  const baudRate = options.baudRate ?? 115200;
  if (!Number.isInteger(baudRate) || baudRate <= 0) throw new SealboxError("BAD_CONFIG", `baud rate ${baudRate} is not a positive integer`);
  const parity = options.parity ?? "none";
  if (!PARITIES.includes(parity)) throw new SealboxError("BAD_CONFIG", `parity must be one of ${PARITIES.join(", ")}`);
  const port = new SerialPortStream({
    binding: HangupAwareLinuxBinding,
    path,
    baudRate,
    parity,
    dataBits: options.dataBits ?? 8,
    stopBits: options.stopBits ?? 1,
    lock: options.lock ?? true,
    autoOpen: false,
  });
  await new Promise<void>((resolve, reject) =>
    port.open((e) => (e ? reject(new SealboxError("SERIAL_ERROR", `cannot open ${path}: ${e.message}`, { cause: e })) : resolve())),
  );

  const dataListeners: ((chunk: Uint8Array) => void)[] = [];
  const closeListeners: ((error?: Error) => void)[] = [];
  const early: Uint8Array[] = [];
  const maxEarlyBytes = options.maxEarlyBytes ?? 1 << 20;
  let earlyBytes = 0;
  let droppedEarlyBytes = 0;
  let closed = false;
  let closeError: Error | undefined;
  let closing: Promise<void> | undefined;

  const markClosed = (error?: Error): void => {
    if (closed) return;
    closed = true;
    closeError = error;
    for (const l of closeListeners) l(error);
  };

  // A data listener is always attached: only a port reading data notices the far end going away.
  port.on("data", (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (dataListeners.length === 0) {
      if (earlyBytes + bytes.length > maxEarlyBytes) droppedEarlyBytes += bytes.length;
      else {
        early.push(bytes);
        earlyBytes += bytes.length;
      }
      return;
    }
    for (const l of dataListeners) l(bytes);
  });
  port.on("close", (e: Error | null) => markClosed(closing ? undefined : (e ?? new Error("port closed"))));
  // Errors also surface as write rejections or a close; this keeps them from crashing the process as unhandled.
  port.on("error", (e: Error) => {
    if (!port.isOpen) markClosed(e);
  });

  return {
    path,
    get droppedEarlyBytes() {
      return droppedEarlyBytes;
    },
    write(bytes: Uint8Array): Promise<void> {
      if (closed || closing) return Promise.reject(new SealboxError("SERIAL_ERROR", `${path} is closed`, { cause: closeError }));
      return new Promise((resolve, reject) => {
        const fail = (e: Error): void => reject(new SealboxError("SERIAL_ERROR", `write to ${path} failed: ${e.message}`, { cause: e }));
        port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (e) => {
          if (e) fail(e);
        });
        port.drain((e) => (e ? fail(e) : resolve()));
      });
    },
    onData(listener) {
      dataListeners.push(listener);
      if (dataListeners.length === 1 && early.length > 0) {
        const queued = early.splice(0);
        earlyBytes = 0;
        for (const b of queued) listener(b);
      }
    },
    onClose(listener) {
      if (closed) queueMicrotask(() => listener(closeError));
      else closeListeners.push(listener);
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        if (!port.isOpen) {
          markClosed();
          resolve();
          return;
        }
        port.close(() => {
          markClosed();
          resolve();
        });
      });
      return closing;
    },
  };
}
