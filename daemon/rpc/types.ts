// The seam between transports (HTTP socket, serial line) and the one method
// table. A transport authenticates its peer, decides the role, and calls
// dispatch(); the method table checks the role, audits the call and runs it.

import type { JsonValue } from "../ledger/types.js";

export type Role = "operator" | "technician" | "integrator" | "admin";
export const ROLES: readonly Role[] = ["operator", "technician", "integrator", "admin"];

export interface CallContext {
  role: Role;
  /** "http-socket", "serial", "cli", "internal". */
  transport: string;
  /** Who: "uid=1000", "/dev/ttyS0", "-". */
  peer: string;
  /** Aborted when the caller goes away (connection closed, cancel frame). */
  signal: AbortSignal;
  /** For streaming methods: called with each chunk (e.g. a token) before the final result. */
  onChunk?: (chunk: JsonValue) => void;
}

export type Dispatch = (method: string, params: JsonValue, ctx: CallContext) => Promise<JsonValue>;
