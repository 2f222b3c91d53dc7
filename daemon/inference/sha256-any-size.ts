// SHA-256 of a buffer of any length. node:crypto's Hash.update() refuses one
// input of 2 GiB or more ("data is too long"), which a 3.3 GB generated model
// reached on the GPU machine; the hash is the same fed in pieces.

import { createHash } from "node:crypto";

/** Bytes handed to Hash.update() at a time: well under its 2 GiB limit. */
export const HASH_CHUNK_BYTES = 1 << 30;

export function sha256HexAnySize(bytes: Uint8Array, chunkBytes: number = HASH_CHUNK_BYTES): string {
  const hash = createHash("sha256");
  for (let offset = 0; offset < bytes.length; offset += chunkBytes) hash.update(bytes.subarray(offset, offset + chunkBytes));
  return hash.digest("hex");
}
