// C2SP tlog-proof v1 (https://c2sp.org/tlog-proof): an offline-verifiable
// proof that one entry is in the log.
//   c2sp.org/tlog-proof@v1
//   extra <base64>        (optional; here: the record's canonical bytes)
//   index <N>
//   <base64 hash>...      (RFC 6962 §2.1.1 audit path, leaf's sibling first)
//   <blank line>
//   <signed checkpoint, verbatim>

import { SealboxError } from "../errors.js";
import { decodeBase64, parseDecimal, toBase64 } from "./encoding.js";
import { HASH_BYTES } from "./merkle.js";

export const TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1";
/** A tree of at most 2^64 leaves has audit paths of at most 64 hashes. */
const MAX_PATH = 64;

export interface TlogProof {
  extra?: Uint8Array;
  index: number;
  proof: Uint8Array[];
  /** The signed checkpoint note, verbatim. */
  checkpoint: string;
}

function badFormat(message: string): SealboxError {
  return new SealboxError("BAD_FORMAT", `tlog-proof: ${message}`);
}

export function formatTlogProof(p: TlogProof): string {
  const lines = [TLOG_PROOF_HEADER];
  if (p.extra !== undefined) lines.push(`extra ${toBase64(p.extra)}`);
  lines.push(`index ${p.index}`);
  for (const h of p.proof) lines.push(toBase64(h));
  return lines.join("\n") + "\n\n" + p.checkpoint;
}

export function parseTlogProof(text: string): TlogProof {
  if (typeof text !== "string") throw badFormat("not text");
  const blank = text.indexOf("\n\n");
  if (blank < 0) throw badFormat("no blank line before the checkpoint");
  const head = text.slice(0, blank).split("\n");
  const checkpoint = text.slice(blank + 2);
  if (head[0] !== TLOG_PROOF_HEADER) throw badFormat(`first line must be ${TLOG_PROOF_HEADER}`);
  let i = 1;
  let extra: Uint8Array | undefined;
  if (head[i]?.startsWith("extra ")) {
    extra = decodeBase64(head[i]!.slice(6), "tlog-proof extra data");
    i++;
  }
  const indexLine = head[i];
  if (indexLine === undefined || !indexLine.startsWith("index ")) throw badFormat("missing the index line");
  const index = parseDecimal(indexLine.slice(6), "tlog-proof index");
  i++;
  const hashLines = head.slice(i);
  if (hashLines.length > MAX_PATH) throw badFormat(`inclusion proof has ${hashLines.length} hashes, at most ${MAX_PATH} make sense`);
  const proof = hashLines.map((l, j) => {
    const h = decodeBase64(l, `tlog-proof hash ${j}`);
    if (h.length !== HASH_BYTES) throw badFormat(`hash ${j} is ${h.length} bytes, expected ${HASH_BYTES}`);
    return h;
  });
  if (checkpoint.length === 0) throw badFormat("no checkpoint after the blank line");
  return extra === undefined ? { index, proof, checkpoint } : { extra, index, proof, checkpoint };
}
