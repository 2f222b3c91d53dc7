// Strict text encodings shared by the note, checkpoint and proof formats.
// Buffer.from(s, "base64") silently skips bad characters; a verifier must not.

import { SealboxError } from "../errors.js";

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** RFC 4648 §4 standard base64 with padding, canonical (re-encodes to the same text). */
export function decodeBase64(text: string, what: string): Uint8Array {
  if (!BASE64_RE.test(text)) throw new SealboxError("BAD_FORMAT", `${what} is not standard base64`, { details: { what } });
  const bytes = Buffer.from(text, "base64");
  if (bytes.toString("base64") !== text) throw new SealboxError("BAD_FORMAT", `${what} is not canonical base64`, { details: { what } });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

const utf8Fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes UTF-8, refusing malformed input instead of substituting U+FFFD. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    throw new SealboxError("BAD_FORMAT", `${what} is not valid UTF-8`, { details: { what } });
  }
}

/** Parses an ASCII decimal with no leading zeroes (unless "0") into a safe integer. */
export function parseDecimal(text: string, what: string): number {
  if (!/^(?:0|[1-9][0-9]{0,15})$/.test(text)) throw new SealboxError("BAD_FORMAT", `${what} is not a decimal number: ${JSON.stringify(text.slice(0, 40))}`, { details: { what } });
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new SealboxError("BAD_FORMAT", `${what} is too large: ${text}`, { details: { what } });
  return n;
}
