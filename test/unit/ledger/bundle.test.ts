import { test } from "node:test";
import assert from "node:assert/strict";
import { isSealboxError } from "../../../daemon/errors.js";
import { parseManifest } from "../../../daemon/ledger/bundle.js";

const h = Buffer.alloc(32, 1).toString("base64");
const good = {
  format: "sealbox-audit-bundle",
  version: 1,
  origin: "o",
  box: "b",
  vkey: "v",
  tree_size: 5,
  from: 1,
  to: 4,
  left: [h],
  right: [h],
  exported_at: "t",
};

test("a well-formed manifest parses, with its hashes decoded", () => {
  const p = parseManifest(JSON.stringify(good));
  assert.equal(p.left.length, 1);
  assert.equal(p.left[0]!.length, 32);
  const withProof = parseManifest(JSON.stringify({ ...good, consistency: { old_size: 2, proof: [h, h] } }));
  assert.equal(withProof.consistency?.oldSize, 2);
});

test("hostile manifests are refused with a message naming the field", () => {
  const bad: [string, unknown][] = [
    ["not JSON", "{"],
    ["array", []],
    ["null", null],
    ["wrong format", { ...good, format: "x" }],
    ["future version", { ...good, version: 2 }],
    ["from > to", { ...good, from: 5, to: 4 }],
    ["to > size", { ...good, to: 6 }],
    ["negative", { ...good, from: -1 }],
    ["fraction", { ...good, tree_size: 5.5 }],
    ["huge", { ...good, tree_size: 2 ** 60 }],
    ["string size", { ...good, tree_size: "5" }],
    ["left not list", { ...good, left: h }],
    ["short hash", { ...good, left: [Buffer.alloc(31).toString("base64")] }],
    ["bad base64", { ...good, right: ["!!!!"] }],
    ["too many hashes", { ...good, right: Array(200).fill(h) }],
    ["number hash", { ...good, left: [1] }],
    ["missing origin", { ...good, origin: undefined }],
    ["consistency not object", { ...good, consistency: 3 }],
    ["consistency size", { ...good, consistency: { old_size: -1, proof: [] } }],
  ];
  for (const [why, v] of bad) {
    const text = typeof v === "string" ? v : JSON.stringify(v);
    assert.throws(() => parseManifest(text), (e: unknown) => isSealboxError(e, "VERIFY_FAILED") && (e as Error).message.startsWith("bundle.json:"), why);
  }
});
