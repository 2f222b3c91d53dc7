// openTpmTransport(spec): the one place a TPM transport is opened from a
// spec string. Only daemon/main.ts, the CLI and tests call it.

import { connect } from "node:net";
import { SealboxError } from "../../../daemon/errors.js";
import type { TpmTransport } from "../../index.js";
import { DeviceTransport } from "./device.js";
import { MssimResponseAssembler, RawResponseAssembler, encodeMssimCommand } from "./framing.js";
import { type TransportSpec, formatTransportSpec, parseTransportSpec } from "./spec.js";
import { StreamTransport } from "./stream.js";
import { openSwtpmPipe } from "./swtpm-pipe.js";

export interface OpenTransportOptions {
  /** Overrides the spec's timeout_ms. */
  timeoutMs?: number;
  /** How long to wait for a socket to connect. Defaults to 5000 ms. */
  connectTimeoutMs?: number;
}

function connectSocket(target: { path: string } | { host: string; port: number }, what: string, timeoutMs: number): Promise<import("node:net").Socket> {
  return new Promise((resolve, reject) => {
    const sock = "path" in target ? connect(target.path) : connect(target.port, target.host);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new SealboxError("TPM_TIMEOUT", `${what}: connecting took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.setNoDelay?.(true);
      resolve(sock);
    });
    sock.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new SealboxError("TPM_UNAVAILABLE", `cannot reach ${what}: ${e.code ?? e.message}`, { cause: e, details: { errno: e.code } }));
    });
  });
}

export async function openTpmTransport(specText: string | TransportSpec, options: OpenTransportOptions = {}): Promise<TpmTransport & { readonly description: string }> {
  const spec = typeof specText === "string" ? parseTransportSpec(specText) : specText;
  const timeoutMs = options.timeoutMs ?? spec.timeoutMs;
  const connectMs = options.connectTimeoutMs ?? 5000;
  const description = formatTransportSpec(spec);
  const named = <T extends TpmTransport>(t: T) => Object.assign(t, { description });
  switch (spec.kind) {
    case "device":
      return named(await DeviceTransport.open(spec.path, { timeoutMs }));
    case "swtpm-tcp":
    case "swtpm-unix": {
      const where = spec.kind === "swtpm-tcp" ? `swtpm at ${spec.host}:${spec.port}` : `swtpm at ${spec.path}`;
      const sock = await connectSocket(spec.kind === "swtpm-tcp" ? { host: spec.host, port: spec.port } : { path: spec.path }, where, connectMs);
      return named(
        new StreamTransport(sock, {
          timeoutMs,
          description: where,
          frame: (c) => encodeMssimCommand(c, spec.locality),
          newAssembler: () => new MssimResponseAssembler(),
        }),
      );
    }
    case "socket": {
      const where = `TPM socket ${spec.path}`;
      const sock = await connectSocket({ path: spec.path }, where, connectMs);
      return named(new StreamTransport(sock, { timeoutMs, description: where, newAssembler: () => new RawResponseAssembler() }));
    }
    case "swtpm-pipe":
      return named(await openSwtpmPipe(spec.stateDir, { timeoutMs }));
  }
}

export { parseTransportSpec, formatTransportSpec };
export type { TransportSpec };
