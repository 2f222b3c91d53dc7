// TPML_PCR_SELECTION and TPML_DIGEST (Part 2 §10.6.2, §10.9.1, §10.9.2).
// A TPMS_PCR_SELECTION is a hash algorithm and a bitmap, PCR n being bit
// (n mod 8) of byte ⌊n/8⌋.

import { digestSize } from "../constants.js";
import { TpmReader, TpmWriter, tpmDecodeError } from "../marshal.js";

export interface PcrSelection {
  /** TPM_ALG of the PCR bank. */
  hash: number;
  /** PCR indices, ascending. */
  pcrs: number[];
}

/** PC Client TPMs have 24 PCRs: a 3-byte bitmap (sizeofSelect = 3). */
export const PCR_SELECT_MIN_BYTES = 3;
/** Part 2: TPM_PCR_SELECT_MAX; 4 bytes covers 32 PCRs, more than any real TPM has. */
const PCR_SELECT_MAX_BYTES = 4;
/** Part 2: TPML_PCR_SELECTION holds at most HASH_COUNT entries. */
const MAX_PCR_BANKS = 16;
/** Part 2 §10.9.1: TPML_DIGEST holds at most 8 digests. */
export const MAX_DIGESTS = 8;

export function writePcrSelectionList(w: TpmWriter, list: readonly PcrSelection[]): void {
  w.u32(list.length);
  for (const sel of list) {
    const maxPcr = sel.pcrs.reduce((m, p) => Math.max(m, p), -1);
    const size = Math.max(PCR_SELECT_MIN_BYTES, Math.ceil((maxPcr + 1) / 8));
    const bitmap = new Uint8Array(size);
    for (const p of sel.pcrs) {
      if (!Number.isInteger(p) || p < 0 || p >= PCR_SELECT_MAX_BYTES * 8) throw new RangeError(`PCR index ${p} out of range 0..${PCR_SELECT_MAX_BYTES * 8 - 1}`);
      bitmap[p >> 3]! |= 1 << (p & 7);
    }
    w.u16(sel.hash).u8(size).bytes(bitmap);
  }
}

export function readPcrSelectionList(r: TpmReader): PcrSelection[] {
  const count = r.u32("TPML_PCR_SELECTION.count");
  if (count > MAX_PCR_BANKS) throw tpmDecodeError(r.context, `TPML_PCR_SELECTION.count ${count} exceeds ${MAX_PCR_BANKS}`);
  const out: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hash = r.u16("TPMS_PCR_SELECTION.hash");
    const size = r.u8("TPMS_PCR_SELECTION.sizeofSelect");
    if (size > PCR_SELECT_MAX_BYTES) throw tpmDecodeError(r.context, `sizeofSelect ${size} exceeds ${PCR_SELECT_MAX_BYTES}`);
    const bitmap = r.bytes(size, "TPMS_PCR_SELECTION.pcrSelect");
    const pcrs: number[] = [];
    for (let b = 0; b < size * 8; b++) if (bitmap[b >> 3]! & (1 << (b & 7))) pcrs.push(b);
    out.push({ hash, pcrs });
  }
  return out;
}

export function writeDigestList(w: TpmWriter, digests: readonly Uint8Array[]): void {
  w.u32(digests.length);
  for (const d of digests) w.tpm2b(d);
}

export function readDigestList(r: TpmReader): Uint8Array[] {
  const count = r.u32("TPML_DIGEST.count");
  if (count > MAX_DIGESTS) throw tpmDecodeError(r.context, `TPML_DIGEST.count ${count} exceeds ${MAX_DIGESTS}`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(r.tpm2b("TPM2B_DIGEST", 64));
  return out;
}

/** TPML_DIGEST_VALUES (Part 2 §10.9.7): count, then TPMT_HA = hashAlg ‖ digest (size implied by hashAlg). */
export function writeDigestValues(w: TpmWriter, values: readonly { hash: number; digest: Uint8Array }[]): void {
  w.u32(values.length);
  for (const v of values) {
    const size = digestSize(v.hash);
    if (size === 0 || v.digest.length !== size) throw new RangeError(`digest for hash 0x${v.hash.toString(16)} must be ${size} bytes, got ${v.digest.length}`);
    w.u16(v.hash).bytes(v.digest);
  }
}

/** "sha256:7,8" style, for messages and key.json. */
export function formatPcrSelection(sel: PcrSelection): string {
  return `${sel.hash}:${sel.pcrs.join(",")}`;
}
