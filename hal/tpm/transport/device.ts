// A TpmTransport over a TPM character device: /dev/tpmrm0 (the kernel's
// resource manager) or /dev/tpm0. write() the whole command, read() the
// response (the kernel hands it over in one read; anything else that looks
// like a device, such as a pty in tests, may need several). One command in
// flight. Reads run on libuv's thread pool, so a device that never answers
// cannot be interrupted: after timeoutMs the call fails with TPM_TIMEOUT,
// the descriptor is closed and the transport refuses further commands.

import { close as fsClose, open as fsOpen, read as fsRead, write as fsWrite } from "node:fs";
import { SealboxError } from "../../../daemon/errors.js";
import type { TpmTransport } from "../../index.js";
import { MAX_TPM_MESSAGE_BYTES } from "../constants.js";
import { RawResponseAssembler } from "./framing.js";
import { DEFAULT_TPM_TIMEOUT_MS } from "./stream.js";

function openFd(path: string): Promise<number> {
  return new Promise((resolve, reject) => fsOpen(path, "r+", (e, fd) => (e ? reject(e) : resolve(fd))));
}

function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number): void => {
      fsWrite(fd, bytes, offset, bytes.length - offset, null, (e, n) => {
        if (e) return reject(e);
        if (offset + n < bytes.length) return step(offset + n);
        resolve();
      });
    };
    step(0);
  });
}

function readSome(fd: number, buf: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => fsRead(fd, buf, 0, buf.length, null, (e, n) => (e ? reject(e) : resolve(n))));
}

export interface DeviceTransportOptions {
  /** Longest wait for one response. Defaults to 30 000 ms. */
  timeoutMs?: number;
}

export class DeviceTransport implements TpmTransport {
  private queue: Promise<unknown> = Promise.resolve();
  private broken: SealboxError | undefined;
  private closed = false;
  readonly timeoutMs: number;

  private constructor(
    readonly path: string,
    private fd: number | undefined,
    options: DeviceTransportOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TPM_TIMEOUT_MS;
  }

  /** Opens the device. ENOENT/EACCES/EBUSY become TPM_UNAVAILABLE naming the path and the reason. */
  static async open(path: string, options: DeviceTransportOptions = {}): Promise<DeviceTransport> {
    try {
      return new DeviceTransport(path, await openFd(path), options);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why =
        err.code === "ENOENT"
          ? "no such device (is there a TPM 2.0, and is the tpm_crb/tpm_tis driver loaded?)"
          : err.code === "EACCES"
            ? "permission denied (the service user needs the tss group or DeviceAllow=/dev/tpmrm0 rw)"
            : err.code === "EBUSY"
              ? "busy (another process holds /dev/tpm0; use /dev/tpmrm0)"
              : err.message;
      throw new SealboxError("TPM_UNAVAILABLE", `cannot open TPM device ${path}: ${why}`, { cause: e, details: { path, errno: err.code } });
    }
  }

  transmit(command: Uint8Array): Promise<Uint8Array> {
    const run = this.queue.then(() => this.transmitNow(command));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async transmitNow(command: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new SealboxError("TPM_UNAVAILABLE", `TPM device ${this.path}: transport is closed`);
    if (this.broken) throw this.broken;
    const fd = this.fd!;
    let timer: NodeJS.Timeout | undefined;
    const assembler = new RawResponseAssembler();
    const exchange = (async () => {
      await writeAll(fd, command);
      const buf = new Uint8Array(MAX_TPM_MESSAGE_BYTES);
      for (;;) {
        const n = await readSome(fd, buf);
        if (n === 0) throw new SealboxError("TPM_UNAVAILABLE", `TPM device ${this.path} returned end of file`);
        const done = assembler.push(buf.slice(0, n));
        if (done) return done;
      }
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const got = assembler.pending;
        reject(
          new SealboxError("TPM_TIMEOUT", `TPM device ${this.path} did not answer within ${this.timeoutMs} ms${got > 0 ? ` (${got} bytes of an incomplete answer arrived)` : ""}`, {
            details: { timeoutMs: this.timeoutMs, bytesReceived: got },
          }),
        );
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([exchange, timeout]);
    } catch (e) {
      const err = e instanceof SealboxError ? e : new SealboxError("TPM_UNAVAILABLE", `TPM device ${this.path}: ${(e as Error).message}`, { cause: e });
      this.broken = new SealboxError("TPM_UNAVAILABLE", `TPM device ${this.path} is out of step after an error: ${err.message}`, { cause: err });
      exchange.catch(() => undefined); // it settles when the device finally answers or the descriptor dies
      this.releaseFd();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private releaseFd(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) fsClose(fd, () => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    this.releaseFd();
  }
}
