import { test } from "node:test";
import assert from "node:assert/strict";
import { isSealboxError } from "../../../daemon/errors.js";
import { formatCheckpoint, openCheckpoint, parseCheckpoint } from "../../../daemon/ledger/checkpoint.js";
import { formatVkey, parseVkey, signNote } from "../../../daemon/ledger/note.js";
import { formatTlogProof, parseTlogProof, TLOG_PROOF_HEADER } from "../../../daemon/ledger/tlog-proof.js";
import { generateSeed, softwareSignerFromSeed } from "../../../daemon/keys/software-key.js";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isSealboxError(e)) return e.code;
    throw e;
  }
  return "none";
}

const root = new Uint8Array(32).fill(7);

test("formats the C2SP tlog-checkpoint text and parses it back", () => {
  const text = formatCheckpoint({ origin: "example.com/behind-the-sofa", size: 20852163, rootHash: root });
  assert.equal(text, "example.com/behind-the-sofa\n20852163\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n");
  assert.deepEqual(parseCheckpoint(text), { origin: "example.com/behind-the-sofa", size: 20852163, rootHash: root, extensions: [] });
  const ext = formatCheckpoint({ origin: "o", size: 0, rootHash: root, extensions: ["x y"] });
  assert.deepEqual(parseCheckpoint(ext).extensions, ["x y"]);
});

test("malformed checkpoint text is BAD_FORMAT", () => {
  const good = formatCheckpoint({ origin: "o", size: 5, rootHash: root });
  const bad: [string, string][] = [
    ["no newline", good.slice(0, -1)],
    ["two lines", "o\n5\n"],
    ["empty origin", good.replace(/^o/, "")],
    ["leading zero", good.replace("\n5\n", "\n05\n")],
    ["negative", good.replace("\n5\n", "\n-5\n")],
    ["hex size", good.replace("\n5\n", "\n0x5\n")],
    ["huge size", good.replace("\n5\n", "\n99999999999999999999\n")],
    ["31-byte root", formatCheckpoint({ origin: "o", size: 5, rootHash: root }).replace(/\n[^\n]+\n$/, "\n" + Buffer.alloc(31).toString("base64") + "\n")],
    ["unpadded root", good.replace("=\n", "\n")],
    ["empty extension", good + "\n"],
  ];
  for (const [why, t] of bad) assert.equal(code(() => parseCheckpoint(t)), "BAD_FORMAT", why);
  assert.equal(code(() => formatCheckpoint({ origin: "o", size: -1, rootHash: root })), "BAD_FORMAT");
  assert.equal(code(() => formatCheckpoint({ origin: "o\nx", size: 1, rootHash: root })), "BAD_FORMAT");
});

test("openCheckpoint verifies the signature and the expected origin", () => {
  const s = softwareSignerFromSeed("box.example/log", generateSeed());
  const note = signNote(formatCheckpoint({ origin: "box.example/log", size: 3, rootHash: root }), s);
  const v = parseVkey(formatVkey(s.name, s.publicKey));
  assert.equal(openCheckpoint(note, [v], "box.example/log").size, 3);
  assert.equal(code(() => openCheckpoint(note, [v], "box.example/other")), "VERIFY_FAILED");
  const other = softwareSignerFromSeed("box.example/log", generateSeed());
  assert.equal(code(() => openCheckpoint(signNote(formatCheckpoint({ origin: "box.example/log", size: 3, rootHash: root }), other), [v])), "BAD_SIGNATURE");
});

test("tlog-proof format round-trips, with and without extra data", () => {
  const cp = "o\n2\n" + Buffer.from(root).toString("base64") + "\n\n\u2014 o AAAAAAAA\n";
  const p = { index: 1, proof: [root, new Uint8Array(32)], checkpoint: cp };
  const text = formatTlogProof(p);
  assert.ok(text.startsWith(`${TLOG_PROOF_HEADER}\nindex 1\n`));
  assert.deepEqual(parseTlogProof(text), p);
  const withExtra = { ...p, extra: new Uint8Array([1, 2, 3]) };
  const t2 = formatTlogProof(withExtra);
  assert.ok(t2.includes("\nextra AQID\nindex 1\n"));
  assert.deepEqual(parseTlogProof(t2), withExtra);
  assert.deepEqual(parseTlogProof(formatTlogProof({ index: 0, proof: [], checkpoint: cp })).proof, []);
});

test("malformed tlog-proofs are BAD_FORMAT", () => {
  const cp = "o\n2\n" + Buffer.from(root).toString("base64") + "\n\n\u2014 o AAAAAAAA\n";
  const good = formatTlogProof({ index: 1, proof: [root], checkpoint: cp });
  const bad: [string, string][] = [
    ["wrong header", good.replace("@v1", "@v2")],
    ["no index", good.replace("index 1\n", "")],
    ["index leading zero", good.replace("index 1", "index 01")],
    ["short hash", good.replace(Buffer.from(root).toString("base64") + "\n\n", Buffer.alloc(31).toString("base64") + "\n\n")],
    ["no blank line", good.replace("\n\n", "\n")],
    ["no checkpoint", good.slice(0, good.indexOf("\n\n") + 2)],
    ["too many hashes", good.replace("index 1\n", "index 1\n" + (Buffer.from(root).toString("base64") + "\n").repeat(65))],
    ["garbage", "\u0000\u0001\u0002"],
  ];
  for (const [why, t] of bad) assert.equal(code(() => parseTlogProof(t)), "BAD_FORMAT", why);
});
