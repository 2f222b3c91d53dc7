// What daemon/main.ts calls to bring up the interfaces from its
// configuration, in one line after the ledger is open:
//
//   const ifs = await startDaemonInterfaces({ argv, config, configSource, ledger, lifecycle, log });
//
// It picks the model (`--demo-model`, else inference.model from the
// configuration, else none), the role sockets (from the configuration: with
// `--state DIR` and no configuration file, DIR/run/<role>.sock), and the
// services the method table reaches (the ledger, the model store, and the
// health monitor and diode sender when main.ts passes them).

import { readFile } from "node:fs/promises";
import type { Config } from "../config/types.js";
import { createModelPort } from "../inference/model-port.js";
import { resolveModel } from "../inference/models.js";
import { readKeyInfo } from "../keys/key-store.js";
import type { AuditLog, LedgerReader } from "../ledger/types.js";
import type { Lifecycle } from "../lifecycle.js";
import type { Logger } from "../log.js";
import { prepareDemoModel } from "../rpc/demo-model.js";
import { createExportPort } from "../rpc/export-port.js";
import type { BoxInfo, DiodePort, ExportPort, HealthPort } from "../rpc/ports.js";
import { createBoxMetrics, timedAuditLog, type BoxMetrics } from "./box-metrics.js";
import { socketsFromConfig, startInterfaces, type Interfaces, type ModelToLoad } from "./start-interfaces.js";

export interface DaemonInterfacesOptions {
  /** sealboxd's arguments: `--demo-model` is read here. */
  argv: readonly string[];
  config: Config;
  /** "embedded defaults" or the file read: with a file, socket groups must exist. */
  configSource: string;
  ledger: AuditLog & LedgerReader & { readonly boxId: string };
  lifecycle: Lifecycle;
  log: Logger;
  /** Created early by main.ts when other parts should append through the timed audit log too. */
  metrics?: BoxMetrics;
  health?: HealthPort & { check(): unknown };
  diode?: DiodePort;
  exporter?: ExportPort;
  metricRenderers?: (() => string)[];
}

export const DEMO_MODEL_FLAG = "--demo-model";

async function version(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "?";
  } catch {
    return "?";
  }
}

export async function startDaemonInterfaces(o: DaemonInterfacesOptions): Promise<Interfaces & { audit: AuditLog; engineMode: "cuda" | "cpu" }> {
  const stateDir = o.config.paths.state;
  const metrics = o.metrics ?? createBoxMetrics();
  const audit = timedAuditLog(o.ledger, metrics);
  const inf = o.config.inference;

  let model: ModelToLoad | undefined;
  let engine: Parameters<typeof startInterfaces>[0]["engine"] = { mode: inf.mode, threads: inf.threads, contextSize: inf.contextTokens, sequences: inf.sequences, contexts: inf.contexts, kernelProbe: { timeoutMs: inf.kernelSelfTestTimeoutMs } };
  if (o.argv.includes(DEMO_MODEL_FLAG)) {
    model = await prepareDemoModel(stateDir, o.log);
    // The demo model is tiny: one CPU thread per context answers fastest, and no GPU is needed;
    // one context per sequence lets requests run side by side (docs/performance.md, "Inference").
    const sequences = Math.min(inf.sequences, 4);
    engine = { mode: "cpu", threads: 1, contextSize: 1024, sequences, contexts: sequences };
  } else if (inf.model !== undefined) {
    const r = await resolveModel(stateDir, inf.model);
    model = { name: r.manifest.name, sha256: r.sha256, path: r.path };
  } else {
    o.log.notice("no model configured: the box answers status and audit calls, inference answers MODEL_UNAVAILABLE (set inference.model, or run with --demo-model)");
  }

  const key = await readKeyInfo(stateDir).catch(() => undefined);
  const box: BoxInfo = {
    boxId: o.ledger.boxId,
    version: await version(),
    startedAt: new Date().toISOString(),
    ...(key ? { key: { name: key.name, origin: key.origin, keyId: key.key_id } } : {}),
  };

  let slotRef: Interfaces["slot"];
  const ifs = await startInterfaces({
    stateDir,
    audit,
    ledger: o.ledger,
    lifecycle: o.lifecycle,
    log: o.log,
    box,
    metrics,
    sockets: await socketsFromConfig(o.config.socket, { strictGroups: o.configSource !== "embedded defaults", log: o.log }),
    ...(model ? { model } : {}),
    engine,
    cpuFallback: o.config.health.cpuFallback,
    service: { storeText: inf.storeText, maxQueued: inf.queueDepth, maxTokens: Math.min(inf.maxTokens, Math.floor((engine.contextSize ?? inf.contextTokens) / 2)), defaultDeadlineMs: inf.deadlineMs },
    models: createModelPort({ stateDir, audit, loadedSha256: () => (slotRef?.ready ? slotRef.model.sha256 : undefined) }),
    ...(o.health ? { health: o.health } : {}),
    ...(o.diode ? { diode: o.diode } : {}),
    exporter: o.exporter ?? createExportPort(stateDir),
    ...(o.metricRenderers ? { metricRenderers: o.metricRenderers } : {}),
  });
  slotRef = ifs.slot;
  // engineMode: what inference really runs on (the demo model always runs on the CPU), so health watches the right device.
  return { ...ifs, audit, engineMode: engine?.mode ?? inf.mode };
}
