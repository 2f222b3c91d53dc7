// The cryptography of TPM 2.0 sessions, as pure functions over bytes:
//  - KDFa (Part 1 §11.4.10.2, SP 800-108 counter mode with HMAC),
//  - KDFe (Part 1 §11.4.10.3, SP 800-56A concatenation KDF),
//  - the ECC-salted session secret (Part 1 §C.6.1 / Annex C "ECDH"),
//  - session HMACs (Part 1 §19.6.5) and parameter encryption with
//    AES-CFB (Part 1 §21.3).

import { createCipheriv, createDecipheriv, createECDH, createHash, createHmac, timingSafeEqual } from "node:crypto";
import { digestSize, nodeHashName } from "./constants.js";
import { concatBytes, u32be } from "./marshal.js";

/** Labels end in a zero byte, which is part of the hashed data (Part 1 §11.4.10.2 "Label"). */
function label(text: string): Uint8Array {
  return new TextEncoder().encode(text + "\0");
}

/**
 * KDFa(hashAlg, key, label, contextU, contextV, bits): HMAC(key, [i]₃₂ ‖ label ‖ 00 ‖
 * contextU ‖ contextV ‖ [bits]₃₂) for i = 1, 2, …, truncated to bits.
 */
export function kdfa(hashAlg: number, key: Uint8Array, use: string, contextU: Uint8Array, contextV: Uint8Array, bits: number): Uint8Array {
  const name = nodeHashName(hashAlg);
  const bytesNeeded = Math.ceil(bits / 8);
  const parts: Uint8Array[] = [];
  let have = 0;
  const labelBytes = label(use);
  for (let i = 1; have < bytesNeeded; i++) {
    const h = createHmac(name, key);
    h.update(u32be(i)).update(labelBytes).update(contextU).update(contextV).update(u32be(bits));
    const block = new Uint8Array(h.digest());
    parts.push(block);
    have += block.length;
  }
  const out = concatBytes(...parts).subarray(0, bytesNeeded);
  // A bit count that is not a multiple of 8 keeps the low bits of the first byte.
  if (bits % 8 !== 0) out[0] = out[0]! & ((1 << bits % 8) - 1);
  return new Uint8Array(out);
}

/** KDFe(hashAlg, Z, label, partyU, partyV, bits): H([i]₃₂ ‖ Z ‖ label ‖ 00 ‖ partyU ‖ partyV). */
export function kdfe(hashAlg: number, z: Uint8Array, use: string, partyU: Uint8Array, partyV: Uint8Array, bits: number): Uint8Array {
  const name = nodeHashName(hashAlg);
  const bytesNeeded = Math.ceil(bits / 8);
  const parts: Uint8Array[] = [];
  let have = 0;
  const labelBytes = label(use);
  for (let i = 1; have < bytesNeeded; i++) {
    const block = new Uint8Array(createHash(name).update(u32be(i)).update(z).update(labelBytes).update(partyU).update(partyV).digest());
    parts.push(block);
    have += block.length;
  }
  return new Uint8Array(concatBytes(...parts).subarray(0, bytesNeeded));
}

export interface EccSalt {
  /** The salt the session key is derived from; never sent. */
  salt: Uint8Array;
  /** Ephemeral public point (x, y, each padded to the curve size): what StartAuthSession carries. */
  ephemeralX: Uint8Array;
  ephemeralY: Uint8Array;
}

/**
 * A salt encrypted to a P-256 key (Part 1 Annex C.6.1, "ECDH"): a fresh
 * ephemeral key; Z = x((d_e)·Q_tpm); salt = KDFe(nameAlg, Z, "SECRET", x_e, x_tpm, digest bits).
 * Only the TPM holding the private part of Q can compute the same salt.
 */
export function eccSalt(nameAlg: number, tpmX: Uint8Array, tpmY: Uint8Array): EccSalt {
  if (tpmX.length !== 32 || tpmY.length !== 32) throw new RangeError("the salt key must be a P-256 point (32-byte coordinates)");
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const pub = new Uint8Array(ecdh.getPublicKey()); // 0x04 ‖ x ‖ y
  const ephemeralX = pub.slice(1, 33);
  const ephemeralY = pub.slice(33, 65);
  const z = new Uint8Array(ecdh.computeSecret(concatBytes(Uint8Array.of(4), tpmX, tpmY)));
  const salt = kdfe(nameAlg, z, "SECRET", ephemeralX, tpmX, digestSize(nameAlg) * 8);
  z.fill(0);
  return { salt, ephemeralX, ephemeralY };
}

/** sessionKey = KDFa(authHash, bindAuth ‖ salt, "ATH", nonceTPM, nonceCaller, digest bits) (Part 1 §19.6.8). */
export function sessionKey(authHash: number, bindAuthAndSalt: Uint8Array, nonceTPM: Uint8Array, nonceCaller: Uint8Array): Uint8Array {
  if (bindAuthAndSalt.length === 0) return new Uint8Array(0);
  return kdfa(authHash, bindAuthAndSalt, "ATH", nonceTPM, nonceCaller, digestSize(authHash) * 8);
}

/** cpHash = H(commandCode ‖ Name₁ ‖ … ‖ parameters) (Part 1 §18.7). */
export function cpHash(hashAlg: number, commandCode: number, names: readonly Uint8Array[], parameters: Uint8Array): Uint8Array {
  const h = createHash(nodeHashName(hashAlg)).update(u32be(commandCode));
  for (const n of names) h.update(n);
  return new Uint8Array(h.update(parameters).digest());
}

/** rpHash = H(responseCode ‖ commandCode ‖ parameters) (Part 1 §18.8). */
export function rpHash(hashAlg: number, responseCode: number, commandCode: number, parameters: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(nodeHashName(hashAlg)).update(u32be(responseCode)).update(u32be(commandCode)).update(parameters).digest());
}

/** The session HMAC (Part 1 §19.6.5): HMAC(key, pHash ‖ nonceNewer ‖ nonceOlder ‖ nonceDecrypt ‖ nonceEncrypt ‖ attributes). */
export function sessionHmac(hashAlg: number, key: Uint8Array, pHash: Uint8Array, nonceNewer: Uint8Array, nonceOlder: Uint8Array, extraNonces: Uint8Array, attributes: number): Uint8Array {
  return new Uint8Array(createHmac(nodeHashName(hashAlg), key).update(pHash).update(nonceNewer).update(nonceOlder).update(extraNonces).update(Uint8Array.of(attributes)).digest());
}

/** An authValue used in an HMAC key drops trailing zero bytes (Part 1 §19.6.5 note). */
export function trimAuthValue(auth: Uint8Array): Uint8Array {
  let end = auth.length;
  while (end > 0 && auth[end - 1] === 0) end--;
  return auth.subarray(0, end);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * AES-CFB parameter encryption (Part 1 §21.3): key ‖ iv = KDFa(authHash, sessionValue, "CFB",
 * nonceNewer, nonceOlder, keyBits + 128). For a command nonceNewer is the caller's nonce;
 * for a response, the TPM's.
 */
export function cfbTransform(
  direction: "encrypt" | "decrypt",
  authHash: number,
  keyBits: number,
  sessionValue: Uint8Array,
  nonceNewer: Uint8Array,
  nonceOlder: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256) throw new RangeError(`AES key size ${keyBits} unsupported`);
  const keyIv = kdfa(authHash, sessionValue, "CFB", nonceNewer, nonceOlder, keyBits + 128);
  const key = keyIv.subarray(0, keyBits / 8);
  const iv = keyIv.subarray(keyBits / 8);
  const alg = `aes-${keyBits}-cfb`;
  const c = direction === "encrypt" ? createCipheriv(alg, key, iv) : createDecipheriv(alg, key, iv);
  const out = new Uint8Array(Buffer.concat([c.update(data), c.final()]));
  keyIv.fill(0);
  return out;
}
