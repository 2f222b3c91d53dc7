// Pure figures for the device decode check: which bytes one generated token
// reads, and the GPU's peak memory bandwidth to hold them against.

import type { GgufSummary } from "../../daemon/inference/gguf-reader.js";

/**
 * Bytes of weights one decoded token reads: every tensor once (each matrix
 * multiplies the token's hidden state in full), except the token embedding,
 * of which a lookup reads one row. Tensor sizes come from the GGUF layout:
 * tensors are stored back to back in the data section, so a tensor's bytes
 * run to the next tensor's offset (or to the end of the file), padding of at
 * most `alignment - 1` bytes included. KV-cache reads (a few percent at 256
 * tokens) are not counted.
 */
export function weightBytesPerToken(summary: GgufSummary, fileSizeBytes: number): { weightBytes: number; perTokenBytes: number } {
  const sorted = [...summary.tensors].sort((a, b) => a.offset - b.offset);
  const dataBytes = fileSizeBytes - summary.dataOffset;
  let weightBytes = 0;
  let perTokenBytes = 0;
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i]!;
    const end = i + 1 < sorted.length ? sorted[i + 1]!.offset : dataBytes;
    const bytes = end - t.offset;
    if (bytes < 0) throw new RangeError(`tensor ${t.name} runs past the next one (offset ${t.offset}, end ${end})`);
    weightBytes += bytes;
    const rows = t.dims.length === 2 ? t.dims[1]! : 1;
    perTokenBytes += t.name === "token_embd.weight" ? Math.ceil(bytes / rows) : bytes;
  }
  return { weightBytes, perTokenBytes };
}

/**
 * Peak HBM bandwidth in GB/s (10^9 bytes) from NVIDIA's data sheets, by the
 * device name CUDA reports. Undefined for a GPU not in the table (the caller
 * then reports GB/s alone, or takes --peak-gbps).
 */
export function peakMemoryGbps(deviceName: string): number | undefined {
  const n = deviceName.toUpperCase();
  // Order matters: the more specific names first.
  const table: Array<[RegExp, number]> = [
    [/H200/, 4800], // H200 SXM and H200 NVL: 141 GB HBM3e, 4.8 TB/s
    [/H100 NVL/, 3900], // 94 GB HBM3
    [/H100 PCIE/, 2000], // 80 GB HBM2e
    [/H100/, 3350], // H100 SXM5 80 GB HBM3 ("NVIDIA H100 80GB HBM3")
    [/A100.*80GB/, 2039], // SXM 80 GB HBM2e
    [/A100/, 1555], // 40 GB HBM2
  ];
  for (const [re, gbps] of table) if (re.test(n)) return gbps;
  return undefined;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
