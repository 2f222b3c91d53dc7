// A TpmTransport over a byte stream (a unix or TCP socket, or the socketpair
// to a `swtpm chardev --fd 3` child). One command in flight at a time (the
// others queue); each waits at most timeoutMs. After a timeout or garbage the
// stream is out of step with the TPM, so it is destroyed and every later call
// fails with TPM_UNAVAILABLE instead of reading a stale answer.

import type { Duplex } from "node:stream";
import { SealboxError } from "../../../daemon/errors.js";
import type { TpmTransport } from "../../index.js";
import type { ResponseAssembler } from "./framing.js";

export interface StreamTransportOptions {
  /** Longest wait for one response. Defaults to 30 000 ms (a real TPM's slowest command, key generation, takes seconds). */
  timeoutMs?: number;
  /** What the stream is, for messages ("swtpm at 127.0.0.1:2321"). */
  description: string;
  /** Makes the bytes to write for a command (e.g. mssim framing). Defaults to the command itself. */
  frame?: (command: Uint8Array) => Uint8Array;
  newAssembler: () => ResponseAssembler;
  /** Called once after the stream is destroyed (e.g. to reap a child process). */
  onClose?: () => Promise<void>;
}

export const DEFAULT_TPM_TIMEOUT_MS = 30_000;

export class StreamTransport implements TpmTransport {
  private queue: Promise<unknown> = Promise.resolve();
  private broken: SealboxError | undefined;
  private closing: Promise<void> | undefined;
  private current: { assembler: ResponseAssembler; resolve: (r: Uint8Array) => void; reject: (e: Error) => void } | undefined;
  readonly timeoutMs: number;

  constructor(
    private readonly stream: Duplex,
    private readonly options: StreamTransportOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TPM_TIMEOUT_MS;
    stream.on("data", (chunk: Buffer) => this.onData(new Uint8Array(chunk)));
    stream.on("error", (e: Error) => this.fail(new SealboxError("TPM_UNAVAILABLE", `${options.description}: ${e.message}`, { cause: e })));
    stream.on("close", () => this.fail(new SealboxError("TPM_UNAVAILABLE", `${options.description} closed the connection`)));
  }

  private onData(chunk: Uint8Array): void {
    const cur = this.current;
    if (!cur) {
      this.fail(new SealboxError("TPM_PROTOCOL", `${this.options.description} sent ${chunk.length} bytes nobody asked for`));
      return;
    }
    let done: Uint8Array | undefined;
    try {
      done = cur.assembler.push(chunk);
    } catch (e) {
      this.fail(e as SealboxError);
      return;
    }
    if (done) {
      this.current = undefined;
      cur.resolve(done);
    }
  }

  /** Marks the transport broken, rejects the command in flight and destroys the stream. */
  private fail(error: SealboxError): void {
    this.broken ??= error.code === "TPM_UNAVAILABLE" ? error : new SealboxError("TPM_UNAVAILABLE", `${this.options.description} is out of step after an error: ${error.message}`, { cause: error });
    const cur = this.current;
    this.current = undefined;
    cur?.reject(error);
    if (!this.stream.destroyed) this.stream.destroy();
  }

  transmit(command: Uint8Array): Promise<Uint8Array> {
    const run = this.queue.then(() => this.transmitNow(command));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private transmitNow(command: Uint8Array): Promise<Uint8Array> {
    if (this.closing) return Promise.reject(new SealboxError("TPM_UNAVAILABLE", `${this.options.description}: transport is closed`));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<Uint8Array>((resolve, reject) => {
      const assembler = this.options.newAssembler();
      const timer = setTimeout(() => {
        const got = assembler.pending;
        this.fail(
          new SealboxError("TPM_TIMEOUT", `${this.options.description} did not answer within ${this.timeoutMs} ms${got > 0 ? ` (${got} bytes of an incomplete answer arrived)` : ""}`, {
            details: { timeoutMs: this.timeoutMs, bytesReceived: got },
          }),
        );
      }, this.timeoutMs);
      this.current = {
        assembler,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const bytes = this.options.frame ? this.options.frame(command) : command;
      this.stream.write(bytes);
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue;
      if (!this.stream.destroyed) {
        await new Promise<void>((resolve) => {
          this.stream.once("close", () => resolve());
          this.stream.end();
          // A peer that never closes its side: do not wait forever.
          setTimeout(() => {
            this.stream.destroy();
            resolve();
          }, 1000).unref();
        });
      }
      await this.options.onClose?.();
    })();
    return this.closing;
  }
}
