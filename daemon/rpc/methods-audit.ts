// audit.*: reading, proving, exporting, following and annotating the ledger
// over the method table. Proofs are RFC 9162 §2.1.3 (inclusion) and §2.1.4
// (consistency) audit paths, base64 per hash, next to the C2SP signed
// checkpoint they verify against.

import { SealboxError } from "../errors.js";
import { formatTlogProof } from "../ledger/tlog-proof.js";
import type { AuditRecord, JsonValue } from "../ledger/types.js";
import { defineMethod, type MethodCall, type MethodSpec } from "./method-spec.js";
import { onlyKeys, optBool, optInt, optObject, optString, reqInt, reqString, noParams } from "./params.js";
import type { JsonObject, LedgerReaderPort } from "./ports.js";

const MAX_SEQ = Number.MAX_SAFE_INTEGER;
/** Records per audit.records answer or audit.tail batch. */
export const MAX_RECORDS_PER_CALL = 1000;
/** A site annotation's text, in characters (the record itself is capped at 64 KiB). */
export const MAX_ANNOTATION_CHARS = 4096;

function ledger(call: MethodCall): LedgerReaderPort {
  const l = call.services.ledger;
  if (!l) throw new SealboxError("UNSUPPORTED", "this box's method table has no ledger reader");
  return l;
}

/** Tree size of a C2SP tlog-checkpoint: the note's second line. */
export function checkpointSize(note: string | undefined): number {
  if (note === undefined) return 0;
  const line = note.split("\n")[1] ?? "";
  return /^[0-9]{1,16}$/.test(line) ? Number(line) : 0;
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

function recordJson(r: AuditRecord): JsonObject {
  return JSON.parse(JSON.stringify(r)) as JsonObject;
}

function getRecord(l: LedgerReaderPort, seq: number): AuditRecord {
  const r = l.record(seq);
  if (!r) throw new SealboxError("NOT_FOUND", `no audit record ${seq} (the log has ${l.size()} records)`, { details: { seq, size: l.size() } });
  return r;
}

const head: MethodSpec<Record<string, never>> = {
  name: "audit.head",
  summary: "size of the log and its latest signed checkpoint",
  roles: ["operator", "technician", "integrator"],
  audit: "read",
  streams: false,
  parse: noParams,
  async run(_p, call) {
    const l = ledger(call);
    const checkpoint = l.latestCheckpoint() ?? null;
    return { size: l.size(), checkpointSize: checkpointSize(checkpoint ?? undefined), checkpoint };
  },
};

const record: MethodSpec<{ seq: number }> = {
  name: "audit.record",
  summary: "one record, and its canonical bytes (the Merkle leaf) as text",
  roles: ["technician", "integrator"],
  audit: "read",
  streams: false,
  parse(p) {
    onlyKeys(p, ["seq"]);
    return { seq: reqInt(p, "seq", 0, MAX_SEQ) };
  },
  target: (p) => String(p.seq),
  async run(p, call) {
    const l = ledger(call);
    const r = getRecord(l, p.seq);
    const bytes = l.recordBytes(p.seq);
    return { record: recordJson(r), canonical: bytes ? Buffer.from(bytes).toString("utf8") : null };
  },
};

const records: MethodSpec<{ from?: number; count: number }> = {
  name: "audit.records",
  summary: `a range of records (at most ${MAX_RECORDS_PER_CALL}); the newest by default`,
  roles: ["technician"],
  audit: "read",
  streams: false,
  parse(p) {
    onlyKeys(p, ["from", "count"]);
    const out: { from?: number; count: number } = { count: optInt(p, "count", 1, MAX_RECORDS_PER_CALL) ?? 20 };
    const from = optInt(p, "from", 0, MAX_SEQ);
    if (from !== undefined) out.from = from;
    return out;
  },
  async run(p, call) {
    const l = ledger(call);
    const size = l.size();
    const from = p.from ?? Math.max(0, size - p.count);
    const to = Math.min(size, from + p.count);
    const list: JsonValue[] = [];
    for (let seq = from; seq < to; seq++) list.push(recordJson(getRecord(l, seq)));
    return { from, size, records: list };
  },
};

const proof: MethodSpec<{ seq: number; treeSize?: number }> = {
  name: "audit.proof",
  summary: "inclusion proof of one record in a signed tree size (RFC 9162)",
  roles: ["technician", "integrator"],
  audit: "read",
  streams: false,
  parse(p) {
    onlyKeys(p, ["seq", "treeSize"]);
    const out: { seq: number; treeSize?: number } = { seq: reqInt(p, "seq", 0, MAX_SEQ) };
    const treeSize = optInt(p, "treeSize", 1, MAX_SEQ);
    if (treeSize !== undefined) out.treeSize = treeSize;
    return out;
  },
  target: (p) => String(p.seq),
  async run(p, call) {
    const l = ledger(call);
    const checkpoint = l.latestCheckpoint();
    const signedSize = checkpointSize(checkpoint);
    const treeSize = p.treeSize ?? signedSize;
    if (p.seq >= treeSize) {
      throw new SealboxError("NOT_FOUND", `record ${p.seq} is not in a tree of size ${treeSize} (the latest signed checkpoint covers ${signedSize})`, {
        details: { seq: p.seq, treeSize, signedSize },
      });
    }
    if (treeSize > l.size()) throw new SealboxError("NOT_FOUND", `the log has only ${l.size()} records`, { details: { treeSize } });
    const bytes = l.recordBytes(p.seq);
    const path = l.inclusionProof(p.seq, treeSize);
    const signed = treeSize === signedSize && checkpoint !== undefined;
    return {
      seq: p.seq,
      treeSize,
      canonical: bytes ? Buffer.from(bytes).toString("utf8") : null,
      proof: path.map(b64),
      checkpoint: signed ? checkpoint : null,
      // The whole excerpt as a C2SP tlog-proof, verifiable offline with the box's public key.
      tlogProof: signed ? formatTlogProof({ ...(bytes ? { extra: bytes } : {}), index: p.seq, proof: path, checkpoint }) : null,
    };
  },
};

const consistency: MethodSpec<{ from: number; to?: number }> = {
  name: "audit.consistency",
  summary: "consistency proof between two tree sizes (RFC 9162)",
  roles: ["technician", "integrator"],
  audit: "read",
  streams: false,
  parse(p) {
    onlyKeys(p, ["from", "to"]);
    const out: { from: number; to?: number } = { from: reqInt(p, "from", 1, MAX_SEQ) };
    const to = optInt(p, "to", 1, MAX_SEQ);
    if (to !== undefined) out.to = to;
    return out;
  },
  target: (p) => `${p.from}..${p.to ?? "head"}`,
  async run(p, call) {
    const l = ledger(call);
    const checkpoint = l.latestCheckpoint();
    const to = p.to ?? checkpointSize(checkpoint);
    if (p.from > to || to > l.size()) {
      throw new SealboxError("BAD_REQUEST", `cannot prove ${p.from} → ${to}: sizes must satisfy from ≤ to ≤ ${l.size()}`);
    }
    return {
      from: p.from,
      to,
      proof: l.consistencyProof(p.from, to).map(b64),
      checkpoint: to === checkpointSize(checkpoint) ? (checkpoint ?? null) : null,
    };
  },
};

const exportBundle: MethodSpec<{ outDir: string; from?: number; to?: number }> = {
  name: "audit.export",
  summary: "write an offline-verifiable bundle into a directory on the box",
  roles: ["technician"],
  audit: "write",
  streams: false,
  parse(p) {
    onlyKeys(p, ["outDir", "from", "to"]);
    const outDir = reqString(p, "outDir", 4096);
    if (!outDir.startsWith("/")) throw new SealboxError("BAD_REQUEST", "params.outDir: expected an absolute path (the daemon's working directory is not yours)");
    const out: { outDir: string; from?: number; to?: number } = { outDir };
    const from = optInt(p, "from", 0, MAX_SEQ);
    if (from !== undefined) out.from = from;
    const to = optInt(p, "to", 0, MAX_SEQ);
    if (to !== undefined) out.to = to;
    return out;
  },
  target: (p) => p.outDir,
  async run(p, call) {
    const exporter = call.services.exporter;
    if (!exporter) throw new SealboxError("UNSUPPORTED", "export over the socket is not available in this build; use `sealbox audit export --state DIR`");
    return exporter.exportBundle(p, call.actor);
  },
};

const annotate: MethodSpec<{ text: string; target?: string; details?: JsonObject }> = {
  name: "audit.annotate",
  summary: "write a site event into the log (e.g. 'breaker 4 opened for maintenance')",
  roles: ["technician", "integrator"],
  audit: "self",
  streams: false,
  parse(p) {
    onlyKeys(p, ["text", "target", "details"]);
    const out: { text: string; target?: string; details?: JsonObject } = { text: reqString(p, "text", MAX_ANNOTATION_CHARS) };
    const target = optString(p, "target", 256);
    if (target !== undefined) out.target = target;
    const details = optObject(p, "details");
    if (details !== undefined) out.details = details;
    return out;
  },
  target: (p) => p.target ?? "-",
  async run(p, call) {
    // The annotation is its own record: the site event, notarised with the
    // same proofs as everything else the box does.
    const receipt = await call.services.audit.append({
      actor: call.actor,
      category: "site",
      action: "annotate",
      target: p.target ?? "-",
      outcome: "info",
      details: { ...(p.details ?? {}), text: p.text },
    });
    return { seq: receipt.seq, treeSize: receipt.treeSize, checkpoint: receipt.checkpoint, auditSeq: [receipt.seq] };
  },
};

const tail: MethodSpec<{ from?: number; count: number; follow: boolean }> = {
  name: "audit.tail",
  summary: "stream records from a sequence number (the newest by default); follow: keep streaming new ones",
  roles: ["technician"],
  audit: "write",
  streams: true,
  parse(p) {
    onlyKeys(p, ["from", "count", "follow"]);
    const out: { from?: number; count: number; follow: boolean } = {
      count: optInt(p, "count", 0, MAX_RECORDS_PER_CALL) ?? 10,
      follow: optBool(p, "follow") ?? false,
    };
    const from = optInt(p, "from", 0, MAX_SEQ);
    if (from !== undefined) out.from = from;
    return out;
  },
  async run(p, call) {
    const l = ledger(call);
    const signal = call.ctx.signal;
    // The newest `count` records by default; this call's own write-ahead
    // record is already among them.
    let next = p.from ?? Math.max(0, l.size() - p.count);
    let sent = 0;
    const drain = (): void => {
      const size = l.size();
      // Bounded per turn: a far-behind follower gets batches, not one huge burst.
      const stop = Math.min(size, next + MAX_RECORDS_PER_CALL);
      for (; next < stop && !signal.aborted; next++) {
        const r = l.record(next);
        if (r) {
          call.emit({ record: recordJson(r) });
          sent++;
        }
      }
    };
    if (!p.follow) {
      // A bounded one-shot answer: at most ten batches.
      for (let i = 0; i < 10 && next < l.size() && !signal.aborted; i++) drain();
      return { next, sent };
    }
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      // One batch per event-loop turn while behind, so a far-behind follower
      // never holds the loop (or the socket's buffer) with one huge burst.
      const pump = (): void => {
        timer = undefined;
        drain();
        if (next < l.size() && !signal.aborted) timer = setTimeout(pump, 0);
      };
      const unsubscribe = l.onCheckpoint(() => {
        if (timer === undefined) pump();
      });
      const finish = (): void => {
        unsubscribe();
        if (timer) clearTimeout(timer);
        resolve();
      };
      pump();
      if (signal.aborted) finish();
      else signal.addEventListener("abort", finish, { once: true });
    });
    return { next, sent };
  },
};

export const AUDIT_METHODS: readonly MethodSpec<unknown>[] = [
  defineMethod(head),
  defineMethod(record),
  defineMethod(records),
  defineMethod(proof),
  defineMethod(consistency),
  defineMethod(exportBundle),
  defineMethod(annotate),
  defineMethod(tail),
];
