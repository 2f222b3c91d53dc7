// key.json is a file reader facing whatever is on disk: malformed, truncated,
// oversized and hostile content is refused with a coded error naming the field.

import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { KEY_JSON_MAX_BYTES, parseTpmKeyJson, readTpmKey, writeTpmKey } from "../../../daemon/keys/tpm-key-file.js";
import { makeTempDir } from "../../helpers/swtpm.js";

const good = {
  origin: "tpm",
  name: "sealbox/test",
  public_key: Buffer.alloc(32, 7).toString("base64"),
  key_id: "0a0b0c0d",
  vkey: "sealbox/test+0a0b0c0d+AQcH",
  pcr_bank: "sha256",
  pcrs: [7],
  pcr_values: { "7": "00".repeat(32) },
  policy_digest: "11".repeat(32),
  srk_name: "000b" + "22".repeat(32),
  nv_index: 0x01005ea1,
  nv_baseline: "1",
  sealed_public: "sealed.pub",
  sealed_private: "sealed.priv",
  created: "2024-01-01T00:00:00.000Z",
};

test("a well-formed key.json parses", () => {
  const m = parseTpmKeyJson(JSON.stringify(good));
  assert.equal(m.nv_index, 0x01005ea1);
  assert.deepEqual(m.pcrs, [7]);
});

const hostile: [string, unknown, RegExp][] = [
  ["not JSON", "{", /not valid JSON/],
  ["an array", [], /not a JSON object/],
  ["a software origin", { ...good, origin: "software" }, /origin is "software"/],
  ["no pcrs", { ...good, pcrs: [] }, /"pcrs"/],
  ["PCR 24", { ...good, pcrs: [24] }, /"pcrs"/],
  ["a PCR value missing", { ...good, pcrs: [7, 8] }, /"pcr_values"."8"/],
  ["a short PCR value", { ...good, pcr_values: { "7": "00" } }, /"pcr_values"."7"/],
  ["a sha1 bank", { ...good, pcr_bank: "sha1" }, /"pcr_bank"/],
  ["an NV index outside NV space", { ...good, nv_index: 0x81000001 }, /"nv_index"/],
  ["a fractional NV index", { ...good, nv_index: 1.5 }, /"nv_index"/],
  ["a short public key", { ...good, public_key: "AAAA" }, /"public_key"/],
  ["a key id that is not 8 hex digits", { ...good, key_id: "xyz" }, /"key_id"/],
  ["a baseline that is not a number", { ...good, nv_baseline: "-1" }, /"nv_baseline"/],
  ["a blob path escaping keys/", { ...good, sealed_public: "../../etc/passwd" }, /"sealed_public"/],
  ["a numeric name", { ...good, name: 5 }, /"name"/],
  ["a huge string", { ...good, name: "x".repeat(5000) }, /"name"/],
  ["a malformed attestation key", { ...good, attestation_key: { name: "00", x: "11", y: "22" } }, /"x"/],
];

for (const [what, value, why] of hostile) {
  test(`key.json with ${what} is refused naming the problem`, () => {
    assert.throws(
      () => parseTpmKeyJson(typeof value === "string" ? value : JSON.stringify(value)),
      (e) => isSealboxError(e, "BAD_FORMAT") && why.test((e as Error).message),
    );
  });
}

test("an oversized key.json is refused before parsing", () => {
  assert.throws(() => parseTpmKeyJson(" ".repeat(KEY_JSON_MAX_BYTES + 1)), (e) => isSealboxError(e, "TOO_LARGE"));
});

test("every truncation of key.json is refused", () => {
  const text = JSON.stringify(good);
  for (let cut = 0; cut < text.length; cut++) assert.throws(() => parseTpmKeyJson(text.slice(0, cut)), (e) => isSealboxError(e, "BAD_FORMAT"), `cut ${cut}`);
});

test("blobs round-trip through disk; missing, oversized or non-TPM2B blobs are refused", async () => {
  const t = await makeTempDir();
  try {
    const meta = parseTpmKeyJson(JSON.stringify(good));
    await writeTpmKey(t.dir, meta, { public: new Uint8Array([1, 2, 3]), private: new Uint8Array([4, 5]) });
    const back = await readTpmKey(t.dir);
    assert.deepEqual([...back.blob.public], [1, 2, 3]);
    assert.deepEqual([...back.blob.private], [4, 5]);
    await writeFile(join(t.dir, "keys", "sealed.pub"), Buffer.from([0, 9, 1]));
    await assert.rejects(readTpmKey(t.dir), (e) => isSealboxError(e, "BAD_FORMAT") && /sealed.pub is not a TPM2B/.test((e as Error).message));
    await writeFile(join(t.dir, "keys", "sealed.pub"), Buffer.alloc(5000));
    await assert.rejects(readTpmKey(t.dir), (e) => isSealboxError(e, "TOO_LARGE"));
    const empty = await makeTempDir();
    await mkdir(join(empty.dir, "keys"));
    await assert.rejects(readTpmKey(empty.dir), (e) => isSealboxError(e, "KEY_UNAVAILABLE") && /provision a key first/.test((e as Error).message));
    await empty.cleanup();
  } finally {
    await t.cleanup();
  }
});
