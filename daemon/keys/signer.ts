// The signing seam. The ledger signs checkpoints through a Signer and never
// sees where the key lives: a software key file (development, marked as such)
// or a seed sealed in the TPM and unsealed into a Node KeyObject at start.

/** Where the private key lives. Recorded in the ledger so auditors know what signed. */
export type KeyOrigin = "software" | "tpm";

export interface Signer {
  /** The signed-note key name (C2SP signed-note), e.g. "sealbox.local/box-1234". */
  readonly name: string;
  readonly origin: KeyOrigin;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** RFC 8032 Ed25519 signature (64 bytes) over message. Throws SealboxError KEY_UNAVAILABLE when it cannot sign. */
  sign(message: Uint8Array): Uint8Array;
  /** Forgets the private key. Idempotent. */
  close(): void;
}
