// The box's metrics: what /metrics shows. The inference port and the audit
// log are wrapped once (in the composition root) so every transport's calls
// are measured the same way: time to first token and tokens per second from
// the inference port, append latency from the audit log, queue depth, ledger
// size and GPU health read at scrape time.

import type { AuditLog } from "../ledger/types.js";
import type { CallObservation } from "../rpc/methods.js";
import type { HealthPort, InferencePort, LedgerReaderPort } from "../rpc/ports.js";
import { LATENCY_BUCKETS_S, MetricsRegistry, type Counter, type Histogram } from "./metrics.js";

export interface BoxMetrics {
  registry: MetricsRegistry;
  httpRequests: Counter;
  httpRejectedConnections: Counter;
  httpBadRequests: Counter;
  rpcCalls: Counter;
  rpcDuration: Histogram;
  timeToFirstToken: Histogram;
  tokensPerSecond: Histogram;
  generatedTokens: Counter;
  appendDuration: Histogram;
  appendFailures: Counter;
  /** For MethodTableOptions.onCall. */
  observeCall(o: CallObservation): void;
}

export function createBoxMetrics(): BoxMetrics {
  const registry = new MetricsRegistry();
  const rpcCalls = registry.counter("sealbox_rpc_calls_total", "Method table calls by method, role, transport and outcome (success, failure, refused).");
  const rpcDuration = registry.histogram("sealbox_rpc_call_duration_seconds", "Time from dispatch to result, all methods.", LATENCY_BUCKETS_S);
  return {
    registry,
    httpRequests: registry.counter("sealbox_http_requests_total", "HTTP requests by role, route and status code."),
    httpRejectedConnections: registry.counter("sealbox_http_rejected_connections_total", "Connections answered 503 because the socket's connection limit was reached."),
    httpBadRequests: registry.counter("sealbox_http_bad_requests_total", "Requests refused before dispatch, by error code (malformed, too large, too slow, not UTF-8)."),
    rpcCalls,
    rpcDuration,
    timeToFirstToken: registry.histogram("sealbox_inference_time_to_first_token_seconds", "From the call to the first generated token, queueing included.", LATENCY_BUCKETS_S),
    tokensPerSecond: registry.histogram("sealbox_inference_tokens_per_second", "Generation speed of each answer.", [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]),
    generatedTokens: registry.counter("sealbox_inference_generated_tokens_total", "Tokens generated."),
    appendDuration: registry.histogram("sealbox_ledger_append_duration_seconds", "Audit append latency: until the record is durable and covered by a signed checkpoint.", LATENCY_BUCKETS_S),
    appendFailures: registry.counter("sealbox_ledger_append_failures_total", "Audit appends that failed, by error code (each refused its action)."),
    observeCall(o) {
      rpcCalls.inc({ method: o.method, role: o.role, transport: o.transport, outcome: o.outcome });
      rpcDuration.observe(o.durationMs / 1000);
    },
  };
}

/** The audit log, timed. Same contract: a rejection still means "do not act". */
export function timedAuditLog(inner: AuditLog, m: BoxMetrics): AuditLog {
  return {
    async append(event) {
      const t0 = performance.now();
      try {
        const receipt = await inner.append(event);
        m.appendDuration.observe((performance.now() - t0) / 1000);
        return receipt;
      } catch (e) {
        m.appendFailures.inc({ code: (e as { code?: string }).code ?? "INTERNAL" });
        throw e;
      }
    },
  };
}

/** The inference port, measured: time to first token and tokens per second per answer. */
export function instrumentInference(inner: InferencePort, m: BoxMetrics): InferencePort {
  const generate = <R extends { completionTokens: number }>(
    run: (onToken: (t: string) => void) => Promise<R>,
    onToken: ((t: string) => void) | undefined,
  ): Promise<R> => {
    const t0 = performance.now();
    let first: number | undefined;
    return run((t) => {
      first ??= performance.now();
      onToken?.(t);
    }).then((r) => {
      const end = performance.now();
      if (first !== undefined) {
        m.timeToFirstToken.observe((first - t0) / 1000);
        const genS = (end - first) / 1000;
        if (r.completionTokens > 1 && genS > 0) m.tokensPerSecond.observe((r.completionTokens - 1) / genS);
      }
      m.generatedTokens.inc({}, r.completionTokens);
      return r;
    });
  };
  return {
    chat: (req, o) => generate((onToken) => inner.chat(req, { ...o, onToken }), o.onToken),
    complete: (req, o) => generate((onToken) => inner.complete(req, { ...o, onToken }), o.onToken),
    embed: (req, o) => inner.embed(req, o),
    status: () => inner.status(),
  };
}

export interface ScrapeSources {
  inference?: () => InferencePort | undefined;
  ledger?: () => LedgerReaderPort | undefined;
  health?: () => HealthPort | undefined;
  /** Open connections per role. */
  connections?: () => Record<string, number>;
  ready?: () => boolean;
}

const HEALTH_STATES = ["ok", "degraded", "critical"] as const;

function asObject(v: unknown): { [key: string]: unknown } | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as { [key: string]: unknown }) : undefined;
}

/** Gauges read at scrape time. */
export function addScrapeCollectors(m: BoxMetrics, s: ScrapeSources): void {
  const r = m.registry;
  r.collect({ name: "sealbox_ready", help: "1 when the box answers (ledger open, model loaded if configured).", collect: () => [{ value: s.ready?.() ? 1 : 0 }] });
  r.collect({
    name: "sealbox_inference_queue_depth",
    help: "Requests waiting for a free sequence.",
    collect: () => {
      const st = s.inference?.()?.status();
      return st ? [{ value: st.queueDepth }] : [];
    },
  });
  r.collect({
    name: "sealbox_inference_running",
    help: "Requests generating now.",
    collect: () => {
      const st = s.inference?.()?.status();
      return st ? [{ value: st.running }] : [];
    },
  });
  r.collect({
    name: "sealbox_model_loaded",
    help: "1 when a model is loaded and ready, by model SHA-256.",
    collect: () => {
      const st = s.inference?.()?.status();
      if (!st) return [];
      return [{ labels: { sha256: st.model?.sha256 ?? "none", state: st.state }, value: st.state === "ready" ? 1 : 0 }];
    },
  });
  r.collect({
    name: "sealbox_ledger_records",
    help: "Records in the audit ledger.",
    collect: () => {
      const l = s.ledger?.();
      return l ? [{ value: l.size() }] : [];
    },
  });
  r.collect({
    name: "sealbox_ledger_checkpoint_size",
    help: "Tree size covered by the latest signed checkpoint.",
    collect: () => {
      const l = s.ledger?.();
      const line = l?.latestCheckpoint()?.split("\n")[1];
      return line && /^\d+$/.test(line) ? [{ value: Number(line) }] : [];
    },
  });
  r.collect({
    name: "sealbox_health_state",
    help: "1 for the box's current health state (ok, degraded, critical).",
    collect: () => {
      const st = s.health?.()?.status();
      const state = typeof st?.state === "string" ? st.state : undefined;
      return state ? HEALTH_STATES.map((h) => ({ labels: { state: h }, value: h === state ? 1 : 0 })) : [];
    },
  });
  r.collect({
    name: "sealbox_gpu_health",
    help: "GPU health from the health monitor: 1 ok, 0.5 degraded, 0 critical or faulted (absent without a GPU reading).",
    collect: () => {
      const st = s.health?.()?.status();
      const gpu = asObject(st?.gpu);
      if (!gpu) return [];
      const reasons = Array.isArray(st?.reasons) ? st.reasons.map(asObject).filter((x) => x?.source === "gpu") : [];
      const faults = Array.isArray(gpu.faults) ? gpu.faults.length : 0;
      const critical = faults > 0 || reasons.some((x) => x?.severity === "critical");
      return [{ value: critical ? 0 : reasons.length > 0 ? 0.5 : 1 }];
    },
  });
  const gpuGauge = (name: string, help: string, field: string): void =>
    r.collect({
      name,
      help,
      collect: () => {
        const gpus = asObject(s.health?.()?.status().gpu)?.gpus;
        if (!Array.isArray(gpus)) return [];
        return gpus.flatMap((g) => {
          const o = asObject(g);
          const v = o?.[field];
          return typeof v === "number" ? [{ labels: { gpu: String(o?.index ?? 0) }, value: v }] : [];
        });
      },
    });
  gpuGauge("sealbox_gpu_temperature_celsius", "GPU core temperature.", "tempC");
  gpuGauge("sealbox_gpu_memory_used_mebibytes", "GPU memory in use.", "memoryUsedMiB");
  gpuGauge("sealbox_gpu_utilization_percent", "GPU utilisation.", "utilizationPct");
  gpuGauge("sealbox_gpu_power_watts", "GPU power draw.", "powerDrawW");
  r.collect({
    name: "sealbox_http_connections",
    help: "Open connections per role socket.",
    collect: () => Object.entries(s.connections?.() ?? {}).map(([role, n]) => ({ labels: { role }, value: n })),
  });
}
