// What one entry of the method table is. A method declares who may call it,
// how its calls are audited, whether it streams, how to read its parameters,
// and what it does. daemon/rpc/methods.ts runs every call through the same
// path: role check, parameter check, audit, run.

import type { Actor, AuditLog, JsonValue } from "../ledger/types.js";
import type { Logger } from "../log.js";
import type {
  BoxInfo,
  DiodePort,
  ExportPort,
  HealthPort,
  InferencePort,
  JsonObject,
  LedgerReaderPort,
  ModelPort,
} from "./ports.js";
import type { CallContext, Role } from "./types.js";

/**
 * How a call is recorded in the ledger (besides refusals and bad parameters,
 * which are always recorded by the table):
 * - "read":  no side effect; one record with the outcome is written after the
 *            read and BEFORE the result is returned: if it cannot be written,
 *            the caller gets the ledger's error instead of the data.
 * - "write": a side effect; a write-ahead "requested" record before it runs
 *            (not durable → not run), an outcome record after.
 * - "self":  the service the method calls writes its own records with the
 *            caller as actor (inference provenance, annotations, model
 *            import); the table adds a "failure" record when the call fails.
 */
export type AuditKind = "read" | "write" | "self";

/** The services a method may use; each optional except the audit log. */
export interface Services {
  audit: AuditLog;
  ledger?: LedgerReaderPort;
  exporter?: ExportPort;
  inference?: InferencePort;
  models?: ModelPort;
  diode?: DiodePort;
  health?: HealthPort;
  box?: BoxInfo;
  /** Extra facts for `status` (readiness, transports). */
  statusExtras?: () => JsonObject;
  log?: Logger;
}

export interface MethodCall {
  ctx: CallContext;
  actor: Actor;
  services: Services;
  /** Sends one streamed chunk to the caller (no-op when the caller does not stream). */
  emit(chunk: JsonValue): void;
}

export interface MethodSpec<P = unknown> {
  name: string;
  summary: string;
  /** Roles allowed besides admin (admin may call everything). */
  roles: readonly Role[];
  audit: AuditKind;
  /** Whether it sends chunks through ctx.onChunk before its result. */
  streams: boolean;
  /** Category of the table's own records. Defaults to "rpc". */
  category?: string;
  /** Reads and checks the parameters; throws BAD_REQUEST naming the parameter. */
  parse(params: JsonObject): P;
  /** What the call acts on, for the record's target field. Defaults to "-". */
  target?(params: P): string;
  /** Runs the call. A result may carry auditSeq: the sequence numbers its service recorded. */
  run(params: P, call: MethodCall): Promise<JsonObject>;
}

/** Keeps a method's parameter type while storing it in a list of methods. */
export function defineMethod<P>(spec: MethodSpec<P>): MethodSpec<unknown> {
  return spec as unknown as MethodSpec<unknown>;
}
