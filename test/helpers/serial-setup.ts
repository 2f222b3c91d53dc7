// Wires a SerialServer to a link for tests: an in-memory link pair (unit
// level) or a real socat pty pair (integration), with a fake dispatch, an
// in-memory audit log and a memory logger. close() undoes everything.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLogger } from "../../daemon/log.js";
import { SerialServer, type SerialServerOptions } from "../../daemon/transports/serial-server.js";
import { AuthGate } from "../../daemon/transports/serial-auth.js";
import { DEFAULT_SERIAL_LIMITS, SerialConnection, type SerialLimits } from "../../daemon/transports/serial-connection.js";
import { FrameDecoder, type Frame } from "../../daemon/transports/serial-frames.js";
import { DropLog, newCounters, type SerialCounters } from "../../daemon/transports/serial-metrics.js";
import { openSerialLink, type SerialLink } from "../../hal/serial/index.js";
import type { ByteLink } from "../../hal/index.js";
import { countingRandom, createFakeDispatch, createLinkPair, createMemoryAuditLog, TEST_PSK, type FakeDispatch, type MemoryAuditLog, type MemoryLink } from "./serial-fakes.js";
import { startPtyPair, type PtyPair } from "./socat.js";

export interface ServerHarness {
  server: SerialServer;
  dispatch: FakeDispatch;
  audit: MemoryAuditLog;
  logger: ReturnType<typeof createMemoryLogger>;
  /** The peer's end of the line. */
  peer: ByteLink;
  close(): Promise<void>;
}

type Extra = Partial<Omit<SerialServerOptions, "openLink" | "port">>;

function serverOptions(port: string, openLink: () => Promise<ByteLink>, extra: Extra, h: { dispatch: FakeDispatch; audit: MemoryAuditLog; logger: ReturnType<typeof createMemoryLogger> }): SerialServerOptions {
  return {
    port,
    openLink,
    psk: TEST_PSK,
    dispatch: h.dispatch,
    auditLog: h.audit,
    logger: h.logger,
    randomBytes: countingRandom(0x40),
    authInitialBackoffMs: 50,
    authMaxBackoffMs: 200,
    ...extra,
  };
}

export async function memoryServer(extra: Extra = {}): Promise<ServerHarness & { peer: MemoryLink; serverLink: MemoryLink }> {
  const [serverLink, peer] = createLinkPair();
  const dispatch = (extra.dispatch as FakeDispatch | undefined) ?? createFakeDispatch();
  const audit = (extra.auditLog as MemoryAuditLog | undefined) ?? createMemoryAuditLog();
  const logger = createMemoryLogger();
  const server = new SerialServer(serverOptions("mem0", async () => serverLink, extra, { dispatch, audit, logger }));
  await server.start();
  return {
    server,
    dispatch,
    audit,
    logger,
    peer,
    serverLink,
    async close() {
      await server.close();
      await peer.close();
    },
  };
}

export interface PtyHarness extends ServerHarness {
  /** The pty path the server serves, and the peer's. */
  paths: { a: string; b: string };
  peer: SerialLink;
  /** Kills socat: the line vanishes under both ends. */
  cutLine(): Promise<void>;
  /** Starts a new socat on the same paths and re-opens the peer's end. */
  restoreLine(): Promise<void>;
}

export async function ptyServer(extra: Extra = {}): Promise<PtyHarness> {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-serial-"));
  const paths = { a: join(dir, "box"), b: join(dir, "plc") };
  let pty: PtyPair | undefined = await startPtyPair(paths);
  const dispatch = (extra.dispatch as FakeDispatch | undefined) ?? createFakeDispatch();
  const audit = (extra.auditLog as MemoryAuditLog | undefined) ?? createMemoryAuditLog();
  const logger = createMemoryLogger();
  const server = new SerialServer(serverOptions(paths.a, () => openSerialLink(paths.a), { reopenInitialDelayMs: 50, reopenMaxDelayMs: 400, ...extra }, { dispatch, audit, logger }));
  await server.start();
  const h: PtyHarness = {
    server,
    dispatch,
    audit,
    logger,
    paths,
    peer: await openSerialLink(paths.b),
    async cutLine() {
      await pty?.close();
      pty = undefined;
      await h.peer.close();
    },
    async restoreLine() {
      pty = await startPtyPair(paths);
      h.peer = await openSerialLink(paths.b);
    },
    async close() {
      await server.close();
      await h.peer.close();
      await pty?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return h;
}

export interface DirectConnection {
  conn: SerialConnection;
  counters: SerialCounters;
  dispatch: FakeDispatch;
  audit: MemoryAuditLog;
  logger: ReturnType<typeof createMemoryLogger>;
  /** Frames the box wrote (decoded), when collecting. */
  out: Frame[];
  outBytes: number;
  collect: boolean;
}

/** A SerialConnection fed directly (no link, no server): the decoder+session level, for split and fuzz tests. */
export function directConnection(options: { limits?: Partial<SerialLimits>; collect?: boolean; keep?: boolean; seed?: number; onWrite?: (bytes: Uint8Array) => void } = {}): DirectConnection {
  const counters = newCounters();
  const logger = createMemoryLogger();
  const keep = options.keep ?? true;
  const dispatch = createFakeDispatch({ record: keep });
  const audit = createMemoryAuditLog({ keep });
  const decoder = new FrameDecoder(16384);
  const d: DirectConnection = {
    counters,
    dispatch,
    audit,
    logger,
    out: [],
    outBytes: 0,
    collect: options.collect ?? true,
    conn: undefined as unknown as SerialConnection,
  };
  if (!keep) logger.lines.push = () => 0; // keep nothing: the fuzz measures the box's memory, not the log's
  d.conn = new SerialConnection({
    port: "direct",
    role: "integrator",
    psk: TEST_PSK,
    dispatch,
    gate: new AuthGate({ auditLog: audit, peer: "direct", logger, initialBackoffMs: 20, maxBackoffMs: 100 }),
    auditLog: audit,
    limits: { ...DEFAULT_SERIAL_LIMITS, ...options.limits },
    counters,
    dropLog: new DropLog(counters, logger, "direct"),
    logger,
    randomBytes: countingRandom(options.seed ?? 0x40),
    onWriteFailure: () => {},
    write: async (bytes) => {
      d.outBytes += bytes.length;
      options.onWrite?.(bytes.slice());
      if (d.collect) decoder.push(bytes, (e) => e.kind === "frame" && d.out.push(e.frame));
    },
  });
  return d;
}
