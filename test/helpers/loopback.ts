// Loopback for the tests that need real sockets on 127.0.0.1 (the diode's
// UDP). The suite runs offline, also under plain `unshare -n`, where the new
// network namespace's loopback starts down: only there is it down, and only
// that namespace sees it come up, so bringing it up touches no real network.

import { spawnSync } from "node:child_process";
import { connect, createServer } from "node:net";

/** Whether a TCP connection to 127.0.0.1 works here (it does not under `unshare -n` with lo down). */
export async function loopbackUsable(): Promise<boolean> {
  const server = createServer((s) => s.end());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    return await new Promise<boolean>((resolve) => {
      const c = connect(port, "127.0.0.1");
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
  } catch {
    return false;
  } finally {
    server.close();
  }
}

/** Makes 127.0.0.1 usable, bringing `lo` up in a fresh network namespace; throws, saying why, when it cannot. */
export async function ensureLoopback(): Promise<void> {
  if (await loopbackUsable()) return;
  const r = spawnSync("ip", ["link", "set", "lo", "up"], { encoding: "utf8" });
  if (r.status === 0 && (await loopbackUsable())) return;
  throw new Error(
    `127.0.0.1 is not usable and \`ip link set lo up\` failed (${(r.stderr || r.error?.message || "").trim()}): these tests need UDP on loopback; ` +
      "run them as root, or in a namespace of your own (`unshare -rn`)",
  );
}
