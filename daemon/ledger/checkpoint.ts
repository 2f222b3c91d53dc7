// C2SP tlog-checkpoint v1.0.0 (https://c2sp.org/tlog-checkpoint): the note
// text of a signed tree head. Lines: origin, tree size (ASCII decimal, no
// leading zeroes), base64 root hash, then optional non-empty extension lines.

import { SealboxError } from "../errors.js";
import { decodeBase64, parseDecimal, toBase64 } from "./encoding.js";
import { HASH_BYTES } from "./merkle.js";
import { verifyNote, type NoteVerifier } from "./note.js";

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions: string[];
}

function badFormat(message: string): SealboxError {
  return new SealboxError("BAD_FORMAT", message);
}

function checkOrigin(origin: string): void {
  if (typeof origin !== "string" || origin.length === 0) throw badFormat("checkpoint origin is empty");
  if (/[\u0000-\u001f]/.test(origin)) throw badFormat("checkpoint origin holds a control character");
}

export function formatCheckpoint(c: { origin: string; size: number; rootHash: Uint8Array; extensions?: string[] }): string {
  checkOrigin(c.origin);
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw badFormat(`checkpoint size ${c.size} is not a non-negative integer`);
  if (c.rootHash.length !== HASH_BYTES) throw badFormat(`checkpoint root hash is ${c.rootHash.length} bytes, expected ${HASH_BYTES}`);
  const ext = c.extensions ?? [];
  for (const e of ext) if (e.length === 0 || /[\u0000-\u001f]/.test(e)) throw badFormat("checkpoint extension lines must be non-empty single lines");
  return [c.origin, String(c.size), toBase64(c.rootHash), ...ext].join("\n") + "\n";
}

export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== "string" || !text.endsWith("\n")) throw badFormat("checkpoint text must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw badFormat(`checkpoint needs at least 3 lines, has ${lines.length}`);
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  checkOrigin(origin);
  const size = parseDecimal(sizeLine, "checkpoint tree size");
  const rootHash = decodeBase64(rootLine, "checkpoint root hash");
  if (rootHash.length !== HASH_BYTES) throw badFormat(`checkpoint root hash is ${rootHash.length} bytes, expected ${HASH_BYTES}`);
  for (const e of extensions) if (e.length === 0) throw badFormat("checkpoint has an empty extension line");
  return { origin, size, rootHash, extensions };
}

/** Verifies a signed checkpoint note and parses it; checks the origin when one is expected. */
export function openCheckpoint(note: string, verifiers: NoteVerifier[], expectedOrigin?: string): Checkpoint & { note: string } {
  const { text } = verifyNote(note, verifiers);
  const c = parseCheckpoint(text);
  if (expectedOrigin !== undefined && c.origin !== expectedOrigin) {
    throw new SealboxError("VERIFY_FAILED", `checkpoint origin is ${JSON.stringify(c.origin)}, expected ${JSON.stringify(expectedOrigin)}`, {
      details: { origin: c.origin, expectedOrigin },
    });
  }
  return { ...c, note };
}
