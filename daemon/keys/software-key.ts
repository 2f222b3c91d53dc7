// A software Ed25519 signer: the private key lives in a Node KeyObject,
// loaded from a 0600 file. For development and for boxes explicitly
// provisioned with --software; the ledger records that the key is software.

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from "node:crypto";
import { SealboxError } from "../errors.js";
import type { KeyOrigin, Signer } from "./signer.js";

// RFC 8410 PKCS#8 prefix for an Ed25519 private key (the 32-byte seed follows).
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new SealboxError("KEY_UNAVAILABLE", `an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
}

/** Raw 32-byte public key of an Ed25519 KeyObject (private or public). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  const der = pub.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** A fresh random seed, from the OS CSPRNG (via OpenSSL). */
export function generateSeed(): Uint8Array {
  const { privateKey } = generateKeyPairSync("ed25519");
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  return new Uint8Array(der.subarray(der.length - 32));
}

/**
 * A Signer over an Ed25519 private key held in memory. origin says where the
 * seed came from ("software" for a key file, "tpm" for an unsealed TPM blob).
 */
export function keyObjectSigner(name: string, privateKey: KeyObject, origin: KeyOrigin): Signer {
  let key: KeyObject | undefined = privateKey;
  const publicKey = rawPublicKey(privateKey);
  return {
    name,
    origin,
    publicKey,
    sign(message: Uint8Array): Uint8Array {
      if (!key) throw new SealboxError("KEY_UNAVAILABLE", `the signing key ${name} is closed`);
      return cryptoSign(null, message, key);
    },
    close(): void {
      key = undefined;
    },
  };
}

export function softwareSignerFromSeed(name: string, seed: Uint8Array): Signer {
  return keyObjectSigner(name, ed25519PrivateKeyFromSeed(seed), "software");
}
