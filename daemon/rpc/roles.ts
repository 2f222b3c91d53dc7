// Who may call what. A method names the roles allowed to call it; admin may
// call everything. The transport decides the caller's role (the socket a
// request came in on, the serial port's key) and the method table checks it
// here, before anything runs.

import { SealboxError } from "../errors.js";
import { ROLES, type Role } from "./types.js";

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

/** The roles a method admits, admin always among them (admin may do everything). */
export function effectiveRoles(allowed: readonly Role[]): Role[] {
  const set = new Set<Role>(allowed);
  set.add("admin");
  return ROLES.filter((r) => set.has(r));
}

export function mayCall(role: Role, allowed: readonly Role[]): boolean {
  return effectiveRoles(allowed).includes(role);
}

/** "technician or admin", "operator, integrator or admin". */
export function describeRoles(roles: readonly Role[]): string {
  if (roles.length <= 1) return roles.join("");
  return `${roles.slice(0, -1).join(", ")} or ${roles[roles.length - 1]}`;
}

/**
 * The FORBIDDEN error for a refused call. Its message names the method, the
 * role the caller has and the roles it would need, so a person knows which
 * socket (or which group membership) to use instead.
 */
export function forbidden(method: string, role: Role, allowed: readonly Role[]): SealboxError {
  const needed = effectiveRoles(allowed);
  return new SealboxError(
    "FORBIDDEN",
    `${method} needs the ${describeRoles(needed)} role; this connection has the ${role} role`,
    { details: { method, role, requiredRoles: needed } },
  );
}
