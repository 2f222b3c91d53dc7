// Copies a file while hashing it (SHA-256), in one pass, into a new file that
// must not exist yet. The copy is fsync'd before it resolves. The source is
// read no further than the size expected, so a file that grows, or a device
// that never ends, cannot fill the disk.

import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { open } from "node:fs/promises";

export interface CopyProgress {
  doneBytes: number;
  totalBytes: number;
}

export interface CopyHashOptions {
  /** The size the manifest names; reading stops one byte past it. */
  expectedSizeBytes: number;
  /** Called after each chunk. */
  onProgress?: (p: CopyProgress) => void;
  /** Mode of the new file. Defaults to 0o600 (made read-only by the caller once checked). */
  mode?: number;
  chunkBytes?: number;
}

export interface CopyHashResult {
  sha256: string;
  /** Bytes read, at most expectedSizeBytes + 1. */
  sizeBytes: number;
}

export async function copyAndHash(sourcePath: string, destPath: string, options: CopyHashOptions): Promise<CopyHashResult> {
  const chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024;
  const limit = options.expectedSizeBytes + 1;
  const hash = createHash("sha256");
  const src = await open(sourcePath, constants.O_RDONLY);
  try {
    const dst = await open(destPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, options.mode ?? 0o600);
    try {
      const buf = Buffer.allocUnsafe(chunkBytes);
      let done = 0;
      while (done < limit) {
        const { bytesRead } = await src.read(buf, 0, Math.min(chunkBytes, limit - done), null);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        let written = 0;
        while (written < bytesRead) written += (await dst.write(chunk, written, bytesRead - written)).bytesWritten;
        done += bytesRead;
        options.onProgress?.({ doneBytes: done, totalBytes: options.expectedSizeBytes });
      }
      await dst.sync();
      return { sha256: hash.digest("hex"), sizeBytes: done };
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}

/** SHA-256 and size of a file, streamed, with progress. */
export async function hashFile(path: string, onProgress?: (p: CopyProgress) => void, chunkBytes = 4 * 1024 * 1024): Promise<CopyHashResult> {
  const hash = createHash("sha256");
  const fh = await open(path, constants.O_RDONLY);
  try {
    const totalBytes = (await fh.stat()).size;
    const buf = Buffer.allocUnsafe(chunkBytes);
    let done = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      done += bytesRead;
      onProgress?.({ doneBytes: done, totalBytes });
    }
    return { sha256: hash.digest("hex"), sizeBytes: done };
  } finally {
    await fh.close();
  }
}
