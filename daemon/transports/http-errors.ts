// Errors on the wire: every HTTP error is JSON, OpenAI's shape
// ({"error":{"message","type","code"}}) so existing clients show it, with the
// registry's code and status, whether a retry can succeed, and details.

import { ERRORS, SealboxError, toSealboxError, type ErrorCode } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";

/** OpenAI's error "type" for a status class. */
export function errorType(httpStatus: number): string {
  if (httpStatus === 401) return "authentication_error";
  if (httpStatus === 403) return "permission_error";
  if (httpStatus === 404) return "not_found_error";
  if (httpStatus === 429) return "rate_limit_error";
  if (httpStatus === 503) return "service_unavailable";
  if (httpStatus >= 500) return "server_error";
  return "invalid_request_error";
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; type: string; retryable: boolean; details?: JsonValue };
}

export function errorBody(e: unknown): ErrorBody {
  const err = toSealboxError(e);
  const spec = ERRORS[err.code];
  const body: ErrorBody = { error: { code: err.code, message: err.message, type: errorType(spec.httpStatus), retryable: spec.retryable } };
  if (err.details) {
    try {
      body.error.details = JSON.parse(JSON.stringify(err.details)) as JsonValue;
    } catch {
      // Details that cannot be serialised are left out rather than breaking the answer.
    }
  }
  return body;
}

export function httpStatusOf(e: unknown): number {
  return ERRORS[toSealboxError(e).code].httpStatus;
}

/**
 * A complete raw HTTP/1.1 response for the places that have a socket but no
 * ServerResponse (a refused connection, a request node's parser rejected).
 * Connection: close — the socket is ended right after.
 */
export function rawErrorResponse(code: ErrorCode, message: string): string {
  const spec = ERRORS[code];
  const body = JSON.stringify(errorBody(new SealboxError(code, message)));
  const reason = { 400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large", 431: "Request Header Fields Too Large", 503: "Service Unavailable" }[spec.httpStatus as 400] ?? "Error";
  return (
    `HTTP/1.1 ${spec.httpStatus} ${reason}\r\n` +
    "Content-Type: application/json; charset=utf-8\r\n" +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    (spec.retryable ? "Retry-After: 1\r\n" : "") +
    "Connection: close\r\n\r\n" +
    body
  );
}
