// A serialport binding for Linux that notices a hung-up line.
//
// serialport@13's Linux read loop retries forever when read(2) returns 0
// bytes (bindings-cpp unix-read.js: "if (bytesRead === 0) return unixRead(…)").
// A tty returns 0 only at end of file — the line hung up: the pty's master
// closed (the far end of a socat pair died), or the modem dropped carrier —
// so the loop spins a core and the port never reports closing. Measured here:
// kill socat right after opening the other end, and the read loop spins
// indefinitely. This binding delegates everything to the stock Linux binding
// except read, which treats 0 bytes as a disconnect; the stream then closes
// the port and emits "close" with that error.

import { read as fsRead } from "node:fs";
import { promisify } from "node:util";
import { LinuxBinding, type BindingPortInterface, type LinuxBindingInterface, type LinuxOpenOptions, type LinuxPortBinding } from "@serialport/bindings-cpp";

const readAsync = promisify(fsRead);

class HangupError extends Error {
  readonly disconnect = true;
  constructor() {
    super("the line hung up (end of file on the tty)");
  }
}

class CanceledError extends Error {
  readonly canceled = true;
}

function waitReadable(port: LinuxPortBinding): Promise<void> {
  return new Promise((resolve, reject) => port.poller.once("readable", (err) => (err ? reject(err) : resolve())));
}

/** read(2) with the stock binding's EAGAIN handling, and 0 bytes as a hang-up. */
async function readOrHangup(port: LinuxPortBinding, buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
  for (;;) {
    if (port.fd === null) throw new CanceledError("port is not open");
    try {
      const { bytesRead } = await readAsync(port.fd, buffer, offset, length, null);
      if (bytesRead === 0) throw new HangupError();
      return { buffer, bytesRead };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EAGAIN" && code !== "EWOULDBLOCK" && code !== "EINTR") throw e;
      if (port.fd === null) throw new CanceledError("port is not open");
      await waitReadable(port);
    }
  }
}

function wrap(port: LinuxPortBinding): BindingPortInterface {
  return {
    get openOptions() {
      return port.openOptions;
    },
    get isOpen() {
      return port.isOpen;
    },
    close: () => port.close(),
    read: (buffer, offset, length) => readOrHangup(port, buffer, offset, length),
    write: (buffer) => port.write(buffer),
    update: (options) => port.update(options),
    set: (options) => port.set(options),
    get: () => port.get(),
    getBaudRate: () => port.getBaudRate(),
    flush: () => port.flush(),
    drain: () => port.drain(),
  };
}

export const HangupAwareLinuxBinding = {
  list: () => LinuxBinding.list(),
  async open(options: LinuxOpenOptions): Promise<BindingPortInterface> {
    return wrap(await LinuxBinding.open(options));
  },
} satisfies Pick<LinuxBindingInterface, "list"> & { open(o: LinuxOpenOptions): Promise<BindingPortInterface> };
