// The diode's use of the ledger's signed notes: checkpoints (C2SP
// tlog-checkpoint in a C2SP signed-note) and heartbeat notes, both signed by
// the box's key. One place, so the receiver's hot path can cache verified
// notes and the rest of the diode never parses notes itself.

import { SealboxError } from "../errors.js";
import { parseCheckpoint } from "../ledger/checkpoint.js";
import { parseNote, parseVkey, verifyNote, type NoteVerifier } from "../ledger/note.js";

export type { NoteVerifier };

export interface VerifiedCheckpoint {
  note: string;
  origin: string;
  size: number;
  rootHash: Uint8Array;
}

/** Parses a verifier key (C2SP vkey: name+keyID+base64(0x01‖pubkey)). Throws BAD_ARGUMENT naming the problem. */
export function verifierFromVkey(vkey: string): NoteVerifier {
  try {
    return parseVkey(vkey.trim());
  } catch (e) {
    throw new SealboxError("BAD_ARGUMENT", `not a verifier key: ${(e as Error).message}`, { cause: e });
  }
}

/** The size a checkpoint note states, unverified (the sender reads its own ledger's notes). */
export function checkpointSizeOf(note: string): number {
  return parseCheckpoint(parseNote(note).text).size;
}

/** Verifies a checkpoint's signature and parses it. Throws BAD_SIGNATURE or BAD_FORMAT. */
export function verifyCheckpoint(note: string, verifier: NoteVerifier): VerifiedCheckpoint {
  const { text } = verifyNote(note, [verifier]);
  const cp = parseCheckpoint(text);
  if (cp.rootHash.length !== 32) throw new SealboxError("BAD_FORMAT", "checkpoint root is not 32 bytes");
  return { note, origin: cp.origin, size: cp.size, rootHash: cp.rootHash };
}

/** Verifies a heartbeat note's signature; returns its text. Throws BAD_SIGNATURE or BAD_FORMAT. */
export function verifyHeartbeatNote(note: string, verifier: NoteVerifier): string {
  return verifyNote(note, [verifier]).text;
}
