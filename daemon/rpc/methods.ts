// The one method table. Every transport (the HTTP socket, the serial line, the
// console in-process) calls dispatch(); dispatch looks the method up, checks
// the caller's role, reads the parameters, records the call in the ledger and
// runs it. Every call is recorded — allowed, refused or failed — with the
// role, transport and peer of the caller (IEC 62443-3-3 SR 2.8, NIST AU-3).
//
// No audit, no action: where a record must precede the action and cannot be
// written, the action does not run and the caller gets the ledger's error.

import { SealboxError, toSealboxError, type ErrorCode } from "../errors.js";
import type { Actor, AuditEvent, JsonValue, Outcome } from "../ledger/types.js";
import { AUDIT_METHODS } from "./methods-audit.js";
import { BOX_METHODS } from "./methods-box.js";
import { INFERENCE_METHODS } from "./methods-inference.js";
import { defineMethod, type MethodSpec, type Services } from "./method-spec.js";
import { paramsObject, noParams } from "./params.js";
import type { JsonObject } from "./ports.js";
import { effectiveRoles, forbidden, mayCall } from "./roles.js";
import type { CallContext, Dispatch, Role } from "./types.js";

/** Every method of the box, in the order `rpc.describe` lists them. */
export const ALL_METHODS: readonly MethodSpec<unknown>[] = [...INFERENCE_METHODS, ...AUDIT_METHODS, ...BOX_METHODS];

/** What a finished call looked like, for metrics. */
export interface CallObservation {
  method: string;
  role: Role;
  transport: string;
  outcome: "success" | "failure" | "refused";
  code?: ErrorCode;
  durationMs: number;
}

export interface MethodTableOptions {
  services: Services;
  /** Defaults to ALL_METHODS. */
  methods?: readonly MethodSpec<unknown>[];
  onCall?: (observation: CallObservation) => void;
}

export interface MethodDescription {
  name: string;
  summary: string;
  roles: Role[];
  streams: boolean;
  audit: string;
}

export interface MethodTable {
  dispatch: Dispatch;
  has(method: string): boolean;
  describe(): MethodDescription[];
  /**
   * Records a call a transport rejected before it reached the table (a body
   * that is not JSON, too large, too slow). The request is already refused;
   * this only makes sure the attempt is in the ledger.
   */
  recordRejected(method: string, ctx: Pick<CallContext, "role" | "transport" | "peer">, error: SealboxError): Promise<void>;
}

// Ledger errors: the outcome record cannot be written either, so do not try.
const LEDGER_CODES: ReadonlySet<string> = new Set([
  "LEDGER_FULL",
  "LEDGER_WRITE_FAILED",
  "LEDGER_READ_ONLY",
  "LEDGER_CLOSED",
  "LEDGER_CORRUPT",
  "LEDGER_ROLLBACK",
  "KEY_UNAVAILABLE",
]);

// A method name as a record target: bounded, printable.
function safeName(method: string): string {
  const clean = method.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean;
}

export function createMethodTable(options: MethodTableOptions): MethodTable {
  const methods = new Map<string, MethodSpec<unknown>>();
  // rpc.describe lists the table itself, so a client can discover it.
  const describeMethod: MethodSpec<Record<string, never>> = {
    name: "rpc.describe",
    summary: "the methods of this table, their roles and whether they stream",
    roles: ["operator", "technician", "integrator"],
    audit: "read",
    streams: false,
    parse: noParams,
    async run() {
      return { methods: describe() as unknown as JsonValue[] };
    },
  };
  for (const m of [...(options.methods ?? ALL_METHODS), defineMethod(describeMethod)]) {
    if (methods.has(m.name)) throw new Error(`method ${m.name} defined twice`);
    methods.set(m.name, m);
  }
  const services = options.services;
  const audit = services.audit;

  const describe = (): MethodDescription[] =>
    [...methods.values()].map((m) => ({
      name: m.name,
      summary: m.summary,
      roles: effectiveRoles(m.roles),
      streams: m.streams,
      audit: m.audit,
    }));

  const record = async (
    actor: Actor,
    category: string,
    action: string,
    target: string,
    outcome: Outcome,
    details: { [key: string]: JsonValue },
  ): Promise<number> => {
    const event: AuditEvent = { actor, category, action, target, outcome, details };
    return (await audit.append(event)).seq;
  };

  const failureDetails = (err: SealboxError): { [key: string]: JsonValue } => ({
    code: err.code,
    message: err.message.slice(0, 500),
  });

  const dispatch: Dispatch = async (method, params, ctx) => {
    const started = performance.now();
    const actor: Actor = { role: ctx.role, transport: ctx.transport, peer: ctx.peer };
    const observe = (outcome: CallObservation["outcome"], code?: ErrorCode): void => {
      options.onCall?.({ method: safeName(method), role: ctx.role, transport: ctx.transport, outcome, code, durationMs: performance.now() - started });
    };
    const spec = methods.get(method);

    // Unknown methods and refused roles: recorded as refused, nothing runs.
    if (!spec) {
      const err = new SealboxError("NOT_FOUND", `no method '${safeName(method)}' (rpc.describe lists them)`, {
        details: { method: safeName(method) },
      });
      observe("refused", err.code);
      throw await recordRefusal(actor, "rpc.unknown", safeName(method), err);
    }
    if (!mayCall(ctx.role, spec.roles)) {
      const err = forbidden(spec.name, ctx.role, spec.roles);
      observe("refused", err.code);
      throw await recordRefusal(actor, spec.name, "-", err);
    }

    const category = spec.category ?? "rpc";
    let parsed: unknown;
    try {
      parsed = spec.parse(paramsObject(params));
    } catch (e) {
      const err = toSealboxError(e, "BAD_REQUEST");
      await record(actor, category, spec.name, "-", "failure", failureDetails(err)).catch((ae: unknown) => {
        throw withAuditFailure(err, ae);
      });
      observe("failure", err.code);
      throw err;
    }
    const target = safeTarget(spec.target?.(parsed));
    const tableSeq: number[] = [];
    const call = {
      ctx,
      actor,
      services,
      emit: (chunk: JsonValue): void => {
        if (!ctx.signal.aborted) ctx.onChunk?.(chunk);
      },
    };

    try {
      if (spec.audit === "write") {
        // Write-ahead: durable before the action runs, or the action does not run.
        tableSeq.push(await record(actor, category, spec.name, target, "requested", {}));
        if (spec.streams) call.emit({ auditSeq: tableSeq[0]! });
      }
      if (ctx.signal.aborted) throw new SealboxError("CANCELLED", "the caller went away before the call ran");
      const result = await spec.run(parsed, call);
      if (spec.audit !== "self") {
        tableSeq.push(await record(actor, category, spec.name, target, "success", {}));
      }
      observe("success");
      return withAuditSeq(result, tableSeq);
    } catch (e) {
      const err = toSealboxError(e);
      if (!LEDGER_CODES.has(err.code)) {
        // The failure is recorded before the caller hears of it.
        try {
          await record(actor, category, spec.name, target, "failure", failureDetails(err));
        } catch (ae) {
          observe("failure", err.code);
          throw withAuditFailure(err, ae);
        }
      }
      observe("failure", err.code);
      throw err;
    }
  };

  // A refusal stays a refusal even when its record cannot be written (nothing
  // runs either way); the ledger's error rides along in the details and the log.
  async function recordRefusal(actor: Actor, action: string, target: string, err: SealboxError): Promise<SealboxError> {
    try {
      await record(actor, "rpc", action, target, "refused", failureDetails(err));
      return err;
    } catch (ae) {
      const ledgerErr = toSealboxError(ae, "LEDGER_WRITE_FAILED");
      services.log?.error("a refused call could not be recorded", { method: action, code: ledgerErr.code, error: ledgerErr.message });
      return new SealboxError(err.code, err.message, {
        cause: ledgerErr,
        details: { ...(err.details ?? {}), auditError: { code: ledgerErr.code, message: ledgerErr.message } },
      });
    }
  }

  return {
    dispatch,
    has: (m) => methods.has(m),
    describe,
    recordRejected: async (method, ctx, error) => {
      const actor: Actor = { role: ctx.role, transport: ctx.transport, peer: ctx.peer };
      const spec = methods.get(method);
      await record(actor, spec?.category ?? "rpc", spec ? spec.name : "rpc.unknown", spec ? "-" : safeName(method), "failure", failureDetails(error));
      options.onCall?.({ method: safeName(method), role: ctx.role, transport: ctx.transport, outcome: "failure", code: error.code, durationMs: 0 });
    },
  };
}

function safeTarget(target: string | undefined): string {
  if (target === undefined || target === "") return "-";
  return target.length > 256 ? `${target.slice(0, 253)}...` : target;
}

/** The caller's error stays the same; the ledger's failure rides along, never dropped. */
function withAuditFailure(err: SealboxError, auditError: unknown): SealboxError {
  const ledgerErr = toSealboxError(auditError, "LEDGER_WRITE_FAILED");
  // A refused or failed call that cannot be recorded: report the ledger's
  // error (the box is failing closed), keeping the original as the cause.
  return new SealboxError(ledgerErr.code, `${ledgerErr.message} (while recording: ${err.message})`, {
    cause: err,
    details: { ...(ledgerErr.details ?? {}), originalCode: err.code },
  });
}

function withAuditSeq(result: JsonObject, tableSeq: number[]): JsonObject {
  const own = Array.isArray(result.auditSeq) ? result.auditSeq.filter((n): n is number => typeof n === "number") : [];
  const all = [...new Set([...tableSeq, ...own])].sort((a, b) => a - b);
  return { ...result, auditSeq: all };
}
