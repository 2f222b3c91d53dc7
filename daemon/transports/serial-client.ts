// The reference client of the serial protocol (docs/serial-protocol.md):
// what `sealbox serial-client` runs, and what an integrator can read next to
// the spec. It authenticates the box as much as the box authenticates it.

import { randomBytes as nodeRandomBytes } from "node:crypto";
import { SealboxError, toSealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import type { ByteLink } from "../../hal/index.js";
import { clientProof, proofsEqual, serverProof } from "./serial-auth.js";
import { FLAG_MORE, FrameDecoder, FrameType, PROTOCOL_VERSION, SUPPORTED_VERSIONS, UNSOLICITED_SEQ, encodeFrame, fragment, frameTypeName, type Frame } from "./serial-frames.js";
import {
  bytesToHex,
  decodeJson,
  encodeJson,
  errorFromMessage,
  parseChallenge,
  parseError,
  parseMac,
  type Challenge,
  NONCE_BYTES,
} from "./serial-messages.js";
import { DropLog, newCounters, type SerialCounters } from "./serial-metrics.js";
import { createLogger, type Logger } from "../log.js";

export interface SerialClientOptions {
  psk: Uint8Array;
  /** Largest frame payload this client takes; announced in HELLO. Defaults to 1024. */
  maxPayloadBytes?: number;
  /** Named in HELLO, recorded in the box's audit log. Defaults to "sealbox-serial-client". */
  client?: string;
  /** How long to wait for each handshake reply, and for the end of a cancelled call. Defaults to 5000 ms. */
  timeoutMs?: number;
  /** Ping period; defaults to a third of the box's idle timeout. */
  pingIntervalMs?: number;
  randomBytes?: (n: number) => Uint8Array;
  logger?: Logger;
}

export interface CallOptions {
  onChunk?: (chunk: JsonValue) => void;
  /** Aborting sends CANCEL; the call then ends with the box's answer (CANCELLED, or the result if it was done). */
  signal?: AbortSignal;
}

interface PendingCall {
  nextSeq: number;
  parts: Uint8Array[];
  partType: number;
  bytes: number;
  framesSent: number;
  onChunk: ((chunk: JsonValue) => void) | undefined;
  resolve: (v: JsonValue) => void;
  reject: (e: SealboxError) => void;
  cancelTimer?: NodeJS.Timeout;
}

interface ControlWait {
  type: number;
  /** The seq of the frame sent; the box's answer carries it (§5.1). */
  seq: number;
  resolve: (f: Frame) => void;
  reject: (e: SealboxError) => void;
  timer: NodeJS.Timeout;
}

const MAX_ANSWER_BYTES = 64 << 20;

export class SerialClient {
  readonly counters: SerialCounters = newCounters();
  private readonly decoder: FrameDecoder;
  private readonly dropLog: DropLog;
  private readonly timeoutMs: number;
  private readonly calls = new Map<number, PendingCall>();
  private control: ControlWait | undefined;
  /** Starts at a random value, so answers meant for an earlier client on the line do not match. */
  private controlSeq: number;
  private nextId = 1;
  private pingTimer: NodeJS.Timeout | undefined;
  private lastFrameAtMs = Date.now();
  private failure: SealboxError | undefined;
  private session: Challenge | undefined;

  private constructor(
    private readonly link: ByteLink,
    private readonly options: SerialClientOptions,
  ) {
    const maxPayloadBytes = options.maxPayloadBytes ?? 1024;
    this.decoder = new FrameDecoder(maxPayloadBytes);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.controlSeq = Buffer.from((options.randomBytes ?? nodeRandomBytes)(4)).readUInt32BE(0) & 0x7fffffff;
    const logger = options.logger ?? createLogger({ component: "serial-client", minLevel: "error" });
    this.dropLog = new DropLog(this.counters, logger, "client");
    link.onData((chunk) => {
      this.counters.bytesReceived += chunk.length;
      this.decoder.push(chunk, (e) => {
        if (e.kind === "drop") this.dropLog.drop(e.reason, e.lineBytes, e.detail);
        else {
          this.counters.framesReceived++;
          this.lastFrameAtMs = Date.now();
          this.onFrame(e.frame);
        }
      });
    });
    link.onClose((e) => this.fail(new SealboxError("SERIAL_ERROR", `the serial line closed${e ? `: ${e.message}` : ""}`, { cause: e })));
  }

  /** Runs the handshake (HELLO, CHALLENGE, AUTH, WELCOME) on link; resolves when both sides are authenticated. */
  static async connect(link: ByteLink, options: SerialClientOptions): Promise<SerialClient> {
    const c = new SerialClient(link, options);
    try {
      await c.handshake();
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  /** What the box announced in CHALLENGE. */
  get negotiated(): Challenge {
    return this.session!;
  }

  async call(method: string, params: JsonValue = null, opts: CallOptions = {}): Promise<JsonValue> {
    if (this.failure) throw this.failure;
    const id = this.allocateId();
    const frames = fragment(FrameType.REQUEST, id, 0, encodeJson({ method, params }), this.session!.maxPayloadBytes);
    return new Promise<JsonValue>((resolve, reject) => {
      const call: PendingCall = { nextSeq: 0, parts: [], partType: 0, bytes: 0, framesSent: frames.length, onChunk: opts.onChunk, resolve, reject };
      const onAbort = (): void => this.cancel(id);
      const settle = (): void => {
        opts.signal?.removeEventListener("abort", onAbort);
        if (call.cancelTimer) clearTimeout(call.cancelTimer);
      };
      call.resolve = (v) => {
        settle();
        resolve(v);
      };
      call.reject = (e) => {
        settle();
        reject(e);
      };
      this.calls.set(id, call);
      if (opts.signal?.aborted) {
        this.calls.delete(id);
        call.reject(new SealboxError("CANCELLED", "cancelled before it was sent"));
        return;
      }
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      this.send(frames);
    });
  }

  /** Sends PING and waits for its PONG. */
  async ping(payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    await this.controlExchange(FrameType.PING, payload, FrameType.PONG);
  }

  /** Stops the pinger and fails pending calls. The link stays open: it belongs to the caller. */
  close(): void {
    this.fail(new SealboxError("SERIAL_ERROR", "client closed"));
  }

  private async handshake(): Promise<void> {
    const rnd = this.options.randomBytes ?? ((n: number) => new Uint8Array(nodeRandomBytes(n)));
    const helloPayload = encodeJson({
      versions: [...SUPPORTED_VERSIONS],
      maxPayloadBytes: this.decoder.maxPayloadBytes,
      nonce: bytesToHex(rnd(NONCE_BYTES)),
      client: this.options.client ?? "sealbox-serial-client",
    });
    const challengeFrame = await this.controlExchange(FrameType.HELLO, helloPayload, FrameType.CHALLENGE);
    const challenge = parseChallenge(challengeFrame.payload);
    if (!SUPPORTED_VERSIONS.includes(challenge.version)) throw new SealboxError("UNSUPPORTED", `the box chose protocol version ${challenge.version}, which this client does not speak`);
    this.session = challenge;
    const mac = clientProof(this.options.psk, helloPayload, challengeFrame.payload);
    const welcome = await this.controlExchange(FrameType.AUTH, encodeJson({ mac: bytesToHex(mac) }), FrameType.WELCOME);
    if (!proofsEqual(parseMac(welcome.payload, "WELCOME"), serverProof(this.options.psk, helloPayload, challengeFrame.payload))) {
      throw new SealboxError("UNAUTHENTICATED", "the box's proof does not match this key: wrong key, or not the box you expect");
    }
    const intervalMs = this.options.pingIntervalMs ?? Math.max(1, Math.floor(challenge.idleTimeoutMs / 3));
    this.lastFrameAtMs = Date.now();
    this.pingTimer = setInterval(() => this.keepAlive(), intervalMs);
    this.pingTimer.unref();
  }

  private keepAlive(): void {
    if (Date.now() - this.lastFrameAtMs > this.session!.idleTimeoutMs) {
      this.fail(new SealboxError("SERIAL_ERROR", `the box has not answered for ${this.session!.idleTimeoutMs} ms`));
      return;
    }
    this.send([{ version: PROTOCOL_VERSION, type: FrameType.PING, flags: 0, requestId: 0, seq: UNSOLICITED_SEQ - 1, payload: new Uint8Array(0) }]);
  }

  private controlExchange(type: number, payload: Uint8Array, expect: number): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.control) return Promise.reject(new SealboxError("BUSY", "another control exchange is in progress"));
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.control = undefined;
        reject(new SealboxError("DEADLINE", `no ${frameTypeName(expect)} from the box within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const seq = this.controlSeq;
      this.controlSeq = (this.controlSeq + 1) & 0x7fffffff;
      this.control = {
        type: expect,
        seq,
        timer,
        resolve: (f) => {
          clearTimeout(timer);
          this.control = undefined;
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          this.control = undefined;
          reject(e);
        },
      };
      this.send([{ version: PROTOCOL_VERSION, type, flags: 0, requestId: 0, seq, payload }]);
    });
  }

  private cancel(id: number): void {
    const call = this.calls.get(id);
    if (!call || this.failure) return;
    this.send([{ version: PROTOCOL_VERSION, type: FrameType.CANCEL, flags: 0, requestId: id, seq: call.framesSent++, payload: new Uint8Array(0) }]);
    call.cancelTimer = setTimeout(() => {
      if (this.calls.get(id) !== call) return;
      this.calls.delete(id);
      call.reject(new SealboxError("CANCELLED", "cancelled (the box did not confirm in time)"));
    }, this.timeoutMs);
  }

  private onFrame(f: Frame): void {
    if (f.requestId === 0) {
      this.onControlFrame(f);
      return;
    }
    const call = this.calls.get(f.requestId);
    if (!call || (f.type !== FrameType.CHUNK && f.type !== FrameType.RESULT && f.type !== FrameType.ERROR)) {
      this.dropLog.drop("unexpected-type", f.payload.length, `${frameTypeName(f.type)} for request ${f.requestId}, which is not running`);
      return;
    }
    if (f.seq !== call.nextSeq || (call.parts.length > 0 && f.type !== call.partType)) {
      this.dropLog.drop("seq", f.payload.length, `request ${f.requestId}: expected seq ${call.nextSeq}, got ${f.seq}`);
      this.calls.delete(f.requestId);
      this.cancel(f.requestId);
      call.reject(new SealboxError("PROTOCOL_ERROR", `lost a frame of the answer (expected seq ${call.nextSeq}, got ${f.seq}); the request was cancelled`));
      return;
    }
    call.nextSeq++;
    call.partType = f.type;
    call.parts.push(f.payload);
    call.bytes += f.payload.length;
    if (call.bytes > MAX_ANSWER_BYTES) {
      this.calls.delete(f.requestId);
      this.cancel(f.requestId);
      call.reject(new SealboxError("TOO_LARGE", `answer message over ${MAX_ANSWER_BYTES} bytes`));
      return;
    }
    if ((f.flags & FLAG_MORE) !== 0) return;
    const payload = call.parts.length === 1 ? call.parts[0]! : new Uint8Array(Buffer.concat(call.parts));
    call.parts = [];
    call.bytes = 0;
    try {
      if (f.type === FrameType.CHUNK) {
        const chunks = decodeJson(payload);
        if (!Array.isArray(chunks)) throw new SealboxError("PROTOCOL_ERROR", "CHUNK payload is not a JSON array");
        for (const c of chunks) call.onChunk?.(c);
        return;
      }
      this.calls.delete(f.requestId);
      if (f.type === FrameType.RESULT) call.resolve(decodeJson(payload));
      else call.reject(errorFromMessage(parseError(payload)));
    } catch (e) {
      this.calls.delete(f.requestId);
      call.reject(toSealboxError(e, "PROTOCOL_ERROR"));
    }
  }

  /** Frames on request id 0 are never fragmented; an answer carries the seq of the frame it answers. */
  private onControlFrame(f: Frame): void {
    const answersWait = this.control !== undefined && f.seq === this.control.seq;
    if (f.type === FrameType.ERROR) {
      let err: SealboxError;
      try {
        err = errorFromMessage(parseError(f.payload));
      } catch (e) {
        err = toSealboxError(e, "PROTOCOL_ERROR");
      }
      if (answersWait) this.control!.reject(err);
      else if (f.seq === UNSOLICITED_SEQ && err.details?.session === "closed") this.fail(err);
      else this.dropLog.drop("seq", f.payload.length, `stale ERROR (seq ${f.seq}): ${err.code}`);
      return;
    }
    if (answersWait && f.type === this.control!.type) this.control!.resolve(f);
    else if (f.type !== FrameType.PONG) this.dropLog.drop("unexpected-type", f.payload.length, `unexpected ${frameTypeName(f.type)} (seq ${f.seq})`);
  }

  private allocateId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextId;
      this.nextId = (this.nextId % 65535) + 1;
      if (!this.calls.has(id)) return id;
    }
    throw new SealboxError("BUSY", "no free request id");
  }

  private send(frames: Frame[]): void {
    const bytes = Buffer.concat(frames.map(encodeFrame));
    this.counters.framesSent += frames.length;
    this.link.write(bytes).then(
      () => {
        this.counters.bytesSent += bytes.length;
      },
      (e: unknown) => this.fail(toSealboxError(e, "SERIAL_ERROR")),
    );
  }

  private fail(err: SealboxError): void {
    if (this.failure) return;
    this.failure = err;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.control?.reject(err);
    for (const call of this.calls.values()) call.reject(err);
    this.calls.clear();
    this.dropLog.flush();
  }
}
