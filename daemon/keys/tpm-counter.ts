// The monotonic counter seam the anti-rollback check uses, and its TPM
// implementation over an NV counter index. Tests of the policy may pass a
// plain object; tests of the TPM use swtpm.

import { SealboxError } from "../errors.js";
import { incrementCounter, readCounter } from "../../hal/tpm/nv-counter.js";
import type { Tpm } from "../../hal/tpm/tpm.js";

export interface MonotonicCounter {
  /** e.g. "TPM NV counter 0x01005ea1". */
  readonly description: string;
  read(): Promise<bigint>;
  /** Increments by one and returns the value read back. */
  increment(): Promise<bigint>;
}

export class TpmNvCounter implements MonotonicCounter {
  readonly description: string;

  constructor(
    private readonly tpm: Tpm,
    readonly nvIndex: number,
  ) {
    this.description = `TPM NV counter 0x${nvIndex.toString(16).padStart(8, "0")}`;
  }

  read(): Promise<bigint> {
    return readCounter(this.tpm, this.nvIndex);
  }

  async increment(): Promise<bigint> {
    await incrementCounter(this.tpm, this.nvIndex);
    return this.read();
  }
}

/** Counter values in records are decimal strings (a u64 can exceed JSON's exact integers). */
export function parseCounterValue(v: unknown): bigint | undefined {
  if (typeof v === "string" && /^\d{1,20}$/.test(v)) return BigInt(v);
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  return undefined;
}

export function counterError(message: string, cause?: unknown): SealboxError {
  return new SealboxError("TPM_ERROR", message, cause === undefined ? {} : { cause });
}
