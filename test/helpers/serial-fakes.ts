// Plain-object fakes for the serial transport's seams: a Dispatch with the
// methods the tests need, an in-memory AuditLog, and a deterministic nonce
// source. None patches a module.

import { SealboxError, type ErrorCode } from "../../daemon/errors.js";
import type { AppendReceipt, AuditEvent, AuditLog, JsonValue } from "../../daemon/ledger/types.js";
import type { CallContext, Dispatch } from "../../daemon/rpc/types.js";

export interface FakeDispatch extends Dispatch {
  /** Every call seen, with its context. */
  calls: { method: string; params: JsonValue; ctx: CallContext }[];
  /** Aborts seen by `slow`. */
  aborted: number;
}

function obj(p: JsonValue): { [k: string]: JsonValue } {
  return p !== null && typeof p === "object" && !Array.isArray(p) ? p : {};
}

/**
 * Methods: echo (returns params), stream {count, text?, yieldEvery?} (chunks "<text>i " then {count}),
 * slow {ms?} (waits until aborted, or ms), fail {code, message?} (throws that SealboxError),
 * big {bytes} (a string result of that many bytes), crash (throws a plain Error).
 */
export function createFakeDispatch(options: { record?: boolean } = {}): FakeDispatch {
  const record = options.record ?? true;
  const d = (async (method: string, params: JsonValue, ctx: CallContext): Promise<JsonValue> => {
    if (record) d.calls.push({ method, params, ctx });
    const p = obj(params);
    switch (method) {
      case "echo":
        return params;
      case "stream": {
        const count = typeof p.count === "number" ? p.count : 10;
        const text = typeof p.text === "string" ? p.text : "tok";
        const yieldEvery = typeof p.yieldEvery === "number" ? p.yieldEvery : 0;
        for (let i = 0; i < count; i++) {
          if (ctx.signal.aborted) throw new SealboxError("CANCELLED", "stream cancelled");
          ctx.onChunk?.(`${text}${i} `);
          if (yieldEvery > 0 && i % yieldEvery === yieldEvery - 1) await new Promise((r) => setImmediate(r));
        }
        return { count };
      }
      case "objects": {
        const count = typeof p.count === "number" ? p.count : 3;
        for (let i = 0; i < count; i++) ctx.onChunk?.({ i });
        return { count };
      }
      case "slow": {
        const ms = typeof p.ms === "number" ? p.ms : 60_000;
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, ms);
          ctx.signal.addEventListener(
            "abort",
            () => {
              clearTimeout(t);
              d.aborted++;
              reject(new SealboxError("CANCELLED", "slow call cancelled"));
            },
            { once: true },
          );
        });
        return { sleptMs: ms };
      }
      case "fail":
        throw new SealboxError((typeof p.code === "string" ? p.code : "BUSY") as ErrorCode, typeof p.message === "string" ? p.message : "failed on purpose", { details: { why: "test" } });
      case "big":
        return "x".repeat(typeof p.bytes === "number" ? p.bytes : 10_000);
      case "crash":
        throw new Error("secret internal detail");
      default:
        throw new SealboxError("NOT_FOUND", `no method ${method}`);
    }
  }) as FakeDispatch;
  d.calls = [];
  d.aborted = 0;
  return d;
}

export interface MemoryAuditLog extends AuditLog {
  events: AuditEvent[];
  /** When set, append() rejects with this code. */
  failWith: ErrorCode | undefined;
}

export function createMemoryAuditLog(options: { keep?: boolean } = {}): MemoryAuditLog {
  const keep = options.keep ?? true;
  let seq = 0;
  const log: MemoryAuditLog = {
    events: [],
    failWith: undefined,
    async append(event: AuditEvent): Promise<AppendReceipt> {
      if (log.failWith) throw new SealboxError(log.failWith, "audit log refuses on purpose");
      if (keep) log.events.push(event);
      return { seq: seq++, treeSize: seq, checkpoint: "test\n" };
    },
  };
  return log;
}

/** Deterministic "random" bytes: a counter-seeded pattern, so worked examples are reproducible. */
export function countingRandom(seed: number): (n: number) => Uint8Array {
  let s = seed;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (s + i) & 0xff;
    s += n;
    return out;
  };
}

export const TEST_PSK = Uint8Array.from(Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex"));

export interface MemoryLink {
  write(bytes: Uint8Array): Promise<void>;
  onData(listener: (chunk: Uint8Array) => void): void;
  onClose(listener: (error?: Error) => void): void;
  close(): Promise<void>;
  /** Everything written to this end, in order. */
  written: Uint8Array[];
}

/** Two in-memory ByteLinks wired back to back; delivery is asynchronous (next macrotask), like a line. */
export function createLinkPair(): [MemoryLink, MemoryLink] {
  const make = (): MemoryLink & { peer?: MemoryLink & { deliver(b: Uint8Array): void; shut(e?: Error): void }; deliver(b: Uint8Array): void; shut(e?: Error): void } => {
    const data: ((c: Uint8Array) => void)[] = [];
    const closes: ((e?: Error) => void)[] = [];
    let closed = false;
    const end = {
      written: [] as Uint8Array[],
      peer: undefined as (MemoryLink & { deliver(b: Uint8Array): void; shut(e?: Error): void }) | undefined,
      deliver(b: Uint8Array) {
        if (!closed) for (const l of data) l(b);
      },
      shut(e?: Error) {
        if (closed) return;
        closed = true;
        for (const l of closes) l(e);
      },
      async write(bytes: Uint8Array) {
        if (closed) throw new SealboxError("SERIAL_ERROR", "memory link closed");
        const copy = bytes.slice();
        end.written.push(copy);
        setImmediate(() => end.peer?.deliver(copy));
      },
      onData(l: (c: Uint8Array) => void) {
        data.push(l);
      },
      onClose(l: (e?: Error) => void) {
        closes.push(l);
      },
      async close() {
        end.shut();
        end.peer?.shut(new Error("far end closed"));
      },
    };
    return end;
  };
  const x = make();
  const y = make();
  x.peer = y;
  y.peer = x;
  return [x, y];
}
