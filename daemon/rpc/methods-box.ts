// status, model.*, diode.status, rpc.describe: what the box is and how it is.

import { SealboxError } from "../errors.js";
import type { AuditRecord, JsonValue } from "../ledger/types.js";
import { checkpointSize } from "./methods-audit.js";
import { defineMethod, type MethodSpec, type Services } from "./method-spec.js";
import { onlyKeys, reqString, noParams } from "./params.js";
import type { JsonObject, LedgerReaderPort } from "./ports.js";

/** How far back status looks for the last export, in records. */
const EXPORT_SCAN_RECORDS = 5000;

function isExport(r: AuditRecord): boolean {
  return (r.action === "export" || r.action.endsWith(".export") || r.action === "audit.export") && r.outcome === "success";
}

// The last export changes rarely; remember where we looked so a dashboard
// that polls does not rescan the same records.
const exportScan = new WeakMap<LedgerReaderPort, { scannedTo: number; last: AuditRecord | undefined }>();

export function lastExport(l: LedgerReaderPort): AuditRecord | undefined {
  const size = l.size();
  const memo = exportScan.get(l) ?? { scannedTo: 0, last: undefined };
  const floor = Math.max(memo.scannedTo, size - EXPORT_SCAN_RECORDS);
  let found: AuditRecord | undefined;
  for (let seq = size - 1; seq >= floor && !found; seq--) {
    const r = l.record(seq);
    if (r && isExport(r)) found = r;
  }
  const next = { scannedTo: size, last: found ?? memo.last };
  exportScan.set(l, next);
  return next.last;
}

function ledgerStatus(l: LedgerReaderPort | undefined): JsonObject | null {
  if (!l) return null;
  const size = l.size();
  const checkpoint = l.latestCheckpoint();
  const covered = checkpointSize(checkpoint);
  const lastCovered = covered > 0 ? l.record(covered - 1) : undefined;
  const exp = lastExport(l);
  return {
    size,
    checkpointSize: covered,
    lastCheckpointTime: lastCovered?.time ?? null,
    checkpoint: checkpoint ?? null,
    lastExport: exp ? { seq: exp.seq, time: exp.time, target: exp.target ?? "-" } : null,
  };
}

function safely(name: string, services: Services, read: () => JsonValue): JsonValue {
  // One broken part must not blank the dashboard: say what failed instead.
  try {
    return read();
  } catch (e) {
    services.log?.warn(`status: ${name} failed`, { error: e instanceof Error ? e.message : String(e) });
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

export function boxStatus(services: Services): JsonObject {
  const box = services.box;
  const startedMs = box ? Date.parse(box.startedAt) : NaN;
  const inference = services.inference ? (safely("inference", services, () => JSON.parse(JSON.stringify(services.inference!.status())) as JsonValue)) : null;
  return {
    box: box
      ? { id: box.boxId, version: box.version, startedAt: box.startedAt, uptimeS: Number.isFinite(startedMs) ? Math.round((Date.now() - startedMs) / 1000) : null }
      : null,
    key: box?.key ? { name: box.key.name, origin: box.key.origin, keyId: box.key.keyId } : null,
    ledger: safely("ledger", services, () => ledgerStatus(services.ledger)),
    inference,
    health: services.health ? safely("health", services, () => services.health!.status()) : null,
    diode: services.diode ? safely("diode", services, () => services.diode!.status()) : null,
    ...(services.statusExtras ? (safely("extras", services, () => services.statusExtras!()) as JsonObject) : {}),
  };
}

const status: MethodSpec<Record<string, never>> = {
  name: "status",
  summary: "one-screen state of the box: key, ledger, model, queue, health, diode",
  roles: ["operator", "technician", "integrator"],
  audit: "read",
  streams: false,
  parse: noParams,
  async run(_p, call) {
    return boxStatus(call.services);
  },
};

const modelList: MethodSpec<Record<string, never>> = {
  name: "model.list",
  summary: "models stored on the box, and which one is loaded",
  roles: ["operator", "technician", "integrator"],
  audit: "read",
  streams: false,
  parse: noParams,
  async run(_p, call) {
    const { models, inference } = call.services;
    const list: JsonObject[] = models ? (JSON.parse(JSON.stringify(await models.list())) as JsonObject[]) : [];
    // The loaded model may not be in the store (the demo model is generated, not imported).
    const loaded = inference?.status().model;
    if (loaded && !list.some((m) => m.sha256 === loaded.sha256)) {
      list.unshift({ sha256: loaded.sha256, name: loaded.name, loaded: true, demo: loaded.demo ?? false });
    }
    return { models: list };
  },
};

const modelImport: MethodSpec<{ path: string; manifestPath: string }> = {
  name: "model.import",
  summary: "import a model file on the box with its signed manifest",
  roles: ["technician"],
  audit: "self",
  streams: false,
  category: "model",
  parse(p) {
    onlyKeys(p, ["path", "manifestPath"]);
    const out = { path: reqString(p, "path", 4096), manifestPath: reqString(p, "manifestPath", 4096) };
    if (!out.path.startsWith("/") || !out.manifestPath.startsWith("/")) {
      throw new SealboxError("BAD_REQUEST", "params.path and params.manifestPath: expected absolute paths on the box");
    }
    return out;
  },
  target: (p) => p.path,
  async run(p, call) {
    const models = call.services.models;
    if (!models) throw new SealboxError("UNSUPPORTED", "model import over the socket is not available in this build; use `sealbox model import`");
    return models.import(p, call.actor);
  },
};

const diodeStatus: MethodSpec<Record<string, never>> = {
  name: "diode.status",
  summary: "the diode sender: link, rate, what was sent, the carousel",
  roles: ["technician"],
  audit: "read",
  streams: false,
  parse: noParams,
  async run(_p, call) {
    return call.services.diode ? call.services.diode.status() : { enabled: false };
  },
};

export const BOX_METHODS: readonly MethodSpec<unknown>[] = [
  defineMethod(status),
  defineMethod(modelList),
  defineMethod(modelImport),
  defineMethod(diodeStatus),
];
