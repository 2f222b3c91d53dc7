// Consistent Overhead Byte Stuffing (S. Cheshire, M. Baker, "Consistent
// Overhead Byte Stuffing", IEEE/ACM Trans. Networking 7(2), 1999). Removes
// every 0x00 from a frame so 0x00 can delimit frames: a receiver that lost
// sync (noise, a restart mid-frame) is back in step at the next 0x00.
// Overhead is at most 1 byte per 254 plus 1, whatever the data — unlike SLIP,
// whose escaping can double a frame.

/** Largest COBS encoding of n bytes: n + floor(n / 254) + 1. */
export function cobsMaxEncodedBytes(n: number): number {
  return n + Math.floor(n / 254) + 1;
}

/** Encodes src into out at outOffset (out must have cobsMaxEncodedBytes(src.length) free). Returns bytes written. */
export function cobsEncode(src: Uint8Array, out: Uint8Array, outOffset = 0): number {
  let codeAt = outOffset;
  let w = outOffset + 1;
  let code = 1;
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    if (b === 0) {
      out[codeAt] = code;
      codeAt = w++;
      code = 1;
    } else {
      out[w++] = b;
      if (++code === 0xff) {
        // A full block of 254 non-zero bytes carries no implied zero. As in
        // the paper, no new block starts when the input ends here.
        out[codeAt] = code;
        code = 1;
        if (i + 1 === src.length) return w - outOffset;
        codeAt = w++;
      }
    }
  }
  out[codeAt] = code;
  return w - outOffset;
}

/**
 * Decodes src[0, length) (no delimiters) into out. Returns the decoded length,
 * or -1 when src is not a valid COBS encoding (a 0x00 inside, or a block that
 * runs past the end).
 */
export function cobsDecode(src: Uint8Array, length: number, out: Uint8Array): number {
  let r = 0;
  let w = 0;
  while (r < length) {
    const code = src[r++]!;
    if (code === 0) return -1;
    const end = r + code - 1;
    if (end > length) return -1;
    for (; r < end; r++) {
      const b = src[r]!;
      if (b === 0) return -1;
      out[w++] = b;
    }
    // The zero implied after a short block; none after the last block.
    if (code !== 0xff && r < length) out[w++] = 0;
  }
  return w;
}
