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

/** PRINTUSASCII (%d33-126) only, at most max characters, "-" when empty (RFC 5424 §6.2). */
function header(value: unknown, max: number): string {
  const s = typeof value === "string" || typeof value === "number" ? String(value) : "";
  const clean = s.replace(/[^\x21-\x7e]/g, "_").slice(0, max);
  return clean === "" ? "-" : clean;
}

/** PARAM-VALUE escaping (RFC 5424 §6.3.3): '"', '\' and ']' are backslash-escaped. */
function paramValue(value: unknown): string {
  const s = typeof value === "string" ? value : value === undefined || value === null ? "" : JSON.stringify(value);
  return s.replace(/["\\\]]/g, (c) => "\\" + c);
}

/** One RFC 5424 line (without the trailing newline) for a verified record. */
export function syslogLine(recordBytes: Uint8Array, seq: number): string {
  const json = Buffer.from(recordBytes).toString("utf8");
  let r: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(json);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) r = parsed as Record<string, unknown>;
  } catch {
    // A verified record that is not a JSON object still gets a line: the header fields go "-".
  }
  const actor = (r.actor !== null && typeof r.actor === "object" ? r.actor : {}) as Record<string, unknown>;
  const severity = SEVERITY[String(r.outcome)] ?? 6;
  const time = typeof r.time === "string" && /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(r.time) ? r.time : "-";
  const params: [string, unknown][] = [
    ["seq", seq],
    ["category", r.category],
    ["outcome", r.outcome],
    ["role", actor.role],
    ["transport", actor.transport],
    ["peer", actor.peer],
    ["target", r.target],
  ];
  const sd = `[${SD_ID} ${params
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}="${paramValue(v)}"`)
    .join(" ")}]`;
  return `<${FACILITY_LOG_AUDIT * 8 + severity}>1 ${time} ${header(r.box, 255)} sealbox - ${header(r.action, 32)} ${sd} \uFEFF${json}`;
}
