// Reading a request body with bounds: at most maxBytes (413 as soon as the
// limit is crossed, without buffering the rest), within bodyTimeoutMs of the
// headers (408 for a slow sender), valid UTF-8 (400), valid JSON (400).
// Memory per request is bounded by maxBytes whatever the peer sends.

import type { IncomingMessage } from "node:http";
import { SealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";

export interface BodyLimits {
  /** Largest body accepted. Defaults to 1 MiB. */
  maxBytes: number;
  /** Time allowed for the whole body after the headers. Defaults to 30 000 ms. */
  bodyTimeoutMs: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = { maxBytes: 1 << 20, bodyTimeoutMs: 30_000 };

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Bytes → JSON value; BAD_REQUEST naming what is wrong. Pure. */
export function parseJsonBody(bytes: Uint8Array): JsonValue | undefined {
  if (bytes.length === 0) return undefined;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (e) {
    throw new SealboxError("BAD_REQUEST", "the request body is not valid UTF-8", { cause: e });
  }
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new SealboxError("BAD_REQUEST", `the request body is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > limits.maxBytes) {
      reject(tooLarge(limits.maxBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
      fn();
    };
    const timer = setTimeout(
      () => settle(() => reject(new SealboxError("REQUEST_TIMEOUT", `the request body did not arrive within ${limits.bodyTimeoutMs} ms`))),
      limits.bodyTimeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limits.maxBytes) {
        // Stop buffering at once; the rest is never read (the connection closes).
        settle(() => reject(tooLarge(limits.maxBytes)));
        req.pause();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => settle(() => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    const onError = (e: Error): void => settle(() => reject(new SealboxError("CANCELLED", "the connection failed while sending the body", { cause: e })));
    const onAborted = (): void => settle(() => reject(new SealboxError("CANCELLED", "the client went away while sending the body")));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}

function tooLarge(maxBytes: number): SealboxError {
  return new SealboxError("TOO_LARGE", `the request body is larger than ${maxBytes} bytes`, { details: { maxBytes } });
}
