// A real sd_notify listener for tests: an AF_UNIX datagram socket (what
// systemd binds for NOTIFY_SOCKET), made through koffi because Node has no
// unix datagram sockets. Non-blocking; received datagrams are polled from a
// timer, so the test's event loop never blocks.

import { join } from "node:path";
import koffi from "koffi";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
}

let libc: Libc | undefined;
function loadLibc(): Libc {
  if (libc) return libc;
  const lib = koffi.load("libc.so.6");
  libc = {
    socket: lib.func("int socket(int, int, int)") as Libc["socket"],
    bind: lib.func("int bind(int, const void *, uint32_t)") as Libc["bind"],
    recv: lib.func("intptr_t recv(int, _Out_ void *, size_t, int)") as Libc["recv"],
    close: lib.func("int close(int)") as Libc["close"],
  };
  return libc;
}

export interface NotifyMessage {
  /** Raw datagram text, e.g. "READY=1\nSTATUS=up". */
  text: string;
  /** Parsed assignments; a later assignment of a key wins. */
  fields: Record<string, string>;
  atMs: number;
}

export interface NotifySocket {
  /** The value for NOTIFY_SOCKET. */
  path: string;
  messages: NotifyMessage[];
  /** Resolves with the first message (already received or future) matching; rejects after timeoutMs. */
  waitFor(match: (m: NotifyMessage) => boolean, timeoutMs?: number): Promise<NotifyMessage>;
  close(): void;
}

export function parseNotify(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return fields;
}

/** Binds DIR/notify.sock. Close it (idempotent) in the test's cleanup. */
export function openNotifySocket(dir: string, pollMs = 5): NotifySocket {
  const c = loadLibc();
  const path = join(dir, "notify.sock");
  const sunPath = Buffer.from(path + "\0");
  if (sunPath.length > 108) throw new Error(`socket path too long for sockaddr_un: ${path}`);
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error("socket(AF_UNIX, SOCK_DGRAM) failed");
  // struct sockaddr_un (unix(7)): sa_family_t sun_family (u16, host order), char sun_path[108].
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(AF_UNIX, 0);
  sunPath.copy(addr, 2);
  if (c.bind(fd, addr, 2 + sunPath.length) !== 0) {
    c.close(fd);
    throw new Error(`bind(${path}) failed`);
  }
  const messages: NotifyMessage[] = [];
  const waiters = new Set<{ match: (m: NotifyMessage) => boolean; resolve: (m: NotifyMessage) => void }>();
  const buf = Buffer.alloc(4096);
  let open = true;
  const timer = setInterval(() => {
    for (;;) {
      const n = Number(c.recv(fd, buf, buf.length, 0));
      if (n < 0) return; // EAGAIN: nothing more for now
      const text = buf.subarray(0, n).toString("utf8");
      const m: NotifyMessage = { text, fields: parseNotify(text), atMs: Date.now() };
      messages.push(m);
      for (const w of waiters) if (w.match(m)) {
        waiters.delete(w);
        w.resolve(m);
      }
    }
  }, pollMs);
  return {
    path,
    messages,
    waitFor(match, timeoutMs = 30_000) {
      const found = messages.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = {
          match,
          resolve: (m: NotifyMessage) => {
            clearTimeout(t);
            resolve(m);
          },
        };
        const t = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no matching sd_notify message within ${timeoutMs} ms; got: ${JSON.stringify(messages.map((x) => x.text))}`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    close() {
      if (!open) return;
      open = false;
      clearInterval(timer);
      c.close(fd);
    },
  };
}
