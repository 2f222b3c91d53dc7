import { test } from "node:test";
import assert from "node:assert/strict";
import { isSealboxError } from "../../../daemon/errors.js";
import { softwareSignerFromSeed } from "../../../daemon/keys/software-key.js";
import { formatVkey, keyId, parseNote, parseVkey, signNote, signNoteWith, verifyNote, MAX_SIGNATURES } from "../../../daemon/ledger/note.js";
import { generateSeed } from "../../../daemon/keys/software-key.js";

// golang.org/x/mod/sumdb/note's published example (also used by every other
// signed-note implementation): skey "PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01||seed)>".
const GO_SKEY_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

const goSigner = () => softwareSignerFromSeed("PeterNeumann", Buffer.from(GO_SKEY_B64, "base64").subarray(1));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isSealboxError(e)) return e.code;
    throw e;
  }
  return "none";
}

test("reproduces the Go sumdb/note example byte for byte (key id, vkey, signature)", () => {
  const s = goSigner();
  assert.equal(Buffer.from(keyId("PeterNeumann", s.publicKey)).toString("hex"), "c74f20a3");
  assert.equal(formatVkey("PeterNeumann", s.publicKey), GO_VKEY);
  assert.equal(signNote(GO_TEXT, s), GO_NOTE);
  const v = parseVkey(GO_VKEY);
  const opened = verifyNote(GO_NOTE, [v]);
  assert.equal(opened.text, GO_TEXT);
  assert.deepEqual(opened.verified, [v]);
});

test("a changed text, signature or key fails with BAD_SIGNATURE", () => {
  const v = parseVkey(GO_VKEY);
  assert.equal(code(() => verifyNote(GO_NOTE.replace("cryptography", "cryptographY"), [v])), "BAD_SIGNATURE");
  const other = softwareSignerFromSeed("PeterNeumann", generateSeed());
  // Same name, different key: different key id, so it is an unknown key; nothing known verifies.
  assert.equal(code(() => verifyNote(signNote(GO_TEXT, other), [v])), "BAD_SIGNATURE");
  // A known name+id whose signature bytes are wrong.
  const sigStart = GO_NOTE.lastIndexOf(" ") + 1 + 8; // inside the signature, past the key id
  const mangled = GO_NOTE.slice(0, sigStart) + (GO_NOTE[sigStart] === "A" ? "B" : "A") + GO_NOTE.slice(sigStart + 1);
  assert.equal(code(() => verifyNote(mangled, [v])), "BAD_SIGNATURE");
});

test("unknown signatures are ignored; a second known signature is checked too", () => {
  const a = softwareSignerFromSeed("box.example/a", generateSeed());
  const b = softwareSignerFromSeed("box.example/b", generateSeed());
  const note = signNoteWith("hello\n", [a, b]);
  const va = parseVkey(formatVkey(a.name, a.publicKey));
  const vb = parseVkey(formatVkey(b.name, b.publicKey));
  assert.deepEqual(verifyNote(note, [va]).verified.map((x) => x.name), ["box.example/a"]);
  assert.deepEqual(verifyNote(note, [vb]).verified.map((x) => x.name), ["box.example/b"]);
  assert.equal(verifyNote(note, [va, vb]).verified.length, 2);
  // Break b's signature only: a verifier that knows b rejects the whole note.
  const lines = note.split("\n");
  const bLine = lines[lines.length - 2]!;
  const badB = bLine.slice(0, -6) + (bLine.at(-6) === "A" ? "B" : "A") + bLine.slice(-5);
  const broken = note.replace(bLine, badB);
  assert.equal(verifyNote(broken, [va]).verified.length, 1);
  assert.equal(code(() => verifyNote(broken, [va, vb])), "BAD_SIGNATURE");
  // The same key twice is refused.
  const dup = note + lines[2] + "\n";
  assert.equal(code(() => verifyNote(dup, [va])), "BAD_FORMAT");
});

test("malformed notes are BAD_FORMAT, never a crash", () => {
  const v = parseVkey(GO_VKEY);
  const sigLine = GO_NOTE.slice(GO_TEXT.length + 1);
  const cases: [string, string][] = [
    ["empty", ""],
    ["no final newline", GO_NOTE.slice(0, -1)],
    ["no blank line", GO_TEXT + sigLine],
    ["no signatures", GO_TEXT + "\n"],
    ["hyphen for em dash", GO_TEXT + "\n" + sigLine.replace("\u2014", "-")],
    ["tab in text", GO_NOTE.replace("If you", "If\tyou")],
    ["carriage return", GO_NOTE.replace("\n", "\r\n")],
    ["NUL", GO_NOTE.replace("If", "I\u0000")],
    ["lone surrogate", GO_NOTE.replace("If", "I\ud800")],
    ["bad base64", GO_NOTE.replace("x08go", "x08g!")],
    ["short signature", GO_TEXT + "\n\u2014 PeterNeumann AAAA\n"],
    ["extra field", GO_NOTE.replace(" x08go", " extra x08go")],
    ["empty name", GO_TEXT + "\n\u2014  " + sigLine.slice(15)],
    ["too many signatures", GO_NOTE + sigLine.repeat(MAX_SIGNATURES)],
    ["too large", "x".repeat(2 << 20) + GO_NOTE],
  ];
  for (const [why, note] of cases) assert.equal(code(() => verifyNote(note, [v])), "BAD_FORMAT", why);
  assert.equal(code(() => parseNote(123 as unknown as string)), "BAD_FORMAT");
});

test("a note whose text holds blank lines splits at the last blank line", () => {
  const s = softwareSignerFromSeed("k", generateSeed());
  const text = "a\n\nb\n\n";
  const note = signNote(text, s);
  assert.equal(verifyNote(note, [parseVkey(formatVkey("k", s.publicKey))]).text, text);
});

test("signNote refuses text that cannot be a note", () => {
  const s = goSigner();
  for (const text of ["", "no newline", "tab\there\n", "\ud800\n"]) assert.equal(code(() => signNote(text, s)), "BAD_FORMAT", JSON.stringify(text));
  const badName = softwareSignerFromSeed("has space", generateSeed());
  assert.equal(code(() => signNote("x\n", badName)), "BAD_FORMAT");
  const plus = softwareSignerFromSeed("a+b", generateSeed());
  assert.equal(code(() => signNote("x\n", plus)), "BAD_FORMAT");
});

test("every truncation and every one-byte change of a vkey is refused", () => {
  const b = Buffer.from(GO_VKEY);
  let refused = 0;
  for (let i = 0; i <= b.length; i++) {
    for (let j = i + 1; j <= b.length; j++) {
      if (i === 0 && j === b.length) continue;
      assert.equal(code(() => parseVkey(b.subarray(i, j).toString("latin1"))), "BAD_FORMAT", `substring ${i}..${j}`);
      refused++;
    }
  }
  for (let i = 0; i < b.length; i++) {
    const c = Buffer.from(b);
    c[i] = c[i]! + 1;
    assert.equal(code(() => parseVkey(c.toString("latin1"))), "BAD_FORMAT", `byte ${i} + 1`);
  }
  assert.ok(refused > 1000);
  // Another signature type byte.
  assert.match(String((() => { try { parseVkey("n+00000000+AhQ="); } catch (e) { return (e as Error).message; } return ""; })()), /not supported|does not match/);
});

test("a vkey whose base64 part contains '+' parses", () => {
  // transparency-dev/formats' test key; its base64 holds a plus sign.
  const v = parseVkey("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6");
  assert.equal(v.name, "TEST");
  assert.equal(Buffer.from(v.keyId).toString("hex"), "7997405c");
});
