// Authentication of a serial peer (docs/serial-protocol.md §6): a pre-shared
// key per port and an HMAC-SHA-256 (RFC 2104, FIPS 198-1) challenge–response
// in both directions over the hello transcript, so each side proves the key
// over nonces of both sides and the negotiated parameters:
//
//   T     = SHA-256(HELLO payload) ‖ SHA-256(CHALLENGE payload)
//   AUTH  = HMAC-SHA-256(PSK, "sealbox-serial-v1 client" ‖ 0x00 ‖ T)
//   WELCOME = HMAC-SHA-256(PSK, "sealbox-serial-v1 server" ‖ 0x00 ‖ T)
//
// Failures are audited and rate-limited with exponential backoff per port.

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { stat, readFile } from "node:fs/promises";
import { SealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AuditLog, JsonValue } from "../ledger/types.js";

export const LABEL_CLIENT = "sealbox-serial-v1 client";
export const LABEL_SERVER = "sealbox-serial-v1 server";
export const MIN_PSK_BYTES = 16;
export const MAX_PSK_BYTES = 64;

export function authTranscript(helloPayload: Uint8Array, challengePayload: Uint8Array): Uint8Array {
  const t = new Uint8Array(64);
  t.set(createHash("sha256").update(helloPayload).digest(), 0);
  t.set(createHash("sha256").update(challengePayload).digest(), 32);
  return t;
}

function proof(label: string, psk: Uint8Array, helloPayload: Uint8Array, challengePayload: Uint8Array): Uint8Array {
  const h = createHmac("sha256", psk);
  h.update(label, "latin1");
  h.update(Uint8Array.of(0));
  h.update(authTranscript(helloPayload, challengePayload));
  return new Uint8Array(h.digest());
}

/** What the client sends in AUTH. */
export function clientProof(psk: Uint8Array, helloPayload: Uint8Array, challengePayload: Uint8Array): Uint8Array {
  return proof(LABEL_CLIENT, psk, helloPayload, challengePayload);
}

/** What the server sends in WELCOME. A different label, so one side's proof never passes for the other's. */
export function serverProof(psk: Uint8Array, helloPayload: Uint8Array, challengePayload: Uint8Array): Uint8Array {
  return proof(LABEL_SERVER, psk, helloPayload, challengePayload);
}

/** Constant-time comparison of two MACs (lengths are public). */
export function proofsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A PSK file holds the key as hex digits (32 to 128 of them); whitespace is ignored. */
export function parsePsk(text: string): Uint8Array {
  const hex = text.replace(/\s+/g, "");
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) throw new SealboxError("BAD_CONFIG", "the PSK file must hold the key as hex digits");
  const n = hex.length / 2;
  if (n < MIN_PSK_BYTES || n > MAX_PSK_BYTES) throw new SealboxError("BAD_CONFIG", `the PSK must be ${MIN_PSK_BYTES} to ${MAX_PSK_BYTES} bytes (got ${n}); 32 random bytes are recommended`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** Reads a PSK file; refuses one that other users can read or write (mode & 0o007), since the key is the port's only credential. */
export async function loadPskFile(path: string, options: { allowOtherAccess?: boolean } = {}): Promise<Uint8Array> {
  let text: string;
  try {
    const st = await stat(path);
    if (!options.allowOtherAccess && (st.mode & 0o007) !== 0) {
      throw new SealboxError("BAD_CONFIG", `PSK file ${path} is accessible to other users (mode ${(st.mode & 0o777).toString(8)}); chmod o-rwx it`);
    }
    text = await readFile(path, "utf8");
  } catch (e) {
    if (e instanceof SealboxError) throw e;
    throw new SealboxError("BAD_CONFIG", `cannot read PSK file ${path}`, { cause: e });
  }
  return parsePsk(text);
}

export interface AuthGateOptions {
  auditLog: AuditLog;
  /** The port, as recorded in the audit actor's peer. */
  peer: string;
  /** The role recorded as the actor's. Defaults to "integrator". */
  role?: string;
  logger: Logger;
  /** Backoff after the first failure; it doubles per consecutive failure. Defaults to 1000 ms. */
  initialBackoffMs?: number;
  /** Ceiling of the backoff. Defaults to 60,000 ms. */
  maxBackoffMs?: number;
  now?: () => number;
}

export type AuthFailureReason = "bad-mac" | "malformed-auth" | "unsupported-version" | "malformed-hello";

/**
 * Per-port gate: decides whether a handshake may start (backoff after
 * failures), and audits every outcome. Outlives link re-opens and HELLO
 * resets, so neither resets the backoff; only a success does.
 */
export class AuthGate {
  private readonly options: Required<Omit<AuthGateOptions, "auditLog" | "logger" | "peer" | "role">>;
  private consecutiveFailures = 0;
  private lockedUntilMs = 0;
  private rejectedDuringBackoff = 0;
  failures = 0;
  successes = 0;
  rateLimited = 0;

  constructor(private readonly deps: AuthGateOptions) {
    this.options = {
      initialBackoffMs: deps.initialBackoffMs ?? 1000,
      maxBackoffMs: deps.maxBackoffMs ?? 60_000,
      now: deps.now ?? Date.now,
    };
  }

  /** 0 when a handshake may start now, else how long the peer must wait. Counts each refusal. */
  retryAfterMs(): number {
    const wait = this.lockedUntilMs - this.options.now();
    if (wait <= 0) return 0;
    this.rateLimited++;
    this.rejectedDuringBackoff++;
    return wait;
  }

  /** Records a failed handshake: starts or lengthens the backoff and audits it. Never throws: the handshake is refused either way. */
  async fail(reason: AuthFailureReason, details: { [k: string]: JsonValue } = {}): Promise<number> {
    this.failures++;
    this.consecutiveFailures++;
    const backoffMs = Math.min(this.options.maxBackoffMs, this.options.initialBackoffMs * 2 ** Math.min(30, this.consecutiveFailures - 1));
    this.lockedUntilMs = this.options.now() + backoffMs;
    const rejected = this.rejectedDuringBackoff;
    this.rejectedDuringBackoff = 0;
    this.deps.logger.warn("serial authentication failed", { port: this.deps.peer, reason, consecutiveFailures: this.consecutiveFailures, backoffMs });
    try {
      await this.deps.auditLog.append({
        actor: { role: this.deps.role ?? "integrator", transport: "serial", peer: this.deps.peer },
        category: "auth",
        action: "serial.auth",
        target: this.deps.peer,
        outcome: "refused",
        details: { ...details, reason, consecutiveFailures: this.consecutiveFailures, backoffMs, rejectedDuringBackoff: rejected },
      });
    } catch (e) {
      this.deps.logger.error("could not audit a serial authentication failure", { port: this.deps.peer, error: e });
    }
    return backoffMs;
  }

  /** Audits a successful handshake. Rejects (with the ledger's error) when it cannot be audited: then the session must not open. */
  async succeed(details: { [k: string]: JsonValue }): Promise<void> {
    await this.deps.auditLog.append({
      actor: { role: this.deps.role ?? "integrator", transport: "serial", peer: this.deps.peer },
      category: "auth",
      action: "serial.auth",
      target: this.deps.peer,
      outcome: "success",
      details: { ...details, previousFailures: this.consecutiveFailures },
    });
    this.successes++;
    this.consecutiveFailures = 0;
    this.lockedUntilMs = 0;
    this.rejectedDuringBackoff = 0;
  }
}
