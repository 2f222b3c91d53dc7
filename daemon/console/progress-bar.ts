// A one-line progress bar on a terminal, for long copies (model import and
// sign hash gigabytes). Drawn on stderr only when it is a TTY and the job is
// large, at most ten times a second; formatProgress is pure.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${UNITS[u]}`;
}

/** "[#########-----------]  45%  1.2 GiB / 2.6 GiB  310 MiB/s  ETA 5 s" */
export function formatProgress(doneBytes: number, totalBytes: number, elapsedMs: number, barChars = 24): string {
  const frac = totalBytes > 0 ? Math.min(1, Math.max(0, doneBytes / totalBytes)) : 1;
  const filled = Math.round(frac * barChars);
  const rate = elapsedMs > 0 ? (doneBytes / elapsedMs) * 1000 : 0;
  const etaS = rate > 0 ? Math.ceil((totalBytes - doneBytes) / rate) : null;
  const parts = [
    `[${"#".repeat(filled)}${"-".repeat(barChars - filled)}]`,
    `${String(Math.floor(frac * 100)).padStart(3)}%`,
    `${formatBytes(doneBytes)} / ${formatBytes(totalBytes)}`,
  ];
  if (rate > 0) parts.push(`${formatBytes(Math.round(rate))}/s`);
  if (etaS !== null && frac < 1) parts.push(`ETA ${etaS} s`);
  return parts.join("  ");
}

export interface ProgressBar {
  update(doneBytes: number, totalBytes: number): void;
  /** Clears the line. Idempotent. */
  done(): void;
}

/** Draws only on a TTY and for jobs of at least minBytes (default 16 MiB); otherwise does nothing. */
export function progressBar(stream: NodeJS.WriteStream, label: string, minBytes = 16 * 1024 * 1024): ProgressBar {
  const started = performance.now();
  let last = 0;
  let drawn = false;
  let finished = false;
  return {
    update(doneBytes, totalBytes) {
      if (finished || stream.isTTY !== true || totalBytes < minBytes) return;
      const now = performance.now();
      if (now - last < 100 && doneBytes < totalBytes) return;
      last = now;
      drawn = true;
      stream.write(`\r\x1b[2K${label} ${formatProgress(doneBytes, totalBytes, now - started)}`);
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) stream.write("\r\x1b[2K");
    },
  };
}
