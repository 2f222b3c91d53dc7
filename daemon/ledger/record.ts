// Audit records: RFC 8785 (JSON Canonicalization Scheme) bytes of an
// AuditRecord. Those bytes are the Merkle leaf, so encoding must be exactly
// reproducible by any JCS implementation, and decoding refuses anything that
// is not already in canonical form.
//
// Fields cover NIST SP 800-53 AU-3 (what, when, where, source, outcome,
// identity) and IEC 62443-3-3 SR 2.8 (category, type, source, timestamp,
// outcome): seq, time, box, actor{role,transport,peer}, category, action,
// target, outcome, details.

import { SealboxError } from "../errors.js";
import type { Actor, AuditEvent, AuditRecord, JsonValue, Outcome } from "./types.js";

/** The largest record, in bytes of canonical JSON. Larger payloads go in by SHA-256 reference. */
export const MAX_RECORD_BYTES = 65536;

/** Nesting limit for details; deeper values are refused rather than risking the stack. */
export const MAX_DEPTH = 32;

export const OUTCOMES: readonly Outcome[] = ["requested", "success", "failure", "refused", "info"];

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function invalid(message: string, details?: Record<string, unknown>): SealboxError {
  return new SealboxError("RECORD_INVALID", message, details ? { details } : {});
}

// RFC 8785 §3.2.2.2: strings are serialised as ECMAScript JSON.stringify does;
// lone surrogates cannot be represented in I-JSON (RFC 7493 §2.1) and are refused.
const LONE_SURROGATE = /\p{Cs}/u;

function stringJson(s: string, path: string): string {
  if (LONE_SURROGATE.test(s)) throw invalid(`${path} holds a lone UTF-16 surrogate`, { path });
  return JSON.stringify(s);
}

function canon(value: unknown, path: string, depth: number, out: string[]): void {
  if (value === null) {
    out.push("null");
    return;
  }
  switch (typeof value) {
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "number":
      // RFC 8785 §3.2.2.3: ECMAScript Number serialisation; -0 becomes 0; NaN and infinities are not JSON.
      if (!Number.isFinite(value)) throw invalid(`${path} is not a finite number`, { path });
      out.push(JSON.stringify(value));
      return;
    case "string":
      out.push(stringJson(value, path));
      return;
    case "object": {
      if (depth >= MAX_DEPTH) throw invalid(`${path} is nested deeper than ${MAX_DEPTH}`, { path });
      if (Array.isArray(value)) {
        out.push("[");
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out.push(",");
          canon(value[i], `${path}[${i}]`, depth + 1, out);
        }
        out.push("]");
        return;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw invalid(`${path} is not a plain object`, { path });
      // RFC 8785 §3.2.3: members sorted by the UTF-16 code units of their names,
      // which is what the default Array.prototype.sort comparison does.
      const keys = Object.keys(value).sort();
      out.push("{");
      let first = true;
      for (const k of keys) {
        const v = (value as Record<string, unknown>)[k];
        if (v === undefined) continue; // as JSON.stringify: an absent member
        if (!first) out.push(",");
        first = false;
        out.push(stringJson(k, `${path}.${k}`), ":");
        canon(v, `${path}.${k}`, depth + 1, out);
      }
      out.push("}");
      return;
    }
    default:
      throw invalid(`${path} has a ${typeof value}, which JSON cannot hold`, { path });
  }
}

/** RFC 8785 canonical JSON. Throws RECORD_INVALID for values JSON cannot hold. */
export function canonicalJson(value: JsonValue): string {
  // Fast path: a copy with members inserted in sorted order, serialised by
  // V8's native JSON.stringify (whose number and string forms RFC 8785
  // adopts). Anything it would not render exactly — integer-like member
  // names (which V8 orders numerically), lone surrogates, values JSON cannot
  // hold — takes the exact, slower path below, which also names the problem.
  const sorted = sortedCopy(value, 0);
  if (sorted !== UNSUITABLE) {
    const text = JSON.stringify(sorted);
    if (!LONE_SURROGATE_ESCAPE.test(text)) return text;
  }
  const out: string[] = [];
  canon(value, "$", 0, out);
  return out.join("");
}

const UNSUITABLE = Symbol("unsuitable");
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;
const LONE_SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

function sortedCopy(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      return Number.isFinite(v) ? v : UNSUITABLE;
    case "object": {
      if (v === null) return v;
      if (depth >= MAX_DEPTH) return UNSUITABLE;
      if (Array.isArray(v)) {
        const a = new Array<unknown>(v.length);
        for (let i = 0; i < v.length; i++) {
          const x = sortedCopy(v[i], depth + 1);
          if (x === UNSUITABLE) return UNSUITABLE;
          a[i] = x;
        }
        return a;
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return UNSUITABLE;
      const keys = Object.keys(v).sort();
      const o: Record<string, unknown> = {};
      for (const k of keys) {
        const c0 = k.charCodeAt(0);
        if (c0 >= 48 && c0 <= 57 && ARRAY_INDEX.test(k)) return UNSUITABLE;
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        const c = sortedCopy(x, depth + 1);
        if (c === UNSUITABLE) return UNSUITABLE;
        o[k] = c;
      }
      return o;
    }
    default:
      return UNSUITABLE;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown, path: string, maxChars = 1024): string {
  if (typeof v !== "string" || v.length === 0) throw invalid(`${path} must be a non-empty string`, { path });
  if (v.length > maxChars) throw invalid(`${path} is longer than ${maxChars} characters`, { path });
  return v;
}

function checkActor(v: unknown): Actor {
  if (!isPlainObject(v)) throw invalid("actor must be an object {role, transport, peer}");
  for (const k of Object.keys(v)) if (k !== "role" && k !== "transport" && k !== "peer") throw invalid(`actor has an unknown field '${k}'`);
  return {
    role: nonEmptyString(v.role, "actor.role"),
    transport: nonEmptyString(v.transport, "actor.transport"),
    peer: nonEmptyString(v.peer, "actor.peer"),
  };
}

const EVENT_KEYS = new Set(["actor", "category", "action", "target", "outcome", "details"]);
const RECORD_KEYS = new Set([...EVENT_KEYS, "v", "seq", "time", "box"]);

/** Checks what a caller hands to append(). Throws RECORD_INVALID naming the first bad field. */
export function validateEvent(e: unknown): AuditEvent {
  if (!isPlainObject(e)) throw invalid("an audit event must be an object");
  for (const k of Object.keys(e)) if (!EVENT_KEYS.has(k)) throw invalid(`audit event has an unknown field '${k}'`, { field: k });
  return validateCommon(e);
}

function validateCommon(e: Record<string, unknown>): AuditEvent {
  const event: AuditEvent = {
    actor: checkActor(e.actor),
    category: nonEmptyString(e.category, "category", 64),
    action: nonEmptyString(e.action, "action", 128),
    outcome: e.outcome as Outcome,
  };
  if (!OUTCOMES.includes(e.outcome as Outcome)) throw invalid(`outcome must be one of ${OUTCOMES.join(", ")}`, { got: String(e.outcome) });
  if (e.target !== undefined) event.target = nonEmptyString(e.target, "target", 4096);
  if (e.details !== undefined) {
    if (!isPlainObject(e.details)) throw invalid("details must be an object");
    event.details = e.details as { [key: string]: JsonValue };
  }
  return event;
}

/** Checks a whole record (as decoded from the log). */
export function validateRecord(r: unknown): AuditRecord {
  if (!isPlainObject(r)) throw invalid("a record must be a JSON object");
  for (const k of Object.keys(r)) if (!RECORD_KEYS.has(k)) throw invalid(`record has an unknown field '${k}'`, { field: k });
  if (r.v !== 1) throw invalid(`record version must be 1, got ${JSON.stringify(r.v) ?? "nothing"}`);
  if (typeof r.seq !== "number" || !Number.isSafeInteger(r.seq) || r.seq < 0) throw invalid("seq must be a non-negative integer");
  if (typeof r.time !== "string" || !TIME_RE.test(r.time) || Number.isNaN(Date.parse(r.time))) {
    throw invalid("time must be UTC RFC 3339 with milliseconds (YYYY-MM-DDTHH:MM:SS.sssZ)");
  }
  const box = nonEmptyString(r.box, "box", 128);
  return { v: 1, seq: r.seq, time: r.time, box, ...validateCommon(r) };
}

/** Canonical bytes of a record. Throws RECORD_INVALID or RECORD_TOO_LARGE. */
export function encodeRecord(record: AuditRecord): Uint8Array {
  const text = canonicalJson(record as unknown as JsonValue);
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length > MAX_RECORD_BYTES) {
    throw new SealboxError("RECORD_TOO_LARGE", `record is ${bytes.length} bytes, the limit is ${MAX_RECORD_BYTES}: pass big payloads by SHA-256 reference`, {
      details: { sizeBytes: bytes.length, maxBytes: MAX_RECORD_BYTES },
    });
  }
  return bytes;
}

/**
 * A record's canonical JSON split around its sequence number, so the record
 * can be encoded (and checked for size) when the event arrives and get its
 * seq later, at commit time, by concatenation. RFC 8785 sorts members, so
 * "seq" always sits after "outcome" and before "target"/"time"/"v".
 */
export interface RecordParts {
  head: string;
  tail: string;
  /** UTF-8 bytes of head + tail. */
  sizeBytes: number;
}

export function encodeRecordParts(record: Omit<AuditRecord, "seq"> & { seq?: number }): RecordParts {
  // A record built with seq: 0 in place is used as it is (a spread copy costs more than the encoding).
  const withSeq = record.seq === 0 ? record : { ...record, seq: 0 };
  const text = canonicalJson(withSeq as unknown as JsonValue);
  // Only the top-level "seq" can be followed by nothing but target/time/v
  // (strings and a number, where an unescaped quote cannot occur): the last
  // match is it, whatever the details hold.
  const at = text.lastIndexOf('"seq":0,');
  if (at < 0) throw invalid("record has no top-level seq");
  const head = text.slice(0, at + 6);
  const tail = text.slice(at + 7);
  return { head, tail, sizeBytes: Buffer.byteLength(head) + Buffer.byteLength(tail) };
}

/** The canonical bytes of a record from its parts and its seq. Throws RECORD_TOO_LARGE. */
export function assembleRecord(parts: RecordParts, seq: number): Uint8Array {
  const digits = String(seq);
  if (parts.sizeBytes + digits.length > MAX_RECORD_BYTES) {
    throw new SealboxError("RECORD_TOO_LARGE", `record is ${parts.sizeBytes + digits.length} bytes, the limit is ${MAX_RECORD_BYTES}: pass big payloads by SHA-256 reference`, {
      details: { sizeBytes: parts.sizeBytes + digits.length, maxBytes: MAX_RECORD_BYTES },
    });
  }
  return Buffer.from(parts.head + digits + parts.tail, "utf8");
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Parses and validates a record's leaf bytes. Refuses anything over the size
 * limit, not UTF-8, not JSON, not a valid record, or not in canonical form
 * (so the bytes a verifier hashes are the only form a record can take).
 */
export function decodeRecord(bytes: Uint8Array): AuditRecord {
  if (bytes.length > MAX_RECORD_BYTES) {
    throw new SealboxError("RECORD_TOO_LARGE", `record is ${bytes.length} bytes, the limit is ${MAX_RECORD_BYTES}`, {
      details: { sizeBytes: bytes.length },
    });
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (e) {
    throw invalid("record is not valid UTF-8", { cause: String(e) });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw invalid(`record is not JSON: ${(e as Error).message}`);
  }
  const record = validateRecord(parsed);
  if (!isCanonicalFast(parsed, text) && canonicalJson(parsed as JsonValue) !== text) throw invalid("record is not in RFC 8785 canonical form");
  return record;
}

function keysSorted(v: unknown, depth: number): boolean {
  if (typeof v !== "object" || v === null) return true;
  if (depth >= MAX_DEPTH) return false;
  if (Array.isArray(v)) {
    for (const x of v) if (!keysSorted(x, depth + 1)) return false;
    return true;
  }
  let prev: string | undefined;
  for (const k in v) {
    if (prev !== undefined && !(prev < k)) return false;
    prev = k;
    if (!keysSorted((v as Record<string, unknown>)[k], depth + 1)) return false;
  }
  return true;
}

/**
 * A sound shortcut for the canonical-form check: when V8's own serialisation
 * of the parsed value reproduces the text exactly, the text has no whitespace,
 * ES number and string forms (which RFC 8785 adopts), and its members in
 * Object.keys order; if that order is also sorted, the text is canonical.
 * Escaped surrogates and integer-like keys (which V8 reorders) take the slow,
 * exact path instead. Never accepts a non-canonical text.
 */
function isCanonicalFast(parsed: unknown, text: string): boolean {
  if (/\\u[dD][89a-fA-F]/.test(text)) return false;
  return JSON.stringify(parsed) === text && keysSorted(parsed, 0);
}
