// The diode sender, part of sealboxd: ships the ledger's entries and signed
// checkpoints one way over UDP and/or a TX-only serial line. Starting,
// stopping and the ranges it may send are audited write-ahead (category
// "diode"): an entry goes out only once a diode record covering it is in the
// ledger. daemon/main.ts calls startDiodeSender() and registers close().

import { join } from "node:path";
import { SealboxError, toSealboxError } from "../errors.js";
import { signNote } from "../ledger/note.js";
import type { Actor, AuditLog, JsonValue } from "../ledger/types.js";
import type { Signer } from "../keys/signer.js";
import { createLogger, type Logger } from "../log.js";
import type { CheckpointSnapshot, DiodeLedgerReader } from "./block-builder.js";
import { Channel, type ChannelStatus } from "./channel.js";
import { maxSourceSymbols, MIN_SYMBOL_BYTES, symbolBytesForMtu } from "./frame.js";
import { inlineEncoder, startEncoderWorker } from "./encoder-pool.js";
import { openSerialLink, openUdpLink, type DiodeLink } from "./links.js";
import { checkpointSizeOf } from "./notes.js";
import { diodeDir, loadSenderState, nextEpoch, saveSenderState, writeJsonAtomic, type SavedChannel, type SenderState } from "./sender-state.js";

export interface DiodeUdpOptions {
  /** The receiver's IP address (a literal: the box resolves no names). */
  host: string;
  port: number;
  /** Largest datagram (UDP payload) to send. Defaults to 1400 (fits a 1500-byte Ethernet MTU with room for tunnels). */
  mtuBytes?: number;
}

export interface DiodeSerialOptions {
  path: string;
  baudRate: number;
  /** Largest frame before COBS stuffing. Defaults to 512. */
  mtuBytes?: number;
}

export interface DiodeSenderOptions {
  reader: DiodeLedgerReader;
  audit: AuditLog;
  /** Signs the heartbeats (the key that signs the checkpoints). */
  signer: Signer;
  stateDir: string;
  udp?: DiodeUdpOptions;
  serial?: DiodeSerialOptions;
  /** Wire rate per channel, bytes per second. The serial channel never exceeds its line rate (baud ÷ 10). */
  rateBytesPerS: number;
  /** Repair symbols per source symbol (0.1 = 10%). */
  repairRatio: number;
  /** The carousel's own cap. Defaults to rateBytesPerS (the carousel fills idle bandwidth). */
  carouselRateBytesPerS?: number;
  /** Blocks interleaved. Defaults to 32 on UDP, 4 on serial. */
  interleaveDepth?: number;
  /** Source symbols per block. Defaults to defaultBlockSymbols(): 1024 on UDP (fewer past 4 MiB a block), 128 on serial. */
  blockSymbols?: number;
  /** The carousel re-sends only the last N entries (default: all of them). */
  carouselWindowEntries?: number;
  /** Defaults to 1000. */
  heartbeatIntervalMs?: number;
  /** Least time between two "diode.send" write-ahead records. Defaults to 1000. */
  auditIntervalMs?: number;
  /** A short carousel pass waits at least this long before the next. Defaults to 1000. */
  carouselMinPassMs?: number;
  log?: Logger;
  /** Encode on a worker thread (default), or on the event loop ("inline"). */
  encoder?: "worker" | "inline";
  /** Opens the links (tests inject pre-opened ones). Defaults to UDP/serial from the options above. */
  openLinks?: () => Promise<DiodeLink[]>;
}

export type DiodeSenderStatus = {
  enabled: true;
  running: boolean;
  epoch: string;
  startedAt: string;
  /** Entries the ledger has proven (latest checkpoint size). */
  head: number;
  /** The oldest entry the carousel re-sends. */
  oldest: number;
  /** Entries [0, authorizedEnd) are covered by a diode audit record and may be sent. */
  authorizedEnd: number;
  lastAuditError: string | null;
  channels: ChannelStatus[];
};

export interface DiodeSender {
  status(): DiodeSenderStatus;
  /** Stops sending, records "diode.stop". Idempotent. */
  close(): Promise<void>;
}

const ACTOR: Actor = { role: "system", transport: "internal", peer: "-" };

function checkpointOf(note: string | undefined): CheckpointSnapshot | undefined {
  if (note === undefined || note === "") return undefined;
  return { note, size: checkpointSizeOf(note) };
}

function validate(o: DiodeSenderOptions): void {
  const bad = (m: string): never => {
    throw new SealboxError("BAD_CONFIG", `diode: ${m}`);
  };
  if (!o.udp && !o.serial && !o.openLinks) bad("neither udp nor serial is configured");
  if (!(o.rateBytesPerS >= 1000)) bad(`rateBytesPerS must be ≥ 1000, got ${o.rateBytesPerS}`);
  if (!(o.repairRatio >= 0 && o.repairRatio <= 4)) bad(`repairRatio must be within [0, 4], got ${o.repairRatio}`);
  if (o.carouselRateBytesPerS !== undefined && !(o.carouselRateBytesPerS >= 1000)) bad("carouselRateBytesPerS must be ≥ 1000");
  for (const [name, mtu, min] of [
    ["udp.mtuBytes", o.udp?.mtuBytes, 576],
    ["serial.mtuBytes", o.serial?.mtuBytes, 128],
  ] as const) {
    if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= min && mtu <= 65507)) bad(`${name} must be an integer within [${min}, 65507], got ${mtu}`);
  }
  if (o.carouselWindowEntries !== undefined && !(Number.isInteger(o.carouselWindowEntries) && o.carouselWindowEntries >= 1)) bad("carouselWindowEntries must be ≥ 1");
}

/**
 * Source symbols per block when not configured: 128 on serial; on UDP 1024, or
 * fewer for symbols so large (jumbo frames) that a block would pass 4 MiB —
 * every open block of the interleaver is held in memory on both sides.
 */
export function defaultBlockSymbols(symbolBytes: number, serial: boolean): number {
  if (serial) return 128;
  return Math.min(1024, Math.max(128, Math.floor((4 * 1024 * 1024) / symbolBytes)));
}

export async function startDiodeSender(options: DiodeSenderOptions): Promise<DiodeSender> {
  validate(options);
  const log = options.log ?? createLogger({ component: "diode" });
  const saved = await loadSenderState(options.stateDir);
  const epoch = nextEpoch(saved?.epoch, Date.now());
  let auditedUpTo = saved?.auditedUpTo ?? 0;
  let checkpoint = checkpointOf(options.reader.latestCheckpoint());
  if (checkpoint && auditedUpTo > checkpoint.size) auditedUpTo = 0; // a different (or rolled back) ledger
  const targets = [options.udp && `udp:${options.udp.host}:${options.udp.port}`, options.serial && `serial:${options.serial.path}`].filter(Boolean).join(",") || "injected";
  const baseDetails: { [k: string]: JsonValue } = { epoch: epoch.toString(), rate_bytes_per_s: options.rateBytesPerS, repair_ratio: options.repairRatio };

  // No audit, no action: the start is on record before any socket opens. It also
  // authorises sending every entry up to and including itself.
  const startReceipt = await options.audit.append({ actor: ACTOR, category: "diode", action: "diode.start", target: targets, outcome: "requested", details: { ...baseDetails, from: auditedUpTo } });
  auditedUpTo = Math.max(auditedUpTo, startReceipt.seq + 1);
  checkpoint = checkpointOf(startReceipt.checkpoint) ?? checkpoint;

  let links: DiodeLink[];
  try {
    links = options.openLinks ? await options.openLinks() : await openLinks(options);
  } catch (e) {
    const err = toSealboxError(e, "DIODE_ERROR");
    await options.audit
      .append({ actor: ACTOR, category: "diode", action: "diode.start", target: targets, outcome: "failure", details: { ...baseDetails, error: err.message } })
      .catch((e2: unknown) => log.error("could not record the failed start", { error: toSealboxError(e2).message }));
    throw err;
  }

  const encoder = options.encoder === "inline" ? inlineEncoder : startEncoderWorker(log);
  const startedAt = new Date().toISOString();
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1000;
  const auditIntervalMs = options.auditIntervalMs ?? 1000;
  let lastAuditError: string | null = null;
  let closed = false;
  let closing: Promise<void> | undefined;

  const oldestOf = (end: number): number => (options.carouselWindowEntries === undefined ? 0 : Math.max(0, end - options.carouselWindowEntries));
  const bounds = (): { oldest: number; authorizedEnd: number } => {
    const end = Math.min(auditedUpTo, checkpoint?.size ?? 0);
    return { oldest: oldestOf(end), authorizedEnd: end };
  };
  const signHeartbeat = (body: string): string => signNote(body, options.signer);

  const channels = links.map((link) => {
    const isSerial = link.kind === "serial";
    const mtu = isSerial ? (options.serial?.mtuBytes ?? 512) : (options.udp?.mtuBytes ?? 1400);
    const symbolBytes = symbolBytesForMtu(mtu);
    if (symbolBytes < MIN_SYMBOL_BYTES) throw new SealboxError("BAD_CONFIG", `diode: mtu ${mtu} leaves no room for a ${MIN_SYMBOL_BYTES}-byte symbol`);
    const lineRate = isSerial && options.serial ? Math.floor(options.serial.baudRate / 10) : Infinity;
    const rate = Math.min(options.rateBytesPerS, lineRate);
    const depth = options.interleaveDepth ?? (isSerial ? 4 : 32);
    const prev: SavedChannel | undefined = saved?.channels[link.kind];
    const position = prev && prev.target === link.target ? { liveNext: prev.liveNext, carouselNext: prev.carouselNext, block: 0 } : { liveNext: 0, carouselNext: 0, block: 0 };
    return new Channel({
      link,
      encoder,
      reader: options.reader,
      epoch,
      symbolBytes,
      repairRatio: options.repairRatio,
      interleaveDepth: depth,
      blockSymbols: Math.min(maxSourceSymbols(symbolBytes), options.blockSymbols ?? defaultBlockSymbols(symbolBytes, isSerial)),
      rateBytesPerS: rate,
      carouselRateBytesPerS: Math.min(rate, options.carouselRateBytesPerS ?? rate),
      carouselReservedSlots: Math.max(1, Math.round(depth * 0.1)),
      carouselMinPassMs: options.carouselMinPassMs ?? 1000,
      heartbeatIntervalMs,
      position,
      checkpoint: () => checkpoint,
      bounds,
      signHeartbeat,
      onError: (e) => log.error("diode channel error", { channel: link.kind, error: toSealboxError(e).message }),
      log: log.child(link.kind),
    });
  });

  // Write-ahead authorisation of new entries, at most one record per auditIntervalMs.
  // A record covers every entry before it and itself, so the diode's own records never
  // need another record to cover them (no feedback loop).
  let auditing = false;
  let lastAuditMs = 0;
  let auditTimer: NodeJS.Timeout | undefined;
  const maybeAudit = (): void => {
    if (auditing || closed || !checkpoint || checkpoint.size <= auditedUpTo) return;
    const waitMs = lastAuditMs + auditIntervalMs - Date.now();
    if (waitMs > 0) {
      auditTimer ??= setTimeout(() => {
        auditTimer = undefined;
        maybeAudit();
      }, waitMs);
      return;
    }
    auditing = true;
    const from = auditedUpTo;
    options.audit
      .append({ actor: ACTOR, category: "diode", action: "diode.send", target: targets, outcome: "requested", details: { epoch: epoch.toString(), from } })
      .then(
        (r) => {
          auditedUpTo = Math.max(auditedUpTo, r.seq + 1);
          checkpoint = checkpointOf(r.checkpoint) ?? checkpoint;
          lastAuditError = null;
          for (const c of channels) c.wake();
        },
        (e: unknown) => {
          // Fail closed: nothing past auditedUpTo goes out until a record is written.
          lastAuditError = toSealboxError(e).message;
          log.error("cannot record the diode send; new entries are held back", { error: lastAuditError });
        },
      )
      .finally(() => {
        auditing = false;
        lastAuditMs = Date.now();
        maybeAudit();
      });
  };

  const unsubscribe = options.reader.onCheckpoint((size, note) => {
    if (checkpoint === undefined || size >= checkpoint.size) checkpoint = { note, size };
    maybeAudit();
    for (const c of channels) c.wake();
  });

  const stateNow = (): SenderState => ({
    version: 1,
    epoch: epoch.toString(),
    auditedUpTo,
    channels: Object.fromEntries(channels.map((c, i) => [links[i]!.kind, { ...c.position(), target: links[i]!.target }])),
    savedAt: new Date().toISOString(),
  });
  const status = (): DiodeSenderStatus => {
    const b = bounds();
    return {
      enabled: true,
      running: !closed,
      epoch: epoch.toString(),
      startedAt,
      head: checkpoint?.size ?? 0,
      oldest: b.oldest,
      authorizedEnd: b.authorizedEnd,
      lastAuditError,
      channels: channels.map((c) => c.status()),
    };
  };
  // The position and a status snapshot (for `sealbox diode status --state DIR`) once a second.
  let saving = false;
  const persist = async (): Promise<void> => {
    if (saving) return;
    saving = true;
    try {
      await saveSenderState(options.stateDir, stateNow());
      await writeJsonAtomic(join(diodeDir(options.stateDir), "status.json"), { ...status(), savedAt: new Date().toISOString() });
    } catch (e) {
      log.warn("cannot save the diode position", { error: toSealboxError(e).message });
    } finally {
      saving = false;
    }
  };
  await saveSenderState(options.stateDir, stateNow());
  const persistTimer = setInterval(() => void persist(), 1000);

  for (const c of channels) c.start();
  maybeAudit();
  log.info("diode sender started", { epoch: epoch.toString(), targets, authorizedEnd: auditedUpTo });
  await options.audit
    .append({ actor: ACTOR, category: "diode", action: "diode.start", target: targets, outcome: "success", details: baseDetails })
    .catch((e: unknown) => log.error("could not record the diode start outcome", { error: toSealboxError(e).message }));

  return {
    status,
    close(): Promise<void> {
      closing ??= (async () => {
        closed = true;
        clearInterval(persistTimer);
        if (auditTimer) clearTimeout(auditTimer);
        unsubscribe();
        for (const c of channels) c.stop();
        await encoder.close();
        const final = status();
        await Promise.all(links.map((l) => l.close().catch((e: unknown) => log.warn("closing a diode link failed", { error: toSealboxError(e).message }))));
        while (saving) await new Promise((r) => setTimeout(r, 5));
        await saveSenderState(options.stateDir, stateNow());
        await writeJsonAtomic(join(diodeDir(options.stateDir), "status.json"), { ...final, running: false, savedAt: new Date().toISOString() });
        await options.audit.append({
          actor: ACTOR,
          category: "diode",
          action: "diode.stop",
          target: targets,
          outcome: "success",
          details: {
            epoch: epoch.toString(),
            channels: final.channels.map((c) => ({
              kind: c.kind,
              live_sent_through: c.liveNext,
              carousel_passes: c.carousel.passes,
              frames_sent: c.framesSent,
              bytes_sent: c.bytesSent,
            })),
          },
        });
        log.info("diode sender stopped", { epoch: epoch.toString() });
      })();
      return closing;
    },
  };
}

async function openLinks(o: DiodeSenderOptions): Promise<DiodeLink[]> {
  const links: DiodeLink[] = [];
  try {
    if (o.udp) links.push(await openUdpLink({ host: o.udp.host, port: o.udp.port }));
    if (o.serial) links.push(await openSerialLink({ path: o.serial.path, baudRate: o.serial.baudRate }));
    return links;
  } catch (e) {
    await Promise.all(links.map((l) => l.close().catch(() => undefined)));
    throw e;
  }
}
