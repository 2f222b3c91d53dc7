// CRC-32C (Castagnoli), the frame check of the serial protocol.
// Parameters (Rocksoft model, as in the CRC RevEng catalogue "CRC-32/ISCSI"):
//   width 32, poly 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF,
//   refin true, refout true, xorout 0xFFFFFFFF, check("123456789") 0xE3069283.
// Chosen over CRC-16/CCITT because it keeps Hamming distance 6 for frames
// far longer than our largest (≈16 KiB) where a 16-bit CRC falls to HD 4 and
// lets 1 in 65,536 random corruptions through; and because embedded targets
// have it in hardware (ARMv8 CRC32C, SSE4.2 crc32, many MCU CRC units).

const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  TABLE[n] = c >>> 0;
}

/** CRC-32C of bytes[start, end). */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
