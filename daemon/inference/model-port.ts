// The model store as the RPC method table sees it (ModelPort in
// daemon/rpc/ports.ts): list and import, for the daemon's sockets.

import type { Actor, AuditLog } from "../ledger/types.js";
import type { JsonObject, ModelInfo, ModelPort } from "../rpc/ports.js";
import { importModel } from "./model-import.js";
import { listModels } from "./models.js";

export interface ModelPortOptions {
  stateDir: string;
  audit: AuditLog;
  /** SHA-256 of the model the engine has loaded, if any. */
  loadedSha256?: () => string | undefined;
}

export function createModelPort(options: ModelPortOptions): ModelPort {
  return {
    async list(): Promise<ModelInfo[]> {
      const loaded = options.loadedSha256?.();
      return (await listModels(options.stateDir)).map((m) => ({
        sha256: m.sha256,
        name: m.manifest?.name ?? "?",
        sizeBytes: m.manifest?.sizeBytes ?? 0,
        loaded: m.sha256 === loaded,
        licence: m.manifest?.licence ?? null,
        source: m.manifest?.source ?? null,
        signedAt: m.manifest?.signedAt ?? null,
        authority: m.authority?.name ?? null,
        trusted: m.problem === null,
        problem: m.problem,
      }));
    },
    async import(req: { path: string; manifestPath: string }, actor: Actor): Promise<JsonObject> {
      const r = await importModel({ stateDir: options.stateDir, filePath: req.path, manifestPath: req.manifestPath, audit: options.audit, actor });
      return { sha256: r.sha256, name: r.manifest.name, sizeBytes: r.manifest.sizeBytes, authority: r.authority.name, alreadyPresent: r.alreadyPresent, seq: r.seq };
    },
  };
}
