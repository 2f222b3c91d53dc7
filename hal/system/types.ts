// What the box knows about its host at one moment: CPU load, memory, the
// file systems it writes to, and temperatures. A part that could not be read
// in time is null with an entry in `errors`, never a made-up figure.

export interface DiskReading {
  /** Mount point, e.g. "/var/lib/sealbox". */
  mount: string;
  /** The device or file system name df reports. */
  fs: string;
  sizeBytes: number;
  availableBytes: number;
  usedPct: number;
}

export type SystemPart = "cpu" | "memory" | "disks" | "temperature";

export interface SystemReadError {
  part: SystemPart;
  message: string;
  timedOut: boolean;
}

export interface SystemReading {
  /** UTC, RFC 3339. */
  at: string;
  durationMs: number;
  /** Whole-machine CPU load since the previous reading, 0–100. */
  cpuLoadPct: number | null;
  memory: { totalBytes: number; availableBytes: number } | null;
  disks: DiskReading[] | null;
  /** Package temperature; null where the machine exposes no sensor (most VMs). */
  cpuTempC: number | null;
  errors: SystemReadError[];
}

/** The host seam: one read, each part bounded in time. */
export interface SystemProbe {
  read(): Promise<SystemReading>;
  close(): Promise<void>;
}
