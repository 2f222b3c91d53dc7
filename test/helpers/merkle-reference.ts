// A naive, literal transcription of RFC 9162 §2.1 over lists: MTH, PATH and
// PROOF/SUBPROOF defined recursively on D[start:end]. Slow on purpose and
// independent of daemon/ledger (it shares only SHA-256), so production code
// can be checked against the spec's own definitions.

import { createHash } from "node:crypto";

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

function k(n: number): number {
  let x = 1;
  while (x * 2 < n) x *= 2;
  return x;
}

/** SHA-256(0x00 || d). */
export function refLeafHash(d: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0), d);
}

/** MTH(D_n) over the raw entries. */
export function refMth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256();
  if (d.length === 1) return refLeafHash(d[0]!);
  const s = k(d.length);
  return sha256(Uint8Array.of(1), refMth(d.slice(0, s)), refMth(d.slice(s)));
}

/** PATH(m, D_n). */
export function refPath(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const s = k(d.length);
  if (m < s) return [...refPath(m, d.slice(0, s)), refMth(d.slice(s))];
  return [...refPath(m - s, d.slice(s)), refMth(d.slice(0, s))];
}

function subproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  const n = d.length;
  if (m === n) return b ? [] : [refMth(d)];
  const s = k(n);
  if (m <= s) return [...subproof(m, d.slice(0, s), b), refMth(d.slice(s))];
  return [...subproof(m - s, d.slice(s), false), refMth(d.slice(0, s))];
}

/** PROOF(m, D_n) for 0 < m <= n. */
export function refProof(m: number, d: Uint8Array[]): Uint8Array[] {
  return subproof(m, d, true);
}

/** The entries the vector files use: the UTF-8 bytes of "leaf-<i>". */
export function refLeaves(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new TextEncoder().encode(`leaf-${i}`));
}
