// TPM transport spec strings (documented in docs/tpm.md), parsed purely:
//   device:/dev/tpmrm0                   a TPM character device (default path /dev/tpmrm0)
//   swtpm:host=127.0.0.1,port=2321       swtpm's data port over TCP, mssim framing
//   swtpm:path=/run/swtpm/data.sock      the same framing over a unix socket
//   socket:/run/swtpm/data.sock          raw TPM commands over a unix socket (swtpm socket --server type=unixio)
//   swtpm-pipe:/var/lib/sealbox/tpm      start our own `swtpm chardev --fd 3` with its state in that directory
// Options common to all: ",timeout_ms=N" (swtpm: also ",locality=N").

import { SealboxError } from "../../../daemon/errors.js";

export type TransportSpec =
  | { kind: "device"; path: string; timeoutMs?: number }
  | { kind: "swtpm-tcp"; host: string; port: number; locality: number; timeoutMs?: number }
  | { kind: "swtpm-unix"; path: string; locality: number; timeoutMs?: number }
  | { kind: "socket"; path: string; timeoutMs?: number }
  | { kind: "swtpm-pipe"; stateDir: string; timeoutMs?: number };

function bad(spec: string, why: string): SealboxError {
  return new SealboxError("BAD_ARGUMENT", `TPM spec '${spec}': ${why} (expected device:PATH, swtpm:host=H,port=P, swtpm:path=SOCK, socket:SOCK or swtpm-pipe:DIR)`);
}

function parseOptions(spec: string, text: string, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (text === "") return out;
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw bad(spec, `'${part}' is not key=value`);
    const key = part.slice(0, eq);
    if (!allowed.includes(key)) throw bad(spec, `unknown option '${key}'`);
    if (out.has(key)) throw bad(spec, `option '${key}' given twice`);
    out.set(key, part.slice(eq + 1));
  }
  return out;
}

function intOption(spec: string, opts: Map<string, string>, key: string, min: number, max: number): number | undefined {
  const v = opts.get(key);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw bad(spec, `${key} must be an integer ${min}..${max}, got '${v}'`);
  return Number(v);
}

/** Splits "PATH,timeout_ms=5" into the path and its options (paths with commas are not supported). */
function pathAndOptions(spec: string, rest: string, allowed: readonly string[]): { path: string; opts: Map<string, string> } {
  const comma = rest.indexOf(",");
  const path = comma < 0 ? rest : rest.slice(0, comma);
  const opts = parseOptions(spec, comma < 0 ? "" : rest.slice(comma + 1), allowed);
  return { path, opts };
}

function withTimeout<T extends object>(value: T, timeoutMs: number | undefined): T & { timeoutMs?: number } {
  return timeoutMs === undefined ? value : { ...value, timeoutMs };
}

export function parseTransportSpec(spec: string): TransportSpec {
  const colon = spec.indexOf(":");
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? "" : spec.slice(colon + 1);
  const TIMEOUT_MAX = 600_000;
  switch (kind) {
    case "device": {
      const { path, opts } = pathAndOptions(spec, rest, ["timeout_ms"]);
      const p = path === "" ? "/dev/tpmrm0" : path;
      if (!p.startsWith("/")) throw bad(spec, "the device path must be absolute");
      return withTimeout({ kind: "device", path: p }, intOption(spec, opts, "timeout_ms", 1, TIMEOUT_MAX));
    }
    case "swtpm": {
      const opts = parseOptions(spec, rest, ["host", "port", "path", "locality", "timeout_ms"]);
      const locality = intOption(spec, opts, "locality", 0, 4) ?? 0;
      const timeoutMs = intOption(spec, opts, "timeout_ms", 1, TIMEOUT_MAX);
      const path = opts.get("path");
      if (path !== undefined) {
        if (opts.has("host") || opts.has("port")) throw bad(spec, "give either path= or host=/port=, not both");
        if (path === "") throw bad(spec, "path= is empty");
        return withTimeout({ kind: "swtpm-unix", path, locality }, timeoutMs);
      }
      const port = intOption(spec, opts, "port", 1, 65535);
      if (port === undefined) throw bad(spec, "port= is required");
      const host = opts.get("host") ?? "127.0.0.1";
      if (host === "") throw bad(spec, "host= is empty");
      return withTimeout({ kind: "swtpm-tcp", host, port, locality }, timeoutMs);
    }
    case "socket": {
      const { path, opts } = pathAndOptions(spec, rest, ["timeout_ms"]);
      if (path === "") throw bad(spec, "a socket path is required");
      return withTimeout({ kind: "socket", path }, intOption(spec, opts, "timeout_ms", 1, TIMEOUT_MAX));
    }
    case "swtpm-pipe": {
      const { path, opts } = pathAndOptions(spec, rest, ["timeout_ms"]);
      if (path === "") throw bad(spec, "a state directory is required");
      return withTimeout({ kind: "swtpm-pipe", stateDir: path }, intOption(spec, opts, "timeout_ms", 1, TIMEOUT_MAX));
    }
    default:
      throw bad(spec, `unknown kind '${kind}'`);
  }
}

export function formatTransportSpec(s: TransportSpec): string {
  const t = s.timeoutMs === undefined ? "" : `,timeout_ms=${s.timeoutMs}`;
  switch (s.kind) {
    case "device":
      return `device:${s.path}${t}`;
    case "swtpm-tcp":
      return `swtpm:host=${s.host},port=${s.port}${s.locality ? `,locality=${s.locality}` : ""}${t}`;
    case "swtpm-unix":
      return `swtpm:path=${s.path}${s.locality ? `,locality=${s.locality}` : ""}${t}`;
    case "socket":
      return `socket:${s.path}${t}`;
    case "swtpm-pipe":
      return `swtpm-pipe:${s.stateDir}${t}`;
  }
}
