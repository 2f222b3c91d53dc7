// One registry of every error the box can report. Each key equals its code
// (a test says so); the entry maps the code to an HTTP status, a serial/CLI
// exit code and whether retrying the same call can succeed.
//
// Exit codes follow sysexits(3) where one fits, so scripts can branch on them.

export interface ErrorSpec {
  readonly code: string;
  readonly httpStatus: number;
  readonly exitCode: number;
  readonly retryable: boolean;
  readonly summary: string;
}

function spec(code: string, httpStatus: number, exitCode: number, retryable: boolean, summary: string): ErrorSpec {
  return { code, httpStatus, exitCode, retryable, summary };
}

export const ERRORS = {
  // Usage and input
  BAD_REQUEST: spec("BAD_REQUEST", 400, 64, false, "the request is malformed"),
  BAD_ARGUMENT: spec("BAD_ARGUMENT", 400, 64, false, "a command-line argument or option is wrong"),
  NOT_FOUND: spec("NOT_FOUND", 404, 66, false, "no such item"),
  TOO_LARGE: spec("TOO_LARGE", 413, 65, false, "the input is larger than the limit"),
  BAD_CONFIG: spec("BAD_CONFIG", 500, 78, false, "the configuration is invalid"),
  FORBIDDEN: spec("FORBIDDEN", 403, 77, false, "the caller's role may not call this method"),
  UNAUTHENTICATED: spec("UNAUTHENTICATED", 401, 77, false, "the caller has not authenticated"),
  UNSUPPORTED: spec("UNSUPPORTED", 501, 69, false, "not supported on this box"),

  // Ledger (no audit, no action: each of these means the action must not run)
  LEDGER_FULL: spec("LEDGER_FULL", 507, 74, false, "the ledger's storage is full; the action was not performed"),
  LEDGER_WRITE_FAILED: spec("LEDGER_WRITE_FAILED", 503, 74, false, "the ledger could not write; the action was not performed"),
  LEDGER_READ_ONLY: spec("LEDGER_READ_ONLY", 503, 74, false, "the ledger is read-only; the action was not performed"),
  LEDGER_CLOSED: spec("LEDGER_CLOSED", 503, 75, true, "the ledger is closed; the action was not performed"),
  LEDGER_CORRUPT: spec("LEDGER_CORRUPT", 500, 65, false, "the ledger's stored data is inconsistent"),
  LEDGER_ROLLBACK: spec("LEDGER_ROLLBACK", 503, 65, false, "the ledger is older than the TPM counter: it was rolled back or replaced"),
  RECORD_TOO_LARGE: spec("RECORD_TOO_LARGE", 413, 65, false, "an audit record is larger than 64 KiB; pass big payloads by SHA-256 reference"),
  RECORD_INVALID: spec("RECORD_INVALID", 400, 65, false, "an audit record is missing a field or has a field of the wrong type"),

  // Keys and the TPM
  KEY_UNAVAILABLE: spec("KEY_UNAVAILABLE", 503, 69, false, "the signing key is not available"),
  KEY_EXISTS: spec("KEY_EXISTS", 409, 73, false, "a key is already provisioned (use --force to replace it)"),
  TPM_UNAVAILABLE: spec("TPM_UNAVAILABLE", 503, 69, false, "the TPM cannot be reached"),
  TPM_ERROR: spec("TPM_ERROR", 500, 70, false, "the TPM returned an error"),
  TPM_TIMEOUT: spec("TPM_TIMEOUT", 504, 75, true, "the TPM did not answer in time"),
  TPM_PROTOCOL: spec("TPM_PROTOCOL", 502, 76, false, "the TPM's answer is malformed"),
  PCR_MISMATCH: spec("PCR_MISMATCH", 503, 77, false, "the PCRs no longer match the sealing policy: the box was changed"),

  // Verification
  VERIFY_FAILED: spec("VERIFY_FAILED", 422, 1, false, "verification failed"),
  BAD_SIGNATURE: spec("BAD_SIGNATURE", 422, 1, false, "a signature does not verify"),
  BAD_FORMAT: spec("BAD_FORMAT", 400, 65, false, "the input is not in the expected format"),

  // Inference
  BUSY: spec("BUSY", 429, 75, true, "the box is busy; retry later"),
  DEADLINE: spec("DEADLINE", 504, 75, true, "the request ran past its deadline"),
  CANCELLED: spec("CANCELLED", 499, 75, false, "the request was cancelled"),
  PROMPT_TOO_LONG: spec("PROMPT_TOO_LONG", 400, 65, false, "the prompt is longer than the limit"),
  MODEL_UNAVAILABLE: spec("MODEL_UNAVAILABLE", 503, 69, true, "no model is loaded"),
  MODEL_REJECTED: spec("MODEL_REJECTED", 422, 65, false, "the model or its manifest was rejected"),
  GPU_UNAVAILABLE: spec("GPU_UNAVAILABLE", 503, 69, false, "no usable GPU"),
  HEALTH_CRITICAL: spec("HEALTH_CRITICAL", 503, 75, true, "the box's health is critical; inference is refused"),
  INFERENCE_FAILED: spec("INFERENCE_FAILED", 500, 70, false, "inference failed"),

  // Transports
  NOT_RUNNING: spec("NOT_RUNNING", 503, 69, true, "the daemon is not running"),
  DAEMON_RUNNING: spec("DAEMON_RUNNING", 409, 75, true, "the daemon is running and owns the ledger; go through it, or stop it first"),
  PERMISSION_DENIED: spec("PERMISSION_DENIED", 403, 77, false, "no permission"),
  PROTOCOL_ERROR: spec("PROTOCOL_ERROR", 400, 76, false, "the peer broke the protocol"),
  RATE_LIMITED: spec("RATE_LIMITED", 429, 75, true, "too many attempts; wait before retrying"),
  SERIAL_ERROR: spec("SERIAL_ERROR", 502, 74, true, "the serial line failed or went away"),
  REQUEST_TIMEOUT: spec("REQUEST_TIMEOUT", 408, 75, true, "the request's headers or body did not arrive in time"),
  TOO_MANY_CONNECTIONS: spec("TOO_MANY_CONNECTIONS", 503, 75, true, "too many open connections on this socket; retry later"),
  METHOD_NOT_ALLOWED: spec("METHOD_NOT_ALLOWED", 405, 64, false, "this path does not take that HTTP method"),
  HEADERS_TOO_LARGE: spec("HEADERS_TOO_LARGE", 431, 65, false, "the request's headers are larger than the limit"),
  SOCKET_IN_USE: spec("SOCKET_IN_USE", 500, 73, false, "another process already serves this socket path"),

  // Diode
  DIODE_ERROR: spec("DIODE_ERROR", 500, 74, false, "the diode link failed"),
  DIODE_TIMEOUT: spec("DIODE_TIMEOUT", 504, 75, true, "the diode receiver did not complete in time; run it again to continue"),
  DIODE_UNRECOVERABLE: spec("DIODE_UNRECOVERABLE", 422, 65, false, "entries the receiver lacks are no longer retained by the sender"),

  INTERNAL: spec("INTERNAL", 500, 70, false, "an internal error"),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Every error the box raises on purpose: a registered code, a message for a person, and the cause. */
export class SealboxError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SealboxError";
    this.code = code;
    this.details = options.details;
  }

  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }
}

export function isSealboxError(e: unknown, code?: ErrorCode): e is SealboxError {
  return e instanceof SealboxError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into a SealboxError, keeping it as the cause. */
export function toSealboxError(e: unknown, fallback: ErrorCode = "INTERNAL"): SealboxError {
  if (e instanceof SealboxError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new SealboxError(fallback, message, { cause: e });
}
