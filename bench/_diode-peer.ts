// Child processes for bench/diode.ts (the leading "_" keeps bench/run.ts from
// running it on its own). Each mode prints one JSON line on stdout.
//
//   udp-sink PORT_FILE SECONDS        counts datagrams for SECONDS after the first one
//   udp-blast PORT BYTES SECONDS      sends datagrams of BYTES to PORT as fast as it can
//   receive OUT VKEY DROP PORT_FILE [PORT]  runs the diode receiver (--until-head) on PORT (default: any), losing DROP of the datagrams

import { createSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startReceiver } from "../daemon/diode/receiver.js";
import { createLogger } from "../daemon/log.js";

const [mode, ...args] = process.argv.slice(2);
/** This process's CPU seconds so far, every thread (the UDP reader and decoders included). */
const cpuS = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function udpSink(portFile: string, seconds: number): Promise<void> {
  const s = createSocket({ type: "udp4", recvBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  let first = 0;
  let last = 0;
  let datagrams = 0;
  let bytes = 0;
  const done = new Promise<void>((resolve, reject) => {
    // A blaster aimed elsewhere must fail the bench, not hang it.
    const nothing = setTimeout(() => reject(new Error("udp-sink: no datagram in 30 s")), 30_000);
    s.on("message", (m) => {
      const now = performance.now();
      if (datagrams === 0) {
        clearTimeout(nothing);
        first = now;
        setTimeout(resolve, seconds * 1000);
      }
      datagrams++;
      bytes += m.length;
      last = now;
    });
  });
  writeFileSync(portFile, String(s.address().port));
  await done;
  s.close();
  const secs = (last - first) / 1000;
  process.stdout.write(JSON.stringify({ datagrams, bytes, seconds: secs, bytesPerS: bytes / secs }) + "\n");
}

async function udpBlast(port: number, size: number, seconds: number): Promise<void> {
  const s = createSocket({ type: "udp4", sendBufferSize: 4 * 1024 * 1024 });
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const buf = Buffer.alloc(size, 0x5a);
  const until = performance.now() + seconds * 1000;
  let sent = 0;
  let inFlight = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      // Keep a bounded number of sends queued: the same backpressure the diode's UDP link uses.
      while (inFlight < 512) {
        if (performance.now() > until) {
          if (inFlight === 0) resolve();
          return;
        }
        inFlight++;
        sent++;
        s.send(buf, port, "127.0.0.1", () => {
          inFlight--;
          if (inFlight === 256) setImmediate(pump);
          if (inFlight === 0 && performance.now() > until) resolve();
        });
      }
    };
    pump();
  });
  s.close();
  process.stdout.write(JSON.stringify({ sent }) + "\n");
}

async function receive(out: string, vkey: string, drop: number, portFile: string, port: number): Promise<void> {
  const log = createLogger({ component: "bench-receiver", minLevel: "warn" });
  const rx = await startReceiver({ outDir: out, vkey, listen: { host: "127.0.0.1", port }, mode: "until-head", timeoutMs: 600_000, dropRatio: drop, dropSeed: 7, log });
  writeFileSync(portFile, String(rx.udpPort));
  let firstFrameMs: number | undefined;
  const watch = setInterval(() => {
    if (firstFrameMs === undefined && rx.progress().frames > 0) firstFrameMs = performance.now();
  }, 5);
  // Time to 90% of the entries, too: the tail waits for the carousel to bring blocks the FEC could not recover.
  let at90Ms: number | undefined;
  const watch90 = setInterval(() => {
    const s = rx.progress();
    if (at90Ms === undefined && s.senderHead !== null && s.head >= 0.9 * s.senderHead) at90Ms = performance.now();
  }, 20);
  const r = await rx.done;
  const endMs = performance.now();
  clearInterval(watch);
  clearInterval(watch90);
  const counters = rx.status().counters;
  const { statSync } = await import("node:fs");
  const recordsBytes = statSync(join(out, "records.jsonl")).size - r.head; // minus one newline per entry
  const start = firstFrameMs ?? endMs;
  process.stdout.write(
    JSON.stringify({ reason: r.reason, head: r.head, recordsBytes, seconds: (endMs - start) / 1000, seconds90: ((at90Ms ?? endMs) - start) / 1000, cpuS: cpuS(), counters }) + "\n",
  );
}

const main = async (): Promise<void> => {
  if (mode === "udp-sink") return udpSink(args[0]!, Number(args[1]));
  if (mode === "udp-blast") return udpBlast(Number(args[0]), Number(args[1]), Number(args[2]));
  if (mode === "receive") return receive(args[0]!, args[1]!, Number(args[2]), args[3]!, Number(args[4] ?? 0));
  throw new Error(`unknown mode ${mode}`);
};
main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
