// The composition root's one call for the integrators' serial lines: a
// SerialServer per configured port, each over the real device, all sharing
// the one method table. A port that cannot open yet is retried by its server
// with backoff (a USB adapter plugged in later), never fatal to the daemon.

import type { SerialPortConfig } from "../config/types.js";
import type { AuditLog } from "../ledger/types.js";
import type { Logger } from "../log.js";
import type { Dispatch } from "../rpc/types.js";
import { openSerialLink } from "../../hal/serial/open-serial-link.js";
import { loadPskFile } from "./serial-auth.js";
import { renderSerialMetrics } from "./serial-metrics.js";
import { SerialServer } from "./serial-server.js";

export interface SerialPorts {
  readonly servers: readonly SerialServer[];
  /** Prometheus text of every port's counters, for /metrics. */
  renderMetrics(): string;
  close(): Promise<void>;
}

export async function openSerialPorts(options: { ports: readonly SerialPortConfig[]; dispatch: Dispatch; audit: AuditLog; log: Logger }): Promise<SerialPorts> {
  const servers: SerialServer[] = [];
  const close = async (): Promise<void> => {
    await Promise.allSettled(servers.map((s) => s.close()));
  };
  try {
    for (const p of options.ports) {
      // The key is read before anything opens: a missing or world-readable key file stops the start.
      const psk = await loadPskFile(p.pskFile);
      const server = new SerialServer({
        port: p.path,
        role: p.role,
        psk,
        dispatch: options.dispatch,
        auditLog: options.audit,
        logger: options.log.child(`serial ${p.path}`),
        openLink: () => openSerialLink(p.path, { baudRate: p.baudRate, parity: p.parity, dataBits: p.dataBits, stopBits: p.stopBits }),
      });
      servers.push(server);
      await server.start();
    }
  } catch (e) {
    await close();
    throw e;
  }
  return {
    servers,
    renderMetrics: () => renderSerialMetrics(servers.map((s, i) => ({ port: options.ports[i]!.path, counters: s.metrics() }))),
    close,
  };
}
