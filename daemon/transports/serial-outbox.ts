// The sending side of a serial connection: one write on the line at a time,
// frames queued behind it and written together; and per request, a stream
// that coalesces answer chunks into full frames (docs/serial-protocol.md §7.2).
//
// Coalescing rule (Nagle-like): chunks wait at most coalesceMs, and while a
// write is on the line they keep waiting, so a slow line carries few, full
// frames and an idle line carries each chunk promptly.

import type { JsonValue } from "../ledger/types.js";
import { encodeJson } from "./serial-messages.js";
import { encodeFrame, fragment, FrameType, type Frame } from "./serial-frames.js";
import type { SerialCounters } from "./serial-metrics.js";

export class Outbox {
  private queue: Uint8Array[] = [];
  private idleCallbacks: (() => void)[] = [];
  private writing = false;
  private closed = false;
  queuedBytes = 0;

  constructor(
    private readonly write: (bytes: Uint8Array) => Promise<void>,
    private readonly counters: SerialCounters,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  get busy(): boolean {
    return this.writing || this.queue.length > 0;
  }

  send(frames: readonly Frame[]): void {
    if (this.closed) return;
    for (const f of frames) {
      const bytes = encodeFrame(f);
      this.queue.push(bytes);
      this.queuedBytes += bytes.length;
    }
    this.counters.framesSent += frames.length;
    this.pump();
  }

  /** Runs cb once the line is idle (now, if it is). */
  whenIdle(cb: () => void): void {
    if (!this.busy) cb();
    else this.idleCallbacks.push(cb);
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.queuedBytes = 0;
    this.idleCallbacks = [];
  }

  private pump(): void {
    if (this.writing || this.closed) return;
    if (this.queue.length === 0) {
      const cbs = this.idleCallbacks;
      this.idleCallbacks = [];
      for (const cb of cbs) cb();
      // A callback may have queued frames.
      if (this.queue.length === 0 || this.writing) return;
    }
    const parts = this.queue;
    this.queue = [];
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.writing = true;
    this.write(bytes).then(
      () => {
        this.writing = false;
        this.queuedBytes -= bytes.length;
        this.counters.bytesSent += bytes.length;
        this.pump();
      },
      (e: unknown) => {
        this.writing = false;
        this.close();
        this.onFailure(e);
      },
    );
  }
}

/** The answer side of one request: CHUNK frames, then exactly one RESULT or ERROR. */
export class AnswerStream {
  private seq = 0;
  private pending: JsonValue[] = [];
  /** UTF-8 length of JSON.stringify(pending). */
  private pendingBytes = 2;
  private timer: NodeJS.Timeout | undefined;
  private waitingForIdle = false;
  private ended = false;

  constructor(
    private readonly outbox: Outbox,
    readonly requestId: number,
    private readonly maxPayloadBytes: number,
    private readonly coalesceMs: number,
  ) {}

  push(chunk: JsonValue): void {
    if (this.ended) return;
    const json = JSON.stringify(chunk) as string | undefined;
    const value: JsonValue = json === undefined ? null : chunk;
    const bytes = json === undefined ? 4 : Buffer.byteLength(json);
    const last = this.pending.length - 1;
    if (typeof value === "string" && last >= 0 && typeof this.pending[last] === "string") {
      // Adjacent text chunks carry no meaning at their boundary (§7.2): merge them.
      if (this.pendingBytes + bytes - 2 > this.maxPayloadBytes) this.flush();
      else {
        this.pending[last] = (this.pending[last] as string) + value;
        this.pendingBytes += bytes - 2;
        this.afterAdd();
        return;
      }
    } else if (this.pending.length > 0 && this.pendingBytes + bytes + 1 > this.maxPayloadBytes) {
      this.flush();
    }
    this.pendingBytes += bytes + (this.pending.length > 0 ? 1 : 0);
    this.pending.push(value);
    this.afterAdd();
  }

  /** Sends what is pending, then the terminal frame(s). */
  end(type: typeof FrameType.RESULT | typeof FrameType.ERROR, payload: Uint8Array): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    const frames = fragment(type, this.requestId, this.seq, payload, this.maxPayloadBytes);
    this.seq += frames.length;
    this.outbox.send(frames);
  }

  /** Forgets pending chunks (the session is gone). */
  dispose(): void {
    this.ended = true;
    this.pending = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private afterAdd(): void {
    if (this.pendingBytes >= this.maxPayloadBytes) {
      this.flush();
      return;
    }
    if (this.timer || this.waitingForIdle) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.waitingForIdle = true;
      this.outbox.whenIdle(() => {
        this.waitingForIdle = false;
        if (!this.ended) this.flush();
      });
    }, this.coalesceMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const payload = encodeJson(this.pending);
    this.pending = [];
    this.pendingBytes = 2;
    const frames = fragment(FrameType.CHUNK, this.requestId, this.seq, payload, this.maxPayloadBytes);
    this.seq += frames.length;
    this.outbox.send(frames);
  }
}
