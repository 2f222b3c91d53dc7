// The unix socket files: one per role. A socket is created under a temporary
// name, given its mode and group, and only then renamed into place, so there
// is no moment when the final path is connectable with the wrong permissions.
// A path already in use by a live server is refused (SOCKET_IN_USE); a stale
// socket file left by a crash is replaced; anything that is not a socket is
// never deleted.

import { chmod, chown, lstat, mkdir, readFile, rename, unlink } from "node:fs/promises";
import net from "node:net";
import { dirname } from "node:path";
import { SealboxError } from "../errors.js";
import type { Role } from "../rpc/types.js";

export interface SocketSpec {
  role: Role;
  path: string;
  /** File mode. Defaults to 0o660 (owner and group may connect). */
  mode?: number;
  /** Group owning the socket (name or numeric gid); members may connect. Defaults to the daemon's group. */
  group?: string;
}

/** gid of a group name, from /etc/group (group(5)); a number is taken as is. */
export async function resolveGroup(group: string, groupFile = "/etc/group"): Promise<number> {
  if (/^[0-9]+$/.test(group)) return Number(group);
  const text = await readFile(groupFile, "utf8").catch((e: unknown) => {
    throw new SealboxError("BAD_CONFIG", `cannot read ${groupFile} to find group '${group}'`, { cause: e });
  });
  for (const line of text.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid);
  }
  throw new SealboxError("BAD_CONFIG", `socket group '${group}' does not exist (create it, e.g. with systemd-sysusers)`, { details: { group } });
}

/** Resolves when something answers on path, false when nothing does. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const done = (v: boolean): void => {
      c.destroy();
      resolve(v);
    };
    c.once("connect", () => done(true));
    c.once("error", () => done(false));
    c.setTimeout(1000, () => done(false));
  });
}

async function clearStale(path: string): Promise<void> {
  const st = await lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  if (!st) return;
  if (!st.isSocket()) {
    throw new SealboxError("SOCKET_IN_USE", `${path} exists and is not a socket; not removing it`, { details: { path } });
  }
  if (await answers(path)) {
    throw new SealboxError("SOCKET_IN_USE", `another process already serves ${path} (is sealboxd already running?)`, { details: { path } });
  }
  await unlink(path);
}

export interface Listener {
  spec: SocketSpec;
  server: net.Server;
  /** inode of the socket file we created, so close() removes only our own file. */
  ino: number;
}

export async function listenUnix(spec: SocketSpec, onConnection: (socket: net.Socket) => void): Promise<Listener> {
  const mode = spec.mode ?? 0o660;
  const gid = spec.group !== undefined ? await resolveGroup(spec.group) : undefined;
  await mkdir(dirname(spec.path), { recursive: true, mode: 0o755 });
  await clearStale(spec.path);
  const temp = `${spec.path}.${process.pid}.tmp`;
  await unlink(temp).catch(() => undefined);
  const server = net.createServer({ allowHalfOpen: false }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(temp, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((e: unknown) => {
    throw new SealboxError("SOCKET_IN_USE", `cannot listen on ${spec.path}: ${(e as Error).message}`, { cause: e });
  });
  try {
    await chmod(temp, mode);
    if (gid !== undefined) await chown(temp, -1, gid);
    await rename(temp, spec.path);
  } catch (e) {
    server.close();
    await unlink(temp).catch(() => undefined);
    throw new SealboxError("BAD_CONFIG", `cannot set up ${spec.path} (mode ${mode.toString(8)}, group ${spec.group ?? "-"}): ${(e as Error).message}`, { cause: e });
  }
  const ino = (await lstat(spec.path)).ino;
  return { spec, server, ino };
}

/** Stops accepting and removes the socket file if it is still ours. */
export async function closeListener(l: Listener): Promise<void> {
  await new Promise<void>((resolve) => l.server.close(() => resolve()));
  const st = await lstat(l.spec.path).catch(() => undefined);
  if (st && st.isSocket() && st.ino === l.ino) await unlink(l.spec.path).catch(() => undefined);
}
