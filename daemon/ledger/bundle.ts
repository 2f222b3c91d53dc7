// The audit bundle: what `sealbox audit export` writes and `sealbox verify`
// reads (docs/formats.md is the auditor's specification). Three files:
//   checkpoint     the signed C2SP checkpoint (note) of tree size S
//   records.jsonl  records from..to-1, each its exact leaf bytes + "\n"
//   bundle.json    unauthenticated description and the hashes that join the
//                  records to the checkpoint: the compact range of [0, from)
//                  ("left") and the complete subtrees covering [to, S)
//                  ("right"); optionally a consistency proof from an older
//                  tree size the auditor trusts.
// Nothing in bundle.json is trusted: every hash in it is checked against the
// signed root.

import { SealboxError } from "../errors.js";
import { decodeBase64, toBase64 } from "./encoding.js";
import { HASH_BYTES } from "./merkle.js";

export const BUNDLE_FORMAT = "sealbox-audit-bundle";
export const BUNDLE_VERSION = 1;
export const BUNDLE_JSON = "bundle.json";
export const CHECKPOINT_FILE = "checkpoint";
export const RECORDS_FILE = "records.jsonl";
/** Limits on the small files, so a hostile bundle cannot exhaust memory. */
export const MAX_BUNDLE_JSON_BYTES = 1 << 20;
export const MAX_CHECKPOINT_BYTES = 1 << 20;

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  origin: string;
  box: string;
  /** The vkey of the box's key at export time (a convenience: pin it with --key). */
  vkey: string;
  tree_size: number;
  from: number;
  to: number;
  /** base64 hashes of the compact range of [0, from), largest subtree first. */
  left: string[];
  /** base64 hashes of the complete subtrees covering [to, tree_size), left to right. */
  right: string[];
  /** RFC 9162 consistency proof from old_size to tree_size (base64 hashes). */
  consistency?: { old_size: number; proof: string[] };
  exported_at: string;
}

function bad(message: string): SealboxError {
  return new SealboxError("VERIFY_FAILED", `${BUNDLE_JSON}: ${message}`, { details: { check: "bundle.json" } });
}

function count(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw bad(`"${what}" must be a non-negative integer`);
  return v;
}

function hashes(v: unknown, what: string, max: number): Uint8Array[] {
  if (!Array.isArray(v)) throw bad(`"${what}" must be a list of base64 hashes`);
  if (v.length > max) throw bad(`"${what}" has ${v.length} hashes, at most ${max} make sense`);
  return v.map((h, i) => {
    if (typeof h !== "string") throw bad(`"${what}"[${i}] is not a string`);
    let b: Uint8Array;
    try {
      b = decodeBase64(h, `${what}[${i}]`);
    } catch (e) {
      throw bad((e as Error).message);
    }
    if (b.length !== HASH_BYTES) throw bad(`"${what}"[${i}] is ${b.length} bytes, expected ${HASH_BYTES}`);
    return b;
  });
}

export interface ParsedManifest {
  manifest: BundleManifest;
  left: Uint8Array[];
  right: Uint8Array[];
  consistency?: { oldSize: number; proof: Uint8Array[] };
}

/** Parses and type-checks bundle.json (its hashes are checked later, against the signed root). */
export function parseManifest(text: string): ParsedManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw bad(`not JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad("not a JSON object");
  const o = v as Record<string, unknown>;
  if (o.format !== BUNDLE_FORMAT) throw bad(`"format" must be "${BUNDLE_FORMAT}"`);
  if (o.version !== BUNDLE_VERSION) throw bad(`"version" ${JSON.stringify(o.version)} is not supported (this verifier reads version ${BUNDLE_VERSION})`);
  for (const k of ["origin", "box", "vkey", "exported_at"]) if (typeof o[k] !== "string" || (o[k] as string).length > 4096) throw bad(`"${k}" must be a string`);
  const treeSize = count(o.tree_size, "tree_size");
  const from = count(o.from, "from");
  const to = count(o.to, "to");
  if (!(from <= to && to <= treeSize)) throw bad(`needs from <= to <= tree_size, got ${from}, ${to}, ${treeSize}`);
  const left = hashes(o.left, "left", 64);
  const right = hashes(o.right, "right", 128);
  const out: ParsedManifest = { manifest: o as unknown as BundleManifest, left, right };
  if (o.consistency !== undefined) {
    const c = o.consistency as Record<string, unknown>;
    if (typeof c !== "object" || c === null) throw bad('"consistency" must be an object');
    out.consistency = { oldSize: count(c.old_size, "consistency.old_size"), proof: hashes(c.proof, "consistency.proof", 128) };
  }
  return out;
}

export function hashList(hs: Uint8Array[]): string[] {
  return hs.map(toBase64);
}
