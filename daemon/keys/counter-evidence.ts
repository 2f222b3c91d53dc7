// Checking a counter certificate that travels in an audit bundle
// (OUT/counter-certificate.json), offline: the checkpoint it carries is signed
// by the box's key, and the TPM's attestation key certified the counter bound
// to exactly that checkpoint. Pure: text in, values out. `sealbox verify`
// calls it when the file is present.

import { SealboxError } from "../errors.js";
import { openCheckpoint } from "../ledger/checkpoint.js";
import { parseVkey } from "../ledger/note.js";
import { verifyCounterCertificate } from "./counter-certificate.js";

export interface CounterEvidence {
  counter: bigint;
  /** Tree size of the checkpoint the certificate is bound to. */
  treeSize: number;
  nvIndex: number;
}

export const COUNTER_CERT_MAX_BYTES = 64 * 1024;

export function verifyCounterEvidence(text: string, vkey: string, trustedAk?: { x: string; y: string }): CounterEvidence {
  if (text.length > COUNTER_CERT_MAX_BYTES) throw new SealboxError("VERIFY_FAILED", "counter certificate: larger than 64 KiB");
  let cert: unknown;
  try {
    cert = JSON.parse(text);
  } catch (e) {
    throw new SealboxError("VERIFY_FAILED", `counter certificate: not JSON: ${(e as Error).message}`);
  }
  const note = (cert as { checkpoint?: unknown } | null)?.checkpoint;
  if (typeof note !== "string") throw new SealboxError("VERIFY_FAILED", "counter certificate: no checkpoint");
  let cp;
  try {
    cp = openCheckpoint(note, [parseVkey(vkey)]);
  } catch (e) {
    throw new SealboxError("VERIFY_FAILED", `counter certificate: its checkpoint is not signed by the box's key: ${(e as Error).message}`, { cause: e });
  }
  const counter = verifyCounterCertificate(cert, note, trustedAk);
  return { counter, treeSize: cp.size, nvIndex: (cert as { nv_index: number }).nv_index };
}
