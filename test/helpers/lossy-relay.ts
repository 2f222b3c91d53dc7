// A UDP relay on loopback that the tests control: it forwards datagrams from
// a sender to a target with seeded random loss, bursts of consecutive losses,
// reordering, duplication and corruption — a misbehaving network, made of
// real sockets. It can also capture what passes and inject datagrams of its
// own (a forger on the wire).

import { createSocket, type Socket } from "node:dgram";
import { mulberry32 } from "../../daemon/mulberry32.js";

export interface RelayImpairments {
  /** Independent loss probability per datagram. Default 0. */
  lossRatio: number;
  /** Probability per datagram that a burst starts. Default 0. */
  burstRatio: number;
  /** Datagrams lost in a row once a burst starts (uniform 1…max). Default 0. */
  burstMaxDatagrams: number;
  /** Probability a datagram is held back and released after a few later ones. Default 0. */
  reorderRatio: number;
  /** How many later datagrams may overtake a held one (uniform 1…depth). Default 8. */
  reorderDepth: number;
  /** Probability a datagram is sent twice. Default 0. */
  duplicateRatio: number;
  /** Probability a datagram has 1–4 random bytes overwritten. Default 0. */
  corruptRatio: number;
}

export interface RelayStats {
  received: number;
  forwarded: number;
  lost: number;
  burstLost: number;
  bursts: number;
  reordered: number;
  duplicated: number;
  corrupted: number;
  injected: number;
}

export interface LossyRelay {
  /** Where the sender should send (127.0.0.1). */
  readonly port: number;
  readonly stats: RelayStats;
  /** Changes the impairments from now on. */
  configure(changes: Partial<RelayImpairments>): void;
  /** Drops the next n datagrams (a burst on demand). */
  dropNext(n: number): void;
  /** While true, every datagram is dropped (a cut link). */
  cut: boolean;
  /** Starts keeping copies of forwarded datagrams (up to max). */
  startCapture(max: number): void;
  /** Stops capturing (what was captured stays). */
  stopCapture(): void;
  /** The datagrams captured so far (as received, before corruption). */
  captured(): Uint8Array[];
  /** Sends a datagram of our own to the target. */
  inject(datagram: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed. */
export const seededRandom = mulberry32;

export async function startLossyRelay(options: { targetPort: number; targetHost?: string; seed?: number } & Partial<RelayImpairments>): Promise<LossyRelay> {
  const targetHost = options.targetHost ?? "127.0.0.1";
  const imp: RelayImpairments = {
    lossRatio: 0,
    burstRatio: 0,
    burstMaxDatagrams: 0,
    reorderRatio: 0,
    reorderDepth: 8,
    duplicateRatio: 0,
    corruptRatio: 0,
  };
  const { targetPort: _t, targetHost: _h, seed: _s, ...initial } = options;
  Object.assign(imp, initial);
  const rnd = seededRandom(options.seed ?? 1);
  const stats: RelayStats = { received: 0, forwarded: 0, lost: 0, burstLost: 0, bursts: 0, reordered: 0, duplicated: 0, corrupted: 0, injected: 0 };
  let burstLeft = 0;
  let capture: Uint8Array[] | undefined;
  let captureMax = 0;
  const held: { datagram: Uint8Array; releaseAfter: number; atMs: number }[] = [];

  const inSock: Socket = createSocket("udp4");
  const outSock: Socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    inSock.once("error", reject);
    inSock.bind(0, "127.0.0.1", () => resolve());
  });
  await new Promise<void>((resolve) => outSock.bind(0, "127.0.0.1", () => resolve()));
  try {
    inSock.setRecvBufferSize(4 * 1024 * 1024);
    outSock.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // Buffer sizes are capped by net.core.rmem_max; the defaults still work, only lossier.
  }
  // The target may not be listening (a receiver being restarted): ICMP errors are expected, not failures.
  outSock.on("error", () => undefined);
  inSock.on("error", () => undefined);

  const forward = (d: Uint8Array): void => {
    stats.forwarded++;
    outSock.send(d, options.targetPort, targetHost, () => undefined);
  };

  // A held datagram is released after 50 ms even when no later one comes to overtake it.
  const flushTimer = setInterval(() => {
    const now = Date.now();
    for (let i = held.length - 1; i >= 0; i--) {
      if (now - held[i]!.atMs > 50) {
        forward(held[i]!.datagram);
        held.splice(i, 1);
      }
    }
  }, 25);
  flushTimer.unref();

  const relay: LossyRelay = {
    port: inSock.address().port,
    stats,
    cut: false,
    configure(changes) {
      Object.assign(imp, changes);
    },
    dropNext(n) {
      burstLeft += n;
      stats.bursts++;
    },
    startCapture(max) {
      capture = [];
      captureMax = max;
    },
    stopCapture() {
      captureMax = 0;
    },
    captured: () => capture ?? [],
    inject(datagram) {
      stats.injected++;
      return new Promise((resolve) => outSock.send(datagram, options.targetPort, targetHost, () => resolve()));
    },
    async close() {
      clearInterval(flushTimer);
      await Promise.all([new Promise<void>((r) => inSock.close(() => r())), new Promise<void>((r) => outSock.close(() => r()))]).catch(() => undefined);
    },
  };

  inSock.on("message", (msg: Buffer) => {
    stats.received++;
    // Release held datagrams whose turn has come (reordering).
    for (let i = held.length - 1; i >= 0; i--) {
      if (--held[i]!.releaseAfter <= 0) {
        forward(held[i]!.datagram);
        held.splice(i, 1);
      }
    }
    if (relay.cut) {
      stats.lost++;
      return;
    }
    if (burstLeft === 0 && imp.burstRatio > 0 && rnd() < imp.burstRatio) {
      burstLeft = 1 + Math.floor(rnd() * imp.burstMaxDatagrams);
      stats.bursts++;
    }
    if (burstLeft > 0) {
      burstLeft--;
      stats.burstLost++;
      stats.lost++;
      return;
    }
    if (rnd() < imp.lossRatio) {
      stats.lost++;
      return;
    }
    if (capture && capture.length < captureMax) capture.push(Uint8Array.from(msg));
    let d: Uint8Array = msg;
    if (imp.corruptRatio > 0 && rnd() < imp.corruptRatio) {
      d = Uint8Array.from(msg);
      const n = 1 + Math.floor(rnd() * 4);
      for (let i = 0; i < n; i++) d[Math.floor(rnd() * d.length)] = Math.floor(rnd() * 256);
      stats.corrupted++;
    }
    if (imp.reorderRatio > 0 && rnd() < imp.reorderRatio) {
      held.push({ datagram: d, releaseAfter: 1 + Math.floor(rnd() * imp.reorderDepth), atMs: Date.now() });
      stats.reordered++;
      return;
    }
    forward(d);
    if (imp.duplicateRatio > 0 && rnd() < imp.duplicateRatio) {
      stats.duplicated++;
      forward(d);
    }
  });

  return relay;
}
