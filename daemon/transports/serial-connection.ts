// One open serial line, end to end: bytes in → frames → the session state
// machine (docs/serial-protocol.md §8) → dispatch → frames out. A connection
// lives as long as the link is open; sessions (HELLO … AUTH … requests) come
// and go inside it. Nothing here opens a device: bytes arrive by receive()
// and leave by the write function it was given.
//
//   idle ──HELLO──► challenged ──AUTH ok──► ready ──(idle timeout | HELLO | link lost)──► idle
//                        └──AUTH bad / handshake timeout──► idle (backoff)

import { randomBytes as nodeRandomBytes } from "node:crypto";
import { SealboxError, toSealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AuditLog, JsonValue } from "../ledger/types.js";
import type { CallContext, Dispatch, Role } from "../rpc/types.js";
import { clientProof, proofsEqual, serverProof, type AuthGate } from "./serial-auth.js";
import {
  FLAG_MORE,
  FLAGS_RESERVED,
  FrameDecoder,
  FrameType,
  MIN_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
  SUPPORTED_VERSIONS,
  UNSOLICITED_SEQ,
  fragment,
  frameTypeName,
  type DecodeEvent,
  type Frame,
} from "./serial-frames.js";
import { bytesToHex, challengeJson, encodeJson, errorJson, parseHello, parseMac, parseRequest, NONCE_BYTES } from "./serial-messages.js";
import type { DropLog, SerialCounters } from "./serial-metrics.js";
import { AnswerStream, Outbox } from "./serial-outbox.js";

export interface SerialLimits {
  /** Largest frame payload this box accepts; announced in CHALLENGE. Defaults to 1024 bytes. */
  maxPayloadBytes: number;
  /** Largest request after reassembly. Defaults to 65,536 bytes. */
  maxMessageBytes: number;
  /** Requests running at once per session (cancelled ones count until they stop). Defaults to 4. */
  maxInFlight: number;
  /** A session with no good frame from the peer for this long is closed. Defaults to 30,000 ms. */
  idleTimeoutMs: number;
  /** AUTH must follow CHALLENGE within this. Defaults to 10,000 ms. */
  handshakeTimeoutMs: number;
  /** Longest an answer chunk waits to share a frame with the next. Defaults to 10 ms. */
  coalesceMs: number;
  /** Bytes queued for the line beyond which a streaming request is stopped with BUSY. Defaults to 1 MiB. */
  maxQueuedBytes: number;
}

export const DEFAULT_SERIAL_LIMITS: Readonly<SerialLimits> = {
  maxPayloadBytes: 1024,
  maxMessageBytes: 65536,
  maxInFlight: 4,
  idleTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  coalesceMs: 10,
  maxQueuedBytes: 1 << 20,
};

export const MAX_PING_PAYLOAD_BYTES = 64;

/** A session ERROR payload that fits one frame: details go first, then the message is shortened. */
function controlErrorPayload(err: SealboxError, sessionClosed: boolean, maxBytes: number): Uint8Array {
  let payload = encodeJson(errorJson(err, sessionClosed));
  if (payload.length <= maxBytes) return payload;
  payload = encodeJson(errorJson(new SealboxError(err.code, err.message), sessionClosed));
  for (let keep = err.message.length; payload.length > maxBytes && keep > 0; keep = Math.floor(keep / 2)) {
    payload = encodeJson(errorJson(new SealboxError(err.code, err.message.slice(0, keep)), sessionClosed));
  }
  return payload;
}

/** Frame types only the box sends: received, they are dropped without an answer, so a looped-back line cannot start an echo storm. */
const SERVER_TYPES = new Set<number>([FrameType.CHALLENGE, FrameType.WELCOME, FrameType.CHUNK, FrameType.RESULT, FrameType.ERROR, FrameType.PONG]);

export interface SerialConnectionDeps {
  port: string;
  /** The role of a caller authenticated on this port. */
  role: Role;
  psk: Uint8Array;
  dispatch: Dispatch;
  gate: AuthGate;
  auditLog: AuditLog;
  limits: SerialLimits;
  counters: SerialCounters;
  dropLog: DropLog;
  logger: Logger;
  write: (bytes: Uint8Array) => Promise<void>;
  /** Called once when a write fails (the link is going away). */
  onWriteFailure: (error: unknown) => void;
  randomBytes?: (n: number) => Uint8Array;
}

interface Handshake {
  helloPayload: Uint8Array;
  challengePayload: Uint8Array;
  peerMaxPayloadBytes: number;
  version: number;
  client: string | undefined;
}

type State =
  | { name: "idle" }
  | { name: "challenged"; hs: Handshake }
  | { name: "authenticating"; hs: Handshake }
  | { name: "ready"; hs: Handshake; openedAtMs: number };

interface Running {
  id: number;
  abort: AbortController;
  stream: AnswerStream;
  done: boolean;
}

interface Partial {
  nextSeq: number;
  parts: Uint8Array[];
  bytes: number;
  /** Already answered with an ERROR: swallow the rest of its frames. */
  refused: boolean;
}

export class SerialConnection {
  private readonly decoder: FrameDecoder;
  private readonly outbox: Outbox;
  private readonly randomBytes: (n: number) => Uint8Array;
  private state: State = { name: "idle" };
  /** Bumped whenever a session ends, so late async work of an old session does nothing. */
  private generation = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Map<number, Running>();
  /** Every dispatch not yet settled, cancelled ones included: bounds the work a session can start. */
  private readonly running = new Set<Running>();
  private readonly partials = new Map<number, Partial>();
  private closed = false;

  constructor(private readonly deps: SerialConnectionDeps) {
    this.decoder = new FrameDecoder(deps.limits.maxPayloadBytes);
    this.randomBytes = deps.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n)));
    this.outbox = new Outbox(deps.write, deps.counters, (e) => {
      if (this.closed) return;
      deps.logger.error("serial write failed", { port: deps.port, error: e });
      deps.onWriteFailure(e);
    });
  }

  get sessionState(): State["name"] {
    return this.state.name;
  }

  get requestsRunning(): number {
    return this.running.size;
  }

  /** Bytes from the line, in any split. */
  receive(chunk: Uint8Array): void {
    if (this.closed) return;
    this.deps.counters.bytesReceived += chunk.length;
    this.decoder.push(chunk, (e) => this.onDecoded(e));
  }

  /** Ends the session (requests are cancelled) and stops. Idempotent. */
  close(reason = "connection closed"): void {
    if (this.closed) return;
    this.endSession(reason);
    this.closed = true;
    this.outbox.close();
  }

  private onDecoded(e: DecodeEvent): void {
    if (e.kind === "drop") {
      this.deps.dropLog.drop(e.reason, e.lineBytes, e.detail);
      return;
    }
    this.deps.counters.framesReceived++;
    try {
      this.onFrame(e.frame, e.lineBytes);
    } catch (err) {
      // A bug in frame handling must not take the port down: report it and go on.
      this.deps.logger.error("serial frame handling failed", { port: this.deps.port, type: frameTypeName(e.frame.type), error: err });
      this.sendError(e.frame, new SealboxError("INTERNAL", "internal error"));
    }
  }

  private onFrame(f: Frame, lineBytes: number): void {
    const d = this.deps;
    const fields = { type: frameTypeName(f.type), requestId: f.requestId, seq: f.seq };
    if (f.version !== PROTOCOL_VERSION) {
      d.dropLog.drop("version", lineBytes, `frame version ${f.version}`, fields);
      if (!SERVER_TYPES.has(f.type)) this.sendError({ requestId: 0, seq: f.seq }, new SealboxError("UNSUPPORTED", `frame version ${f.version}; this box speaks ${SUPPORTED_VERSIONS.join(", ")}`, { details: { supported: [...SUPPORTED_VERSIONS] } }));
      return;
    }
    if (SERVER_TYPES.has(f.type)) {
      d.dropLog.drop("unexpected-type", lineBytes, `${frameTypeName(f.type)} is sent by the box, not to it`, fields);
      return;
    }
    if ((f.flags & FLAGS_RESERVED) !== 0 || ((f.flags & FLAG_MORE) !== 0 && f.type !== FrameType.REQUEST)) {
      d.dropLog.drop("flags", lineBytes, `flags 0x${f.flags.toString(16)}`, fields);
      this.sendError(f, new SealboxError("PROTOCOL_ERROR", `flags 0x${f.flags.toString(16)} not allowed on ${frameTypeName(f.type)}`));
      return;
    }
    if (this.state.name !== "idle") this.armIdleTimer();
    switch (f.type) {
      case FrameType.PING:
        if (f.payload.length > MAX_PING_PAYLOAD_BYTES) {
          d.dropLog.drop("too-large", lineBytes, `PING payload of ${f.payload.length} bytes`, fields);
          this.sendError(f, new SealboxError("TOO_LARGE", `PING payload over ${MAX_PING_PAYLOAD_BYTES} bytes`));
          return;
        }
        this.outbox.send([{ version: PROTOCOL_VERSION, type: FrameType.PONG, flags: 0, requestId: f.requestId, seq: f.seq, payload: f.payload }]);
        return;
      case FrameType.HELLO:
        this.onHello(f, lineBytes);
        return;
      case FrameType.AUTH:
        this.onAuth(f, lineBytes);
        return;
      case FrameType.REQUEST:
        this.onRequest(f, lineBytes);
        return;
      case FrameType.CANCEL:
        this.onCancel(f);
        return;
      default:
        d.dropLog.drop("unexpected-type", lineBytes, `unknown frame type ${frameTypeName(f.type)}`, fields);
        this.sendError(f, new SealboxError("PROTOCOL_ERROR", `unknown frame type ${frameTypeName(f.type)}`));
    }
  }

  private onHello(f: Frame, lineBytes: number): void {
    const d = this.deps;
    if (this.state.name !== "idle") this.endSession("new HELLO");
    const waitMs = d.gate.retryAfterMs();
    if (waitMs > 0) {
      d.counters.authRateLimited++;
      d.logger.debug("serial HELLO refused during backoff", { port: d.port, retryAfterMs: waitMs });
      this.sendError({ requestId: 0, seq: f.seq }, new SealboxError("RATE_LIMITED", `authentication failed recently; retry in ${waitMs} ms`, { details: { retryAfterMs: waitMs } }), true);
      return;
    }
    let hello;
    try {
      hello = parseHello(f.payload);
    } catch (e) {
      const err = toSealboxError(e, "BAD_REQUEST");
      d.dropLog.drop("malformed", lineBytes, err.message, { type: "HELLO" });
      this.sendError({ requestId: 0, seq: f.seq }, err, true);
      return;
    }
    const common = hello.versions.filter((v) => SUPPORTED_VERSIONS.includes(v));
    if (common.length === 0) {
      this.sendError({ requestId: 0, seq: f.seq }, new SealboxError("UNSUPPORTED", `no common protocol version; this box speaks ${SUPPORTED_VERSIONS.join(", ")}`, { details: { supported: [...SUPPORTED_VERSIONS] } }), true);
      return;
    }
    const version = Math.max(...common);
    const challengePayload = encodeJson(
      challengeJson({
        version,
        nonce: this.randomBytes(NONCE_BYTES),
        maxPayloadBytes: d.limits.maxPayloadBytes,
        maxMessageBytes: d.limits.maxMessageBytes,
        maxInFlight: d.limits.maxInFlight,
        idleTimeoutMs: d.limits.idleTimeoutMs,
        handshakeTimeoutMs: d.limits.handshakeTimeoutMs,
      }),
    );
    const hs: Handshake = { helloPayload: f.payload, challengePayload, peerMaxPayloadBytes: hello.maxPayloadBytes, version, client: hello.client };
    this.state = { name: "challenged", hs };
    this.sendControl(FrameType.CHALLENGE, f.seq, challengePayload);
    this.armIdleTimer();
    const generation = this.generation;
    this.handshakeTimer = setTimeout(() => {
      if (generation !== this.generation || this.state.name !== "challenged") return;
      this.endSession("handshake timeout", new SealboxError("DEADLINE", `no AUTH within ${d.limits.handshakeTimeoutMs} ms of CHALLENGE`));
    }, d.limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  private onAuth(f: Frame, lineBytes: number): void {
    const d = this.deps;
    if (this.state.name !== "challenged") {
      this.sendError({ requestId: 0, seq: f.seq }, new SealboxError("UNAUTHENTICATED", "AUTH without a CHALLENGE: send HELLO first"));
      return;
    }
    const hs = this.state.hs;
    this.clearHandshakeTimer();
    this.state = { name: "authenticating", hs };
    const generation = this.generation;
    let mac: Uint8Array | undefined;
    try {
      mac = parseMac(f.payload, "AUTH");
    } catch (e) {
      d.dropLog.drop("malformed", lineBytes, toSealboxError(e).message, { type: "AUTH" });
    }
    const ok = mac !== undefined && proofsEqual(mac, clientProof(d.psk, hs.helloPayload, hs.challengePayload));
    const details: { [k: string]: JsonValue } = { version: hs.version, client: hs.client ?? null };
    if (!ok) {
      d.counters.authFailures++;
      void d.gate.fail(mac === undefined ? "malformed-auth" : "bad-mac", details).then((backoffMs) => {
        if (generation !== this.generation || this.closed) return;
        this.endSession("authentication failed", new SealboxError("UNAUTHENTICATED", "authentication failed: the MAC does not match this port's key", { details: { retryAfterMs: backoffMs } }), f);
      });
      return;
    }
    d.gate.succeed({ ...details, peerMaxPayloadBytes: hs.peerMaxPayloadBytes }).then(
      () => {
        if (generation !== this.generation || this.closed) return;
        d.counters.authSuccesses++;
        d.counters.sessionsOpened++;
        this.state = { name: "ready", hs, openedAtMs: Date.now() };
        this.sendControl(FrameType.WELCOME, f.seq, encodeJson({ mac: bytesToHex(serverProof(d.psk, hs.helloPayload, hs.challengePayload)) }));
        this.armIdleTimer();
        d.logger.info("serial session opened", { port: d.port, version: hs.version, client: hs.client });
      },
      (e: unknown) => {
        if (generation !== this.generation || this.closed) return;
        // No audit, no action: a session the ledger cannot record does not open.
        const err = toSealboxError(e, "LEDGER_WRITE_FAILED");
        d.logger.error("serial session refused: the ledger could not record it", { port: d.port, error: err });
        this.endSession("ledger refused", err, f);
      },
    );
  }

  private onRequest(f: Frame, lineBytes: number): void {
    const d = this.deps;
    const id = f.requestId;
    const fields = { type: "REQUEST", requestId: id, seq: f.seq };
    if (this.state.name !== "ready") {
      // Answer a request's first frame; its continuation frames are counted and dropped.
      if (f.seq === 0) this.sendError(f, new SealboxError("UNAUTHENTICATED", "authenticate first: HELLO, then AUTH"));
      else d.dropLog.drop("seq", lineBytes, "continuation of a refused request", fields);
      return;
    }
    if (id === 0) {
      this.sendError(f, new SealboxError("PROTOCOL_ERROR", "request id 0 is reserved for the session"));
      return;
    }
    let p = this.partials.get(id);
    if (p === undefined) {
      if (f.seq !== 0) {
        d.dropLog.drop("seq", lineBytes, `a request starts at seq 0, got ${f.seq}`, fields);
        this.sendError(f, new SealboxError("PROTOCOL_ERROR", `lost a frame: request ${id} starts at seq 0, got ${f.seq}`));
        return;
      }
      p = { nextSeq: 0, parts: [], bytes: 0, refused: false };
      if (this.inFlight.has(id)) {
        p.refused = true;
        this.sendError(f, new SealboxError("PROTOCOL_ERROR", `request id ${id} is still in flight`));
      } else if (this.running.size + this.partials.size >= d.limits.maxInFlight) {
        p.refused = true;
        this.sendError(f, new SealboxError("BUSY", `at most ${d.limits.maxInFlight} requests at once on this line`));
      }
      this.partials.set(id, p);
    } else if (f.seq !== p.nextSeq) {
      this.partials.delete(id);
      d.dropLog.drop("seq", lineBytes, `expected seq ${p.nextSeq}, got ${f.seq}`, fields);
      if (!p.refused) this.sendError(f, new SealboxError("PROTOCOL_ERROR", `lost a frame of request ${id}: expected seq ${p.nextSeq}, got ${f.seq}`));
      return;
    }
    p.nextSeq++;
    if (!p.refused) {
      p.bytes += f.payload.length;
      if (p.bytes > d.limits.maxMessageBytes) {
        p.refused = true;
        p.parts = [];
        d.dropLog.drop("too-large", lineBytes, `request over ${d.limits.maxMessageBytes} bytes`, fields);
        this.sendError(f, new SealboxError("TOO_LARGE", `request over ${d.limits.maxMessageBytes} bytes`));
      } else {
        p.parts.push(f.payload);
      }
    }
    if ((f.flags & FLAG_MORE) !== 0) return;
    this.partials.delete(id);
    if (p.refused) return;
    let req;
    try {
      req = parseRequest(p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts));
    } catch (e) {
      const err = toSealboxError(e, "BAD_REQUEST");
      d.dropLog.drop("malformed", lineBytes, err.message, fields);
      this.sendError(f, err);
      return;
    }
    this.start(id, req.method, req.params, this.state.hs.peerMaxPayloadBytes);
  }

  private start(id: number, method: string, params: JsonValue, peerMaxPayloadBytes: number): void {
    const d = this.deps;
    const r: Running = { id, abort: new AbortController(), stream: new AnswerStream(this.outbox, id, peerMaxPayloadBytes, d.limits.coalesceMs), done: false };
    this.inFlight.set(id, r);
    this.running.add(r);
    d.counters.requestsStarted++;
    const ctx: CallContext = {
      role: d.role,
      transport: "serial",
      peer: d.port,
      signal: r.abort.signal,
      onChunk: (chunk) => {
        if (r.done) return;
        if (this.outbox.queuedBytes > d.limits.maxQueuedBytes) {
          this.stop(r, new SealboxError("BUSY", `the serial line cannot keep up: over ${d.limits.maxQueuedBytes} bytes queued`));
          return;
        }
        r.stream.push(chunk);
      },
    };
    let result: Promise<JsonValue>;
    try {
      result = Promise.resolve(d.dispatch(method, params, ctx));
    } catch (e) {
      result = Promise.reject(e);
    }
    result
      .then(
        (value) => {
          if (r.done) return;
          r.done = true;
          this.inFlight.delete(id);
          r.stream.end(FrameType.RESULT, encodeJson(value === undefined ? null : value));
        },
        (e: unknown) => {
          if (r.done) return;
          r.done = true;
          this.inFlight.delete(id);
          const err = this.publicError(e, method);
          this.countError(err.code);
          r.stream.end(FrameType.ERROR, encodeJson(errorJson(err)));
        },
      )
      .finally(() => this.running.delete(r));
  }

  /** Ends a running request now with err (its dispatch is aborted and whatever it returns later is dropped). */
  private stop(r: Running, err: SealboxError): void {
    if (r.done) return;
    r.done = true;
    this.inFlight.delete(r.id);
    this.deps.counters.requestsCancelled++;
    r.abort.abort(err);
    this.countError(err.code);
    r.stream.end(FrameType.ERROR, encodeJson(errorJson(err)));
  }

  private onCancel(f: Frame): void {
    if (this.state.name !== "ready") {
      this.sendError(f, new SealboxError("UNAUTHENTICATED", "authenticate first: HELLO, then AUTH"));
      return;
    }
    const r = this.inFlight.get(f.requestId);
    if (r === undefined) {
      // It finished before the CANCEL arrived: its terminal frame is already on the way.
      this.deps.logger.debug("serial CANCEL for a request not running", { port: this.deps.port, requestId: f.requestId });
      return;
    }
    this.stop(r, new SealboxError("CANCELLED", "cancelled by the peer"));
  }

  private publicError(e: unknown, method: string): SealboxError {
    if (e instanceof SealboxError) return e;
    // Whatever else went wrong stays in the journal; the wire gets the code only.
    this.deps.logger.error("serial request failed", { port: this.deps.port, method, error: e });
    return new SealboxError("INTERNAL", "internal error");
  }

  private countError(code: string): void {
    const c = this.deps.counters.errorsSent;
    c[code] = (c[code] ?? 0) + 1;
  }

  private peerMaxPayloadBytes(): number {
    return this.state.name === "idle" ? MIN_PAYLOAD_BYTES : this.state.hs.peerMaxPayloadBytes;
  }

  /** A frame on request id 0, answering the peer's frame of seq `replyTo` (§5.1). Never fragmented. */
  private sendControl(type: number, replyTo: number, payload: Uint8Array): void {
    this.outbox.send([{ version: PROTOCOL_VERSION, type, flags: 0, requestId: 0, seq: replyTo >>> 0, payload }]);
  }

  /**
   * An ERROR answering frame `to`: for a request (id ≠ 0) that never started it has seq 0; on
   * request id 0 it carries the seq of the frame it answers, or UNSOLICITED_SEQ when it answers none.
   */
  private sendError(to: { requestId: number; seq: number } | undefined, err: SealboxError, sessionClosed = false): void {
    if (this.closed) return;
    this.countError(err.code);
    const requestId = to?.requestId ?? 0;
    if (requestId !== 0) {
      this.outbox.send(fragment(FrameType.ERROR, requestId, 0, encodeJson(errorJson(err, sessionClosed)), this.peerMaxPayloadBytes()));
      return;
    }
    this.sendControl(FrameType.ERROR, to?.seq ?? UNSOLICITED_SEQ, controlErrorPayload(err, sessionClosed, this.peerMaxPayloadBytes()));
  }

  private armIdleTimer(): void {
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      const generation = this.generation;
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (generation !== this.generation) return;
        this.deps.counters.sessionsExpired++;
        this.endSession("idle", new SealboxError("DEADLINE", `no frame for ${this.deps.limits.idleTimeoutMs} ms: session closed`));
      }, this.deps.limits.idleTimeoutMs);
      this.idleTimer.unref();
    }
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  /** Back to idle: running requests are cancelled, partial requests forgotten; `notify` goes out as a session ERROR. */
  private endSession(reason: string, notify?: SealboxError, replyTo?: Frame): void {
    const d = this.deps;
    const was = this.state;
    this.generation++;
    this.clearHandshakeTimer();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const cancelled = this.inFlight.size;
    for (const r of this.inFlight.values()) {
      r.done = true;
      r.stream.dispose();
      r.abort.abort(new SealboxError("CANCELLED", `serial session ended: ${reason}`));
      d.counters.requestsCancelled++;
    }
    this.inFlight.clear();
    this.partials.clear();
    this.state = { name: "idle" };
    if (notify) this.sendError(replyTo ? { requestId: 0, seq: replyTo.seq } : undefined, notify, true);
    if (was.name !== "ready") return;
    d.logger.info("serial session closed", { port: d.port, reason, cancelled });
    d.auditLog
      .append({
        actor: { role: d.role, transport: "serial", peer: d.port },
        category: "auth",
        action: "serial.session.end",
        target: d.port,
        outcome: "info",
        details: { reason, cancelledRequests: cancelled, durationMs: Date.now() - was.openedAtMs },
      })
      .catch((e: unknown) => d.logger.error("could not audit the end of a serial session", { port: d.port, error: e }));
  }
}
