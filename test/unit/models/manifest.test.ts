import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { canonicalJson } from "../../../daemon/ledger/record.js";
import {
  keyIdOf,
  MANIFEST_MAX_BYTES,
  parseSignedManifest,
  rawPublicKey,
  serializeSignedManifest,
  signManifest,
  verifySignedManifest,
  type Authority,
  type ModelManifest,
  type SignedManifest,
} from "../../../daemon/inference/manifest.js";
import { pickModel } from "../../../daemon/inference/models.js";
import { isSealboxError } from "../../../daemon/errors.js";

const SHA = "a".repeat(64);
const base: ModelManifest = {
  format: "sealbox.model-manifest/1",
  name: "llama-tiny",
  sha256: SHA,
  sizeBytes: 123456,
  licence: "Apache-2.0",
  source: "https://example.invalid/llama-tiny.gguf",
  fileName: "llama-tiny.gguf",
  signedAt: "2026-01-02T03:04:05Z",
};

function authority(name = "site-a"): Authority & { privateKey: ReturnType<typeof generateKeyPairSync>["privateKey"] } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { name, keyId: keyIdOf(rawPublicKey(publicKey)), publicKey, privateKey };
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isSealboxError(e, "MODEL_REJECTED"), `expected MODEL_REJECTED, got ${String(e)}`);
    return String(e.details?.reason);
  }
  return "accepted";
}

const bytes = (s: string) => Buffer.from(s, "utf8");

test("the manifest file is the RFC 8785 form: sorted keys, no whitespace, UTF-8 as is", () => {
  const a = authority();
  const text = serializeSignedManifest(signManifest({ ...base, name: "modèle 😀" }, a.privateKey)).toString("utf8");
  assert.match(text, /^\{"manifest":\{"fileName":"llama-tiny\.gguf","format":"sealbox\.model-manifest\/1","licence":"Apache-2\.0","name":"modèle 😀","sha256":"a{64}","signedAt":"2026-01-02T03:04:05Z","sizeBytes":123456,"source":"https:\/\/example\.invalid\/llama-tiny\.gguf"\},"signature":\{"alg":"Ed25519","keyId":"[0-9a-f]{64}","sig":"[A-Za-z0-9+/]{86}=="\}\}\n$/);
  assert.equal(canonicalJson({ "ｚ": 1, "😀": 2 }), '{"😀":2,"ｚ":1}', "keys sort by UTF-16 code units (D83D < FF5A)");
});

test("sign, serialize, parse and verify round-trip; the key id is SHA-256 of the raw public key", () => {
  const a = authority();
  const signed = signManifest(base, a.privateKey);
  assert.equal(signed.signature.keyId, a.keyId);
  assert.match(signed.signature.sig, /^[A-Za-z0-9+/]{86}==$/);
  const file = serializeSignedManifest(signed);
  assert.ok(file.toString().endsWith("}\n"));
  const parsed = parseSignedManifest(file);
  assert.deepEqual(parsed, signed);
  assert.equal(verifySignedManifest(parsed, [authority("other"), a]).name, "site-a");
  // Signatures are deterministic (RFC 8032): the same manifest, the same bytes.
  assert.deepEqual(serializeSignedManifest(signManifest(base, a.privateKey)), file);
});

test("any change to a signed field breaks the signature", () => {
  const a = authority();
  const signed = signManifest(base, a.privateKey);
  const changes: Partial<ModelManifest>[] = [{ name: "llama-tiny2" }, { sha256: "b".repeat(64) }, { sizeBytes: 123457 }, { licence: "MIT" }, { source: "elsewhere" }, { fileName: "x.gguf" }, { signedAt: "2026-01-02T03:04:06Z" }];
  for (const change of changes) {
    const tampered: SignedManifest = { manifest: { ...signed.manifest, ...change }, signature: signed.signature };
    const reparsed = parseSignedManifest(serializeSignedManifest(tampered));
    assert.equal(reason(() => verifySignedManifest(reparsed, [a])), "bad-signature", JSON.stringify(change));
  }
  // A signature by another key under this authority's key id.
  const forger = authority();
  const forged = signManifest(base, forger.privateKey);
  assert.equal(reason(() => verifySignedManifest({ ...forged, signature: { ...forged.signature, keyId: a.keyId } }, [a])), "bad-signature");
});

test("a manifest by an authority the box does not trust is refused, naming what is trusted", () => {
  const a = authority();
  const signed = signManifest(base, a.privateKey);
  assert.equal(reason(() => verifySignedManifest(signed, [])), "unknown-authority");
  try {
    verifySignedManifest(signed, [authority("site-b")]);
  } catch (e) {
    assert.match((e as Error).message, /does not trust.*trusted: site-b/);
  }
});

test("malformed, hostile and oversized manifests are refused with a reason, never parsed loosely", () => {
  const a = authority();
  const good = serializeSignedManifest(signManifest(base, a.privateKey)).toString();
  const obj = JSON.parse(good) as { manifest: Record<string, unknown>; signature: Record<string, unknown> };
  const variant = (f: (o: typeof obj) => void) => {
    const o = JSON.parse(good) as typeof obj;
    f(o);
    return bytes(canonicalJson(o as never));
  };
  const cases: [string, Uint8Array, string][] = [
    ["empty", bytes(""), "manifest-malformed"],
    ["not JSON", bytes("hello"), "manifest-malformed"],
    ["a JSON array", bytes("[]"), "manifest-malformed"],
    ["truncated", bytes(good.slice(0, good.length - 10)), "manifest-malformed"],
    ["not UTF-8", Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), "manifest-malformed"],
    ["oversized", Buffer.alloc(MANIFEST_MAX_BYTES + 1, 0x20), "manifest-too-large"],
    ["pretty-printed", bytes(JSON.stringify(obj, null, 2)), "manifest-not-canonical"],
    ["keys out of order", bytes(JSON.stringify({ signature: obj.signature, manifest: obj.manifest })), "manifest-not-canonical"],
    ["duplicate key", bytes(good.replace('{"manifest":{', '{"manifest":{"name":"evil",')), "manifest-not-canonical"],
    ["two trailing newlines", bytes(good + "\n"), "manifest-not-canonical"],
    ["unknown top-level field", variant((o) => ((o as unknown as Record<string, unknown>).extra = 1)), "manifest-malformed"],
    ["unknown manifest field", variant((o) => (o.manifest.url = "x")), "manifest-malformed"],
    ["missing sha256", variant((o) => delete o.manifest.sha256), "manifest-malformed"],
    ["uppercase sha256", variant((o) => (o.manifest.sha256 = "A".repeat(64))), "manifest-malformed"],
    ["short sha256", variant((o) => (o.manifest.sha256 = "a".repeat(63))), "manifest-malformed"],
    ["size 0", variant((o) => (o.manifest.sizeBytes = 0)), "manifest-malformed"],
    ["size negative", variant((o) => (o.manifest.sizeBytes = -5)), "manifest-malformed"],
    ["size as string", variant((o) => (o.manifest.sizeBytes = "5")), "manifest-malformed"],
    ["size not whole", variant((o) => (o.manifest.sizeBytes = 1.5)), "manifest-malformed"],
    ["size past 2^53", variant((o) => (o.manifest.sizeBytes = 2 ** 53)), "manifest-malformed"],
    ["size written 123456.0", bytes(good.replace('"sizeBytes":123456', '"sizeBytes":123456.0')), "manifest-not-canonical"],
    ["escaped letter", bytes(good.replace('"name":"llama-tiny"', '"name":"\\u006clama-tiny"')), "manifest-not-canonical"],
    ["wrong format", variant((o) => (o.manifest.format = "sealbox.model-manifest/2")), "manifest-malformed"],
    ["control character in name", variant((o) => (o.manifest.name = "evil\u001b[2J")), "manifest-malformed"],
    ["empty licence", variant((o) => (o.manifest.licence = "")), "manifest-malformed"],
    ["name with spaces around", variant((o) => (o.manifest.name = " x ")), "manifest-malformed"],
    ["overlong source", variant((o) => (o.manifest.source = "s".repeat(1025))), "manifest-malformed"],
    ["file name a path", variant((o) => (o.manifest.fileName = "../../etc/passwd")), "manifest-malformed"],
    ["bad time", variant((o) => (o.manifest.signedAt = "yesterday")), "manifest-malformed"],
    ["local time", variant((o) => (o.manifest.signedAt = "2026-01-02T03:04:05+01:00")), "manifest-malformed"],
    ["other algorithm", variant((o) => (o.signature.alg = "RS256")), "manifest-malformed"],
    ["short signature", variant((o) => (o.signature.sig = "AAAA")), "manifest-malformed"],
    ["bad key id", variant((o) => (o.signature.keyId = "xyz")), "manifest-malformed"],
    ["signature not an object", variant((o) => ((o as unknown as Record<string, unknown>).signature = "sig")), "manifest-malformed"],
  ];
  for (const [what, input, expected] of cases) assert.equal(reason(() => parseSignedManifest(input)), expected, what);
  // Every problem is named at once.
  try {
    parseSignedManifest(variant((o) => {
      o.manifest.sizeBytes = -1;
      o.manifest.licence = "";
    }));
  } catch (e) {
    assert.match((e as Error).message, /sizeBytes.*licence|licence.*sizeBytes/);
  }
});

test("a manifest cut at every byte is refused, never half-read", () => {
  const a = authority();
  const good = serializeSignedManifest(signManifest(base, a.privateKey));
  for (let cut = 0; cut < good.length - 1; cut++) {
    const r = reason(() => parseSignedManifest(good.subarray(0, cut)));
    assert.notEqual(r, "accepted", `cut at ${cut}`);
  }
  assert.equal(reason(() => parseSignedManifest(good.subarray(0, good.length - 1))), "accepted", "the trailing newline is optional");
});

test("pickModel: full hash, exact name, unique prefix; ambiguity and absence are clear errors", () => {
  const m = (sha: string, name: string) => ({ sha256: sha, manifest: { name } });
  const models = [m("ab" + "0".repeat(62), "alpha"), m("ab" + "1".repeat(62), "beta"), m("cd" + "2".repeat(62), "abcdef")];
  assert.equal(pickModel(models, "ab" + "1".repeat(62)).manifest.name, "beta");
  assert.equal(pickModel(models, "alpha").sha256, models[0]!.sha256);
  assert.equal(pickModel(models, "abcdef").sha256, models[2]!.sha256, "a name wins over a prefix");
  assert.equal(pickModel(models, "ab1111").manifest.name, "beta");
  assert.equal(pickModel(models, "ab0000").manifest.name, "alpha");
  assert.throws(() => pickModel(models, "ab"), (e: unknown) => isSealboxError(e, "NOT_FOUND"));
  assert.throws(() => pickModel([m("ab" + "0".repeat(62), "x"), m("ab" + "0".repeat(61) + "1", "y")], "ab0000"), (e: unknown) => isSealboxError(e, "BAD_ARGUMENT") && /matches 2 models/.test(e.message));
  assert.throws(() => pickModel(models, "nothing"), (e: unknown) => isSealboxError(e, "NOT_FOUND"));
  assert.throws(() => pickModel(models, " "), (e: unknown) => isSealboxError(e, "BAD_ARGUMENT"));
});
