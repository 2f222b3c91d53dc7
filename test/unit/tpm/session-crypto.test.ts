import assert from "node:assert/strict";
import { createECDH } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { TPM_ALG, hashAlgFromName } from "../../../hal/tpm/constants.js";
import { fromHex, hex } from "../../../hal/tpm/marshal.js";
import { cfbTransform, eccSalt, kdfa, kdfe, sessionKey, trimAuthValue } from "../../../hal/tpm/session-crypto.js";

const kdfaVectors = JSON.parse(readFileSync(new URL("../../../../test/fixtures/tpm/kdfa-vectors.json", import.meta.url), "utf8")) as {
  vectors: { name: string; hash: string; key: string; label: string; contextU: string; contextV: string; bits: number; expected: string }[];
};

for (const v of kdfaVectors.vectors) {
  test(`KDFa known answer: ${v.name}`, () => {
    assert.equal(hex(kdfa(hashAlgFromName(v.hash), fromHex(v.key), v.label, fromHex(v.contextU), fromHex(v.contextV), v.bits)), v.expected);
  });
}

test("KDFe: the ECDH salt both ends compute is the same (ours from the ephemeral key, the TPM's from its private key)", () => {
  const tpmKey = createECDH("prime256v1");
  tpmKey.generateKeys();
  const pub = tpmKey.getPublicKey();
  const tpmX = new Uint8Array(pub.subarray(1, 33));
  const tpmY = new Uint8Array(pub.subarray(33, 65));
  const s = eccSalt(TPM_ALG.SHA256, tpmX, tpmY);
  assert.equal(s.salt.length, 32);
  // The TPM side (Part 1 Annex C.6.1): Z = x(d_tpm · Q_e), salt = KDFe(SHA-256, Z, "SECRET", x_e, x_tpm, 256).
  const z = new Uint8Array(tpmKey.computeSecret(Buffer.concat([Buffer.of(4), s.ephemeralX, s.ephemeralY])));
  assert.equal(hex(kdfe(TPM_ALG.SHA256, z, "SECRET", s.ephemeralX, tpmX, 256)), hex(s.salt));
  assert.notEqual(hex(eccSalt(TPM_ALG.SHA256, tpmX, tpmY).salt), hex(s.salt), "a fresh ephemeral key each time");
});

test("eccSalt refuses a point that is not P-256 sized", () => {
  assert.throws(() => eccSalt(TPM_ALG.SHA256, new Uint8Array(31), new Uint8Array(32)), RangeError);
});

test("an unsalted unbound session has an empty session key (Part 1 §19.6.8)", () => {
  assert.equal(sessionKey(TPM_ALG.SHA256, new Uint8Array(0), new Uint8Array(32), new Uint8Array(32)).length, 0);
  assert.equal(sessionKey(TPM_ALG.SHA256, new Uint8Array(32).fill(1), new Uint8Array(32), new Uint8Array(32)).length, 32);
});

test("AES-CFB parameter encryption round-trips, depends on both nonces and on direction of nonces", () => {
  const value = new Uint8Array(32).fill(3);
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(32).fill(2);
  const data = new Uint8Array(45).map((_, i) => i);
  const enc = cfbTransform("encrypt", TPM_ALG.SHA256, 128, value, a, b, data);
  assert.notEqual(hex(enc), hex(data));
  assert.equal(enc.length, data.length, "CFB keeps the length (no padding)");
  assert.equal(hex(cfbTransform("decrypt", TPM_ALG.SHA256, 128, value, a, b, enc)), hex(data));
  assert.notEqual(hex(cfbTransform("decrypt", TPM_ALG.SHA256, 128, value, b, a, enc)), hex(data), "swapped nonces give other bytes");
  assert.throws(() => cfbTransform("encrypt", TPM_ALG.SHA256, 100, value, a, b, data), RangeError);
});

test("authValues drop trailing zeros in HMAC keys (Part 1 §19.6.5)", () => {
  assert.equal(hex(trimAuthValue(fromHex("61620000"))), "6162");
  assert.equal(hex(trimAuthValue(fromHex("0000"))), "");
});
