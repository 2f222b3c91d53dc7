import assert from "node:assert/strict";
import { sign, verify, createPublicKey } from "node:crypto";
import { test } from "node:test";
import { isValidKeyName, keyFromSeed, mixSeed, noteKeyId, noteVkey } from "../../../daemon/keys/ed25519-seed.js";

test("keyFromSeed: RFC 8032 §7.1 test 1 — the seed gives the published public key and signature", () => {
  const seed = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
  const k = keyFromSeed(seed);
  assert.equal(Buffer.from(k.publicKey).toString("hex"), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const sig = sign(null, Buffer.alloc(0), k.privateKey);
  assert.equal(sig.toString("hex"), "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  assert.ok(verify(null, Buffer.alloc(0), createPublicKey(k.privateKey), sig));
});

test("keyFromSeed refuses seeds that are not 32 bytes", () => {
  assert.throws(() => keyFromSeed(new Uint8Array(31)), RangeError);
  assert.throws(() => keyFromSeed(new Uint8Array(33)), RangeError);
});

test("mixSeed: deterministic in its inputs, changes with either source, needs 32 bytes of each", () => {
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(32).fill(2);
  const s = Buffer.from(mixSeed(a, b)).toString("hex");
  assert.equal(Buffer.from(mixSeed(a, b)).toString("hex"), s);
  assert.notEqual(Buffer.from(mixSeed(a, new Uint8Array(32).fill(3))).toString("hex"), s);
  assert.notEqual(Buffer.from(mixSeed(new Uint8Array(32).fill(3), b)).toString("hex"), s);
  assert.equal(mixSeed(a, b).length, 32);
  assert.throws(() => mixSeed(new Uint8Array(16), b), RangeError);
});

test("C2SP signed-note vkey and key id: the spec's PeterNeumann example", () => {
  // From the C2SP signed-note specification's example verifier key.
  const vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
  const pub = Buffer.from(vkey.split("+")[2]!, "base64").subarray(1);
  assert.equal(Buffer.from(noteKeyId("PeterNeumann", pub)).toString("hex"), "c74f20a3");
  assert.equal(noteVkey("PeterNeumann", pub), vkey);
});

test("key names: no spaces, no '+', not empty", () => {
  assert.ok(isValidKeyName("sealbox/box-1"));
  assert.ok(!isValidKeyName(""));
  assert.ok(!isValidKeyName("a b"));
  assert.ok(!isValidKeyName("a+b"));
});
