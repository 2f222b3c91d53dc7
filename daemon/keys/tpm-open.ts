// For the composition root (daemon/main.ts) and the CLI: open the TPM named by
// a spec string, unseal the signing key, and hand back the counter for the
// anti-rollback check — one object to register with the lifecycle.

import type { Logger } from "../log.js";
import { Tpm } from "../../hal/tpm/tpm.js";
import { openTpmTransport } from "../../hal/tpm/transport/open.js";
import { TpmNvCounter } from "./tpm-counter.js";
import { type TpmSigner, openTpmSigner } from "./tpm-key.js";

export interface OpenedTpmKey {
  /** The transport's description, e.g. "device:/dev/tpmrm0". */
  readonly description: string;
  readonly tpm: Tpm;
  readonly signer: TpmSigner;
  readonly counter: TpmNvCounter;
  /** Forgets the key and closes the TPM transport. Idempotent. */
  close(): Promise<void>;
}

export interface OpenTpmKeyOptions {
  /** Longest wait for one TPM response. Defaults to the spec's timeout_ms, else 30 000 ms. */
  timeoutMs?: number;
  log?: Logger;
}

export async function openTpmKey(stateDir: string, spec: string, options: OpenTpmKeyOptions = {}): Promise<OpenedTpmKey> {
  const transport = await openTpmTransport(spec, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
  try {
    const signer = await openTpmSigner(stateDir, transport, { log: options.log });
    const tpm = new Tpm(transport, { log: options.log });
    let closing: Promise<void> | undefined;
    return {
      description: transport.description,
      tpm,
      signer,
      counter: new TpmNvCounter(tpm, signer.meta.nv_index),
      close: () =>
        (closing ??= (async () => {
          signer.close();
          await transport.close();
        })()),
    };
  } catch (e) {
    await transport.close().catch((closeError: unknown) => options.log?.warn("closing the TPM after a failed start also failed", { error: closeError instanceof Error ? closeError : String(closeError) }));
    throw e;
  }
}
