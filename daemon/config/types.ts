// The daemon's configuration as the rest of the code sees it: camelCase,
// units in names, every path absolute, every default filled in. The TOML file
// spells the same keys in snake_case (docs/configuration.md lists each one).

import type { Role } from "../rpc/types.js";
import type { LogLevel } from "../log.js";

export const FHS_CONFIG_DIR = "/etc/sealbox";
export const FHS_STATE_DIR = "/var/lib/sealbox";
export const FHS_RUN_DIR = "/run/sealbox";
export const DEFAULT_CONFIG_FILE = `${FHS_CONFIG_DIR}/sealbox.toml`;

export type KeyOriginSetting = "tpm" | "software";
export type InferenceMode = "cuda" | "cpu";
export type Parity = "none" | "even" | "odd";

export interface PathsConfig {
  /** Directory holding sealbox.toml, site authority keys and serial PSK files. */
  config: string;
  /** Ledger, keys, models, box.json, diode position. */
  state: string;
  /** Unix sockets and other runtime files. */
  run: string;
}

export interface KeysConfig {
  origin: KeyOriginSetting;
  /** TPM transport spec: "device:/dev/tpmrm0", "swtpm:host=…,port=…", … (docs/tpm.md). */
  tpm: string;
  /** PCRs the sealed key's policy binds (SHA-256 bank), ascending. */
  pcrs: number[];
}

export interface LedgerConfig {
  /** LMDB map size: the ledger's hard size limit. */
  mapSizeBytes: number;
  /** How often the anti-rollback TPM counter is bumped. */
  checkpointEpochMinutes: number;
}

export interface InferenceConfig {
  mode: InferenceMode;
  /** llama.cpp CPU threads. */
  threads: number;
  /** Model to load at start (SHA-256, unique prefix or name); undefined: start without one. */
  model: string | undefined;
  /** Parallel context sequences. */
  sequences: number;
  /** llama.cpp contexts the sequences are spread over; by default one per sequence (at most 64), which measured best on the CPU and on an H200 alike. */
  contexts: number;
  /** Bound of the CUDA kernel self-test at model load (cuda mode). */
  kernelSelfTestTimeoutMs: number;
  /** Requests waiting beyond the running ones before BUSY. */
  queueDepth: number;
  contextTokens: number;
  maxTokens: number;
  deadlineMs: number;
  /** Keep full prompt and answer text in the audit record (otherwise hashes only). */
  storeText: boolean;
}

export interface HealthConfig {
  intervalMs: number;
  nvidiaSmiTimeoutMs: number;
  gpuTempDegradedC: number;
  gpuTempCriticalC: number;
  gpuMemoryDegradedPct: number;
  diskFreeDegradedBytes: number;
  diskFreeCriticalBytes: number;
  memoryAvailableCriticalBytes: number;
  /** When the GPU is critical, answer on the CPU instead of refusing. */
  cpuFallback: boolean;
}

export interface SocketConfig {
  enabled: boolean;
  path: string;
  /** Group owning the socket; access to a role = membership of its group. */
  group: string;
  /** File mode of the socket (e.g. 0o660). */
  mode: number;
}

export interface SerialPortConfig {
  path: string;
  baudRate: number;
  parity: Parity;
  dataBits: 5 | 6 | 7 | 8;
  stopBits: 1 | 2;
  /** File holding the pre-shared key for this port's integrator. */
  pskFile: string;
  role: Role;
}

export interface DiodeConfig {
  enabled: boolean;
  udp: { host: string; port: number; mtuBytes: number } | undefined;
  serial: { path: string; baudRate: number } | undefined;
  rateBytesPerS: number;
  repairRatio: number;
}

export interface Config {
  box: { id: string | undefined };
  paths: PathsConfig;
  log: { level: LogLevel };
  keys: KeysConfig;
  ledger: LedgerConfig;
  inference: InferenceConfig;
  health: HealthConfig;
  socket: Record<Role, SocketConfig>;
  serial: { ports: SerialPortConfig[] };
  diode: DiodeConfig;
}

/** Section-wise partial Config, for defaultConfig(overrides) in tests and embedded defaults. */
export interface ConfigOverrides {
  box?: Partial<Config["box"]>;
  paths?: Partial<PathsConfig>;
  log?: Partial<Config["log"]>;
  keys?: Partial<KeysConfig>;
  ledger?: Partial<LedgerConfig>;
  inference?: Partial<InferenceConfig>;
  health?: Partial<HealthConfig>;
  socket?: Partial<Record<Role, Partial<SocketConfig>>>;
  serial?: Partial<Config["serial"]>;
  diode?: Partial<DiodeConfig>;
}
