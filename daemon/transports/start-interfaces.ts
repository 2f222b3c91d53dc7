// The composition root's one call for the box's interfaces: the method table
// over the box's services, the per-role HTTP sockets in front of it, the
// metrics, and the model loading in the background (the sockets answer at
// once; /readyz says 503 until the model is loaded). daemon/main.ts calls it
// after the ledger and key are open:
//
//   const metrics = createBoxMetrics();
//   const audit = timedAuditLog(ledger, metrics);   // pass this audit to every part
//   const ifs = await startInterfaces({ stateDir, audit, ledger, lifecycle, log, box, metrics, model });
//
// Everything it opens is registered with the lifecycle, so shutdown closes
// the sockets first (no new calls) and then the inference service (running
// answers end as cancelled and are recorded) before the ledger closes.

import { ROLES, type Role } from "../rpc/types.js";
import type { EngineOptions } from "../inference/engine.js";
import type { InferenceServiceOptions } from "../inference/service.js";
import type { AuditLog } from "../ledger/types.js";
import type { Lifecycle } from "../lifecycle.js";
import type { Logger } from "../log.js";
import { SYSTEM_ACTOR } from "../ledger/ledger.js";
import { InferenceSlot, type CpuFallback, type SlotModel } from "../rpc/inference-slot.js";
import { createMethodTable, type MethodTable } from "../rpc/methods.js";
import type { Services } from "../rpc/method-spec.js";
import type { BoxInfo, DiodePort, ExportPort, HealthPort, LedgerReaderPort, ModelPort } from "../rpc/ports.js";
import { addScrapeCollectors, createBoxMetrics, instrumentInference, type BoxMetrics } from "./box-metrics.js";
import type { HttpLimits, Readiness } from "./http-exchange.js";
import { resolveGroup } from "./http-listeners.js";
import { startHttpSocket, type HttpSocketServer, type SocketSpec } from "./http-socket.js";

export interface ModelToLoad extends SlotModel {
  path: string;
}

export interface InterfacesOptions {
  stateDir: string;
  /** The audit log every call is recorded in (wrap the ledger with timedAuditLog first). */
  audit: AuditLog;
  /** The ledger's read side, for audit.* and status. */
  ledger?: LedgerReaderPort;
  lifecycle: Lifecycle;
  log: Logger;
  box: BoxInfo;
  /** Defaults to DIR/run/<role>.sock for every role, mode 0660, the daemon's group. */
  sockets?: SocketSpec[];
  limits?: Partial<HttpLimits>;
  /** Created by the caller so the same metrics time the ledger's appends. Defaults to new ones. */
  metrics?: BoxMetrics;
  /** The model to load in the background; none: inference answers MODEL_UNAVAILABLE. */
  model?: ModelToLoad;
  /** Engine options (mode, threads, context, sequences). Defaults: cpu, 1 thread for the demo model. */
  engine?: Partial<Omit<EngineOptions, "modelPath" | "modelSha256">>;
  /** Service options (limits, queue, storeText). */
  service?: Partial<Omit<InferenceServiceOptions, "engine" | "audit">>;
  /**
   * health.cpu_fallback on a "cuda" box: answer on the CPU when the GPU fails
   * the start, and while the health monitor finds only the GPU critical.
   */
  cpuFallback?: boolean;
  /** The health monitor: its status for the dashboard, its check() before each answer. */
  health?: HealthPort & { check(): unknown };
  diode?: DiodePort;
  models?: ModelPort;
  exporter?: ExportPort;
  /** Extra Prometheus blocks (e.g. the serial ports' counters). */
  metricRenderers?: (() => string)[];
}

export interface Interfaces {
  table: MethodTable;
  metrics: BoxMetrics;
  server: HttpSocketServer;
  slot: InferenceSlot | undefined;
  readiness(): Readiness;
  /** Resolves when the model has loaded (or failed; see slot.status()). Immediately without a model. */
  modelLoaded: Promise<void>;
  /** Adds parts opened after the interfaces (the health monitor, the diode sender, more metrics). */
  attach(parts: { health?: HealthPort & { check(): unknown }; diode?: DiodePort; exporter?: ExportPort; metricRenderers?: (() => string)[] }): void;
}

export async function startInterfaces(o: InterfacesOptions): Promise<Interfaces> {
  const log = o.log.child("interfaces");
  const metrics = o.metrics ?? createBoxMetrics();
  let listening = false;

  // The slot is registered before the sockets, so shutdown closes the sockets
  // first (no new calls), then the inference service (running answers end and
  // are recorded) — and the model starts loading only once the sockets answer.
  let gate: { check(): unknown } | undefined = o.health;
  let slot: InferenceSlot | undefined;
  let startLoading = (): Promise<void> => Promise.resolve();
  if (o.model) {
    const model = o.model;
    const openService = async (engineOptions: InterfacesOptions["engine"]) => {
      // Loaded only when there is a model: node-llama-cpp is large, and a box without a model should not pay for it.
      const { InferenceEngine } = await import("../inference/engine.js");
      const { InferenceService } = await import("../inference/service.js");
      const engine = await InferenceEngine.open({
        modelPath: model.path,
        modelSha256: model.sha256,
        mode: "cpu",
        ...(model.demo ? { threads: 1, contextSize: 1024 } : {}),
        ...engineOptions,
        logger: log.child("engine"),
      });
      return new InferenceService({
        engine,
        audit: o.audit,
        ...o.service,
        // Read at each request, so a health monitor attached later gates answers too.
        healthGate: () => void gate?.check(),
        logger: log.child("inference"),
      });
    };
    const cpuFallback: CpuFallback | undefined =
      o.cpuFallback && o.engine?.mode === "cuda"
        ? {
            open: () => openService({ ...o.engine, mode: "cpu" }), // the kernel self-test never runs in cpu mode
            wanted: () => {
              try {
                return (gate?.check() as { cpuFallback?: boolean } | undefined)?.cpuFallback === true;
              } catch {
                return false; // critical for more than the GPU: the service's own gate refuses
              }
            },
            engaged: async (reason) => {
              await o.audit.append({ actor: SYSTEM_ACTOR, category: "inference", action: "inference.cpu-fallback", target: model.sha256, outcome: "success", details: { model: model.name, reason } });
              log.warn("answering on the CPU (health.cpu_fallback)", { model: model.name, reason });
            },
          }
        : undefined;
    const s = new InferenceSlot({ name: model.name, sha256: model.sha256, ...(model.demo ? { demo: true } : {}) }, cpuFallback);
    slot = o.lifecycle.add("inference", s);
    startLoading = () => {
      const started = performance.now();
      return s
        .load(() => openService(o.engine))
        .then(
          () => log.info("model loaded", { name: model.name, sha256: model.sha256, ms: Math.round(performance.now() - started) }),
          (e: unknown) => log.error("the model failed to load; inference is unavailable", { name: model.name, error: (e as Error).message }),
        );
    };
  }

  const readiness = (): Readiness => {
    const reasons: string[] = [];
    if (!listening) reasons.push("sockets starting");
    const st = slot?.status();
    if (st?.state === "loading") reasons.push("model loading");
    if (st?.state === "failed") reasons.push(`model failed to load: ${st.error ?? "?"}`);
    if (st?.state === "closed") reasons.push("shutting down");
    return { ready: reasons.length === 0, reasons, model: st ? st.state : "none", ...(st?.banner ? { banner: st.banner } : {}) };
  };

  const services: Services = {
    audit: o.audit,
    box: o.box,
    log,
    statusExtras: () => {
      const r = readiness();
      return { readiness: { ready: r.ready, reasons: r.reasons }, sockets: Object.fromEntries((o.sockets ?? defaultSockets(o.stateDir)).map((s) => [s.role, s.path])) };
    },
    ...(o.ledger ? { ledger: o.ledger } : {}),
    ...(slot ? { inference: instrumentInference(slot, metrics) } : {}),
    ...(o.health ? { health: o.health } : {}),
    ...(o.diode ? { diode: o.diode } : {}),
    ...(o.models ? { models: o.models } : {}),
    ...(o.exporter ? { exporter: o.exporter } : {}),
  };
  const table = createMethodTable({ services, onCall: (c) => metrics.observeCall(c) });

  const sockets = o.sockets ?? defaultSockets(o.stateDir);
  const server = o.lifecycle.add(
    "http-socket",
    await startHttpSocket({
      table,
      sockets,
      log: log.child("http"),
      metrics,
      limits: o.limits ?? {},
      readiness,
      loadedModel: () => (slot?.ready ? { name: slot.model.name, sha256: slot.model.sha256 } : undefined),
    }),
  );
  listening = true;
  addScrapeCollectors(metrics, {
    ...(slot ? { inference: () => slot } : {}),
    ...(o.ledger ? { ledger: () => o.ledger } : {}),
    health: () => services.health,
    connections: () => server.connections(),
    ready: () => readiness().ready,
  });
  for (const r of o.metricRenderers ?? []) metrics.registry.addRenderer(r);
  const modelLoaded = startLoading();
  const attach: Interfaces["attach"] = (parts) => {
    // The method table reads its services object on every call: what is attached here is seen at once.
    if (parts.health) {
      services.health = parts.health;
      gate = parts.health;
    }
    if (parts.diode) services.diode = parts.diode;
    if (parts.exporter) services.exporter = parts.exporter;
    for (const r of parts.metricRenderers ?? []) metrics.registry.addRenderer(r);
  };
  return { table, metrics, server, slot, readiness, modelLoaded, attach };
}

/**
 * The role sockets the configuration enables. With strictGroups (a
 * configuration file was read), a group that does not exist stops the start
 * (BAD_CONFIG); without (embedded defaults on a development machine), the
 * socket keeps the daemon's own group and the log says so — never wider
 * access than configured, only narrower.
 */
export async function socketsFromConfig(
  socket: Record<Role, { enabled: boolean; path: string; group: string; mode: number }>,
  options: { strictGroups: boolean; log?: Logger },
): Promise<SocketSpec[]> {
  const out: SocketSpec[] = [];
  for (const role of ROLES) {
    const s = socket[role];
    if (!s.enabled) continue;
    const spec: SocketSpec = { role, path: s.path, mode: s.mode };
    try {
      await resolveGroup(s.group);
      spec.group = s.group;
    } catch (e) {
      if (options.strictGroups) throw e;
      options.log?.warn("socket group does not exist; the socket keeps the daemon's group", { role, group: s.group, socket: s.path });
    }
    out.push(spec);
  }
  return out;
}

export function defaultSockets(stateDir: string): SocketSpec[] {
  return ROLES.map((role) => ({ role, path: `${stateDir.replace(/\/+$/, "")}/run/${role}.sock`, mode: 0o660 }));
}
