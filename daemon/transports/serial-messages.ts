// The JSON payloads of the serial protocol's messages (docs/serial-protocol.md
// §5): UTF-8 JSON (RFC 8259), one value per message. Parsers check shape and
// bounds and throw SealboxError BAD_REQUEST / PROTOCOL_ERROR naming the field.

import { ERRORS, SealboxError, type ErrorCode } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import { MAX_PAYLOAD_BYTES, MIN_PAYLOAD_BYTES } from "./serial-frames.js";

export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
export const MAX_METHOD_CHARS = 128;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeJson(value: JsonValue): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses a UTF-8 JSON payload; non-UTF-8 or non-JSON bytes are BAD_REQUEST. */
export function decodeJson(bytes: Uint8Array): JsonValue {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (e) {
    throw new SealboxError("BAD_REQUEST", "payload is not valid UTF-8", { cause: e });
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new SealboxError("BAD_REQUEST", "payload is not valid JSON", { cause: e });
  }
}

function asObject(v: JsonValue, what: string): { [k: string]: JsonValue } {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new SealboxError("BAD_REQUEST", `${what} payload must be a JSON object`);
  return v;
}

function int(o: { [k: string]: JsonValue }, key: string, min: number, max: number, what: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new SealboxError("BAD_REQUEST", `${what}.${key} must be an integer in [${min}, ${max}]`);
  }
  return v;
}

export function hexToBytes(hex: string, bytes: number, what: string): Uint8Array {
  if (hex.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(hex)) throw new SealboxError("BAD_REQUEST", `${what} must be ${bytes * 2} hex digits`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

export function bytesToHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

function hexField(o: { [k: string]: JsonValue }, key: string, bytes: number, what: string): Uint8Array {
  const v = o[key];
  if (typeof v !== "string") throw new SealboxError("BAD_REQUEST", `${what}.${key} must be a string of ${bytes * 2} hex digits`);
  return hexToBytes(v, bytes, `${what}.${key}`);
}

export interface Hello {
  versions: number[];
  maxPayloadBytes: number;
  nonce: Uint8Array;
  client?: string;
}

export function parseHello(payload: Uint8Array): Hello {
  const o = asObject(decodeJson(payload), "HELLO");
  const versions = o.versions;
  if (!Array.isArray(versions) || versions.length === 0 || versions.length > 16 || !versions.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 1 && x <= 255)) {
    throw new SealboxError("BAD_REQUEST", "HELLO.versions must be a list of 1 to 16 version numbers (1–255)");
  }
  const hello: Hello = {
    versions: versions as number[],
    maxPayloadBytes: int(o, "maxPayloadBytes", MIN_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES, "HELLO"),
    nonce: hexField(o, "nonce", NONCE_BYTES, "HELLO"),
  };
  if (typeof o.client === "string") hello.client = o.client.slice(0, 64);
  return hello;
}

export interface Challenge {
  version: number;
  nonce: Uint8Array;
  maxPayloadBytes: number;
  maxMessageBytes: number;
  maxInFlight: number;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
}

export function challengeJson(c: Challenge): JsonValue {
  return {
    version: c.version,
    nonce: bytesToHex(c.nonce),
    maxPayloadBytes: c.maxPayloadBytes,
    maxMessageBytes: c.maxMessageBytes,
    maxInFlight: c.maxInFlight,
    idleTimeoutMs: c.idleTimeoutMs,
    handshakeTimeoutMs: c.handshakeTimeoutMs,
  };
}

export function parseChallenge(payload: Uint8Array): Challenge {
  const o = asObject(decodeJson(payload), "CHALLENGE");
  return {
    version: int(o, "version", 1, 255, "CHALLENGE"),
    nonce: hexField(o, "nonce", NONCE_BYTES, "CHALLENGE"),
    maxPayloadBytes: int(o, "maxPayloadBytes", MIN_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES, "CHALLENGE"),
    maxMessageBytes: int(o, "maxMessageBytes", MIN_PAYLOAD_BYTES, 2 ** 31, "CHALLENGE"),
    maxInFlight: int(o, "maxInFlight", 1, 65535, "CHALLENGE"),
    idleTimeoutMs: int(o, "idleTimeoutMs", 1, 2 ** 31, "CHALLENGE"),
    handshakeTimeoutMs: int(o, "handshakeTimeoutMs", 1, 2 ** 31, "CHALLENGE"),
  };
}

/** AUTH (client proof) and WELCOME (server proof) carry one MAC: {"mac": "<64 hex>"}. */
export function parseMac(payload: Uint8Array, what: "AUTH" | "WELCOME"): Uint8Array {
  return hexField(asObject(decodeJson(payload), what), "mac", MAC_BYTES, what);
}

export interface RequestMessage {
  method: string;
  params: JsonValue;
}

export function parseRequest(payload: Uint8Array): RequestMessage {
  const o = asObject(decodeJson(payload), "REQUEST");
  const method = o.method;
  if (typeof method !== "string" || method.length === 0 || method.length > MAX_METHOD_CHARS) {
    throw new SealboxError("BAD_REQUEST", `REQUEST.method must be a string of 1 to ${MAX_METHOD_CHARS} characters`);
  }
  return { method, params: o.params === undefined ? null : o.params };
}

export interface ErrorMessage {
  code: string;
  message: string;
  retryable: boolean;
  details?: { [k: string]: JsonValue };
  /** "closed" when the error ended the session (send HELLO to start again). */
  session?: "closed";
}

/** The ERROR payload for a SealboxError; details that are not JSON are left out. */
export function errorJson(e: SealboxError, sessionClosed = false): JsonValue {
  const out: { [k: string]: JsonValue } = { code: e.code, message: e.message, retryable: ERRORS[e.code].retryable };
  if (e.details !== undefined) {
    try {
      out.details = JSON.parse(JSON.stringify(e.details)) as JsonValue;
    } catch {
      // Details that cannot be JSON (cycles, BigInt) stay on the box's side; the code and message still go out.
    }
  }
  if (sessionClosed) out.session = "closed";
  return out;
}

export function parseError(payload: Uint8Array): ErrorMessage {
  const o = asObject(decodeJson(payload), "ERROR");
  if (typeof o.code !== "string" || typeof o.message !== "string") throw new SealboxError("PROTOCOL_ERROR", "ERROR payload lacks code or message");
  const m: ErrorMessage = { code: o.code, message: o.message, retryable: o.retryable === true };
  if (o.details !== null && typeof o.details === "object" && !Array.isArray(o.details)) m.details = o.details;
  if (o.session === "closed") m.session = "closed";
  return m;
}

/** A SealboxError from an ERROR message; codes this build does not know map to PROTOCOL_ERROR. */
export function errorFromMessage(m: ErrorMessage): SealboxError {
  const known = Object.hasOwn(ERRORS, m.code);
  const details: Record<string, unknown> = { ...(m.details ?? {}), remoteCode: m.code };
  if (m.session) details.session = m.session;
  return new SealboxError(known ? (m.code as ErrorCode) : "PROTOCOL_ERROR", m.message, { details });
}
