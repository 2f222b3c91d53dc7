// The Ed25519 key from a 32-byte seed, in Node's crypto (OpenSSL): the TPM has
// no Ed25519 (FACTS), so the seed is sealed in the TPM and the signing happens
// here, from a KeyObject whose bytes never leave OpenSSL's memory.
// Also the C2SP signed-note key id and vkey for the public key.

import { createHash, createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from "node:crypto";

/** PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410 §7) is this 16-byte prefix and the 32-byte seed. */
const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

export interface Ed25519Key {
  privateKey: KeyObject;
  /** Raw 32-byte public key. */
  publicKey: Uint8Array;
}

/** Builds the KeyObject and wipes the DER buffer it went through (the caller wipes the seed). */
export function keyFromSeed(seed: Uint8Array): Ed25519Key {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  const der = Buffer.alloc(48);
  der.set(PKCS8_ED25519_PREFIX, 0);
  der.set(seed, 16);
  try {
    const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
    return { privateKey, publicKey: new Uint8Array(spki.subarray(spki.length - 32)) };
  } finally {
    der.fill(0);
  }
}

/**
 * The seed: HKDF-SHA256 (RFC 5869) over the TPM's randomness and the OS's, so
 * a weak or backdoored source alone does not determine the key.
 */
export function mixSeed(tpmRandom: Uint8Array, osRandom: Uint8Array): Uint8Array {
  if (tpmRandom.length < 32 || osRandom.length < 32) throw new RangeError("need 32 bytes from each source");
  const ikm = Buffer.concat([tpmRandom, osRandom]);
  try {
    return new Uint8Array(hkdfSync("sha256", ikm, "sealbox-tpm-seed-v1", "ed25519 signing key seed", 32));
  } finally {
    ikm.fill(0);
  }
}

/** C2SP signed-note key id: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key). */
export function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(name).update(Uint8Array.of(0x0a, 0x01)).update(publicKey).digest().subarray(0, 4));
}

/** C2SP signed-note verifier key: name+hex(key id)+base64(0x01 ‖ public key). */
export function noteVkey(name: string, publicKey: Uint8Array): string {
  return `${name}+${Buffer.from(noteKeyId(name, publicKey)).toString("hex")}+${Buffer.concat([Buffer.of(0x01), publicKey]).toString("base64")}`;
}

/** A valid C2SP key name: non-empty, no whitespace and no '+' (signed-note §"Keys"). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && !/[\s+]/u.test(name);
}
