// Server-sent events (WHATWG HTML §9.2 "Server-sent events"): a response of
// `text/event-stream` made of events, each `event: NAME` (optional) and one
// `data: LINE` per line of payload, ended by a blank line. OpenAI-style
// streams end with `data: [DONE]`.
//
// A slow reader must not grow the daemon's memory: when more than
// maxBufferedBytes wait in the socket's buffer, the stream is given up and
// the call cancelled.

import type { ServerResponse } from "node:http";

/** One event, as bytes on the wire. Pure. */
export function formatSseEvent(data: string, event?: string): string {
  let out = event ? `event: ${event.replace(/[\r\n]/g, "")}\n` : "";
  for (const line of data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + "\n";
}

export interface SseOptions {
  /** Buffered bytes beyond which the reader counts as stalled. Defaults to 4 MiB. */
  maxBufferedBytes?: number;
  /** Comment line sent when the stream is quiet, so dead readers are noticed. Defaults to 15 000 ms; 0 = never. */
  heartbeatMs?: number;
  /** Called once when the reader stalled past maxBufferedBytes (cancel the call here). */
  onStall?: () => void;
}

export class SseWriter {
  private opened = false;
  private ended = false;
  private stalled = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly maxBufferedBytes: number;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: SseOptions = {},
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 << 20;
  }

  get isOpen(): boolean {
    return this.opened;
  }

  /** Sends the 200 and the stream's headers (once). */
  open(headers: Record<string, string> = {}): void {
    if (this.opened || this.ended) return;
    this.opened = true;
    this.res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      ...headers,
    });
    this.res.flushHeaders();
    const every = this.options.heartbeatMs ?? 15_000;
    if (every > 0) {
      this.heartbeat = setInterval(() => this.write(": keep-alive\n\n"), every);
      this.heartbeat.unref();
    }
  }

  send(data: string, event?: string): void {
    this.open();
    this.write(formatSseEvent(data, event));
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (!this.res.writableEnded) this.res.end();
  }

  private write(text: string): void {
    if (this.ended || this.stalled || this.res.destroyed) return;
    this.res.write(text);
    if (this.res.writableLength > this.maxBufferedBytes) {
      this.stalled = true;
      this.options.onStall?.();
      this.res.destroy();
    }
  }
}
