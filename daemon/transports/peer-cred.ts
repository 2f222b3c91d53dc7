// Who is on the other end of a unix socket: SO_PEERCRED (socket(7)) gives the
// peer process's pid, uid and gid as the kernel saw them at connect(). Node
// does not expose it, so it is read with getsockopt(2) from libc through koffi
// (prebuilt FFI, no compiler). When that is not possible the peer is "-",
// said once in the log.

import { createRequire } from "node:module";
import type { Socket } from "node:net";

// <sys/socket.h> on Linux: SOL_SOCKET = 1, SO_PEERCRED = 17; struct ucred {pid_t pid; uid_t uid; gid_t gid}.
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const UCRED_BYTES = 12;

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, length: number[]) => number;

let getsockopt: GetSockOpt | null | undefined;
let loadError: string | undefined;

function load(): GetSockOpt | null {
  if (getsockopt !== undefined) return getsockopt;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require("koffi") as { load(name: string): { func(sig: string): GetSockOpt } };
    getsockopt = koffi.load("libc.so.6").func("int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)");
  } catch (e) {
    loadError = e instanceof Error ? e.message : String(e);
    getsockopt = null;
  }
  return getsockopt;
}

/** Why peer credentials are unavailable, if they are. */
export function peerCredUnavailable(): string | undefined {
  load();
  return loadError;
}

export function peerCred(socket: Socket): PeerCred | undefined {
  const fn = load();
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (!fn || typeof fd !== "number" || fd < 0) return undefined;
  const buf = Buffer.alloc(UCRED_BYTES);
  const len = [UCRED_BYTES];
  if (fn(fd, SOL_SOCKET, SO_PEERCRED, buf, len) !== 0 || len[0] !== UCRED_BYTES) return undefined;
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}

/** The audit record's peer field: "uid=1000,pid=4242", or "-". */
export function peerLabel(cred: PeerCred | undefined): string {
  return cred ? `uid=${cred.uid},pid=${cred.pid}` : "-";
}
