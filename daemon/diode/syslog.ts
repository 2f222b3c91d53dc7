// RFC 5424 syslog lines for verified audit records, so a SIEM on the high
// side can ingest the log without knowing sealbox. Pure.
//
//   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG
//
// PRI = facility 13 (log audit, RFC 5424 §6.2.1) × 8 + severity by outcome;
// TIMESTAMP = the record's time; HOSTNAME = the box id; APP-NAME = "sealbox";
// MSGID = the action; one SD element "sealbox@32473" (32473 is the example
// enterprise number RFC 5612 reserves for documentation) with seq, category,
// outcome, actor and target; MSG = the record's canonical JSON, UTF-8 with BOM.

const FACILITY_LOG_AUDIT = 13;
export const SD_ID = "sealbox@32473";

const SEVERITY: Record<string, number> = { failure: 4, refused: 5, requested: 6, success: 6, info: 6 };

const PRINTABLE = /^[\x21-\x7e]+$/;
const NEEDS_ESCAPE = /["\\\]]/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/;

/** PRINTUSASCII (%d33-126) only, at most max characters, "-" when empty (RFC 5424 §6.2). */
function header(value: unknown, max: number): string {
  const s = typeof value === "string" || typeof value === "number" ? String(value) : "";
  if (s === "") return "-";
  // The common case (a plain id) passes untouched; only odd values are rewritten.
  const clean = PRINTABLE.test(s) ? s : s.replace(/[^\x21-\x7e]/g, "_");
  return clean.length > max ? clean.slice(0, max) : clean;
}

/** PARAM-VALUE escaping (RFC 5424 §6.3.3): '"', '\' and ']' are backslash-escaped. */
function paramValue(value: unknown): string {
  const s = typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value);
  return NEEDS_ESCAPE.test(s) ? s.replace(/["\\\]]/g, (c) => "\\" + c) : s;
}

/** One RFC 5424 line (without the trailing newline) for a verified record. */
export function syslogLine(recordBytes: Uint8Array, seq: number): string {
  const json = Buffer.from(recordBytes.buffer, recordBytes.byteOffset, recordBytes.length).toString("utf8");
  return syslogPrefix(json, seq) + json;
}

/**
 * The line up to and including the BOM: the MSG (the record's JSON, `json`)
 * follows it. The receiver writes the record's own bytes after this prefix
 * rather than encoding the JSON again.
 */
export function syslogPrefix(json: string, seq: number): string {
  let r: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(json);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) r = parsed as Record<string, unknown>;
  } catch {
    // A verified record that is not a JSON object still gets a line: the header fields go "-".
  }
  const actor = (r.actor !== null && typeof r.actor === "object" ? r.actor : {}) as Record<string, unknown>;
  const severity = SEVERITY[String(r.outcome)] ?? 6;
  const time = typeof r.time === "string" && RFC3339.test(r.time) ? r.time : "-";
  let sd = `[${SD_ID} seq="${seq}"`;
  if (r.category !== undefined) sd += ` category="${paramValue(r.category)}"`;
  if (r.outcome !== undefined) sd += ` outcome="${paramValue(r.outcome)}"`;
  if (actor.role !== undefined) sd += ` role="${paramValue(actor.role)}"`;
  if (actor.transport !== undefined) sd += ` transport="${paramValue(actor.transport)}"`;
  if (actor.peer !== undefined) sd += ` peer="${paramValue(actor.peer)}"`;
  if (r.target !== undefined) sd += ` target="${paramValue(r.target)}"`;
  return `<${FACILITY_LOG_AUDIT * 8 + severity}>1 ${time} ${header(r.box, 255)} sealbox - ${header(r.action, 32)} ${sd}] \uFEFF`;
}
