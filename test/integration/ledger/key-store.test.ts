// DIR/keys/key.json, the software key file and DIR/box.json are file readers
// facing whatever is on disk: every malformed, mismatched or hostile variant
// is a clear KEY_UNAVAILABLE / BAD_CONFIG, never a crash or a wrong key.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, rm, stat, writeFile, mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { isSealboxError } from "../../../daemon/errors.js";
import { ensureBox, readBox } from "../../../daemon/box.js";
import { openSigner, provisionSoftwareKey, readKeyInfo, showKey, softwareKeyName } from "../../../daemon/keys/key-store.js";
import { ed25519Verifier, formatVkey } from "../../../daemon/ledger/note.js";
import { tempDir } from "../../helpers/ledger-harness.js";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function fresh(seed?: Uint8Array): Promise<string> {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const state = join(dir, "s");
  await provisionSoftwareKey(state, seed ? { seed } : {});
  return state;
}

test("a provisioned software key signs, and its files are private", async () => {
  const state = await fresh(new Uint8Array(32).fill(7));
  const box = await readBox(state);
  const info = await showKey(state);
  assert.equal(info.origin, "software");
  assert.equal(info.name, softwareKeyName(box.box_id));
  assert.match(info.name, /\/software$/);
  const signer = await openSigner(state);
  assert.equal(formatVkey(signer.name, signer.publicKey), info.vkey);
  const msg = new TextEncoder().encode("hello\n");
  assert.ok(ed25519Verifier(signer.name, signer.publicKey).verify(msg, signer.sign(msg)));
  signer.close();
  signer.close();
  assert.throws(() => signer.sign(msg), (e: unknown) => isSealboxError(e, "KEY_UNAVAILABLE"), "a closed signer refuses");
  assert.equal((await stat(join(state, "keys", "software-ed25519.key"))).mode & 0o777, 0o600);
  // The same seed gives the same key (provisioning is reproducible for fixtures).
  const again = await fresh(new Uint8Array(32).fill(7));
  assert.equal((await showKey(again)).public_key, info.public_key);
});

test("hostile key.json and key files are refused with KEY_UNAVAILABLE", async () => {
  const state = await fresh();
  const keyJson = join(state, "keys", "key.json");
  const good = JSON.parse(await readFile(keyJson, "utf8")) as Record<string, unknown>;
  const other = JSON.parse(await readFile(join(await fresh(), "keys", "key.json"), "utf8")) as Record<string, unknown>;
  const cases: [string, string | Buffer][] = [
    ["not JSON", "{"],
    ["array", "[]"],
    ["unknown origin", JSON.stringify({ ...good, origin: "hsm" })],
    ["key id mismatch", JSON.stringify({ ...good, key_id: "00000000" })],
    ["vkey mismatch", JSON.stringify({ ...good, vkey: other.vkey })],
    ["public key of another key", JSON.stringify({ ...good, public_key: other.public_key, key_id: other.key_id, vkey: formatVkey(good.name as string, Buffer.from(other.public_key as string, "base64")) })],
    ["short public key", JSON.stringify({ ...good, public_key: Buffer.alloc(31).toString("base64") })],
    ["name with a space", JSON.stringify({ ...good, name: "a b" })],
    ["private key file outside keys/", JSON.stringify({ ...good, private_key_file: "../box.json" })],
    ["huge", Buffer.alloc(100 * 1024, 0x20)],
  ];
  for (const [why, content] of cases) {
    await writeFile(keyJson, content);
    await assert.rejects(
      (async () => (await openSigner(state)).close())(),
      (e: unknown) => isSealboxError(e, "KEY_UNAVAILABLE") && (e as Error).message.length > 10,
      why,
    );
  }
  await writeFile(keyJson, JSON.stringify(good));
  (await openSigner(state)).close();
  // The private key file: missing, garbage, a directory, /dev/zero.
  const pem = join(state, "keys", "software-ed25519.key");
  const original = await readFile(pem);
  for (const [why, make] of [
    ["missing", () => rm(pem)],
    ["garbage", () => writeFile(pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")],
    ["a directory", async () => (await rm(pem), await mkdir(pem))],
    ["/dev/zero", async () => (await rm(pem, { recursive: true, force: true }), await symlink("/dev/zero", pem))],
  ] as [string, () => Promise<unknown>][]) {
    await rm(pem, { recursive: true, force: true });
    await writeFile(pem, original, { mode: 0o600 });
    await make();
    await assert.rejects(openSigner(state), (e: unknown) => isSealboxError(e, "KEY_UNAVAILABLE"), why);
  }
  await rm(pem, { recursive: true, force: true });
  // Another key's private key under this key.json.
  await writeFile(pem, await readFile(join(await fresh(), "keys", "software-ed25519.key")), { mode: 0o600 });
  await assert.rejects(openSigner(state), /does not match the public key/);
  // No key at all.
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  await assert.rejects(readKeyInfo(dir), (e: unknown) => isSealboxError(e, "KEY_UNAVAILABLE") && /provision/.test((e as Error).message));
});

test("provisioning refuses to replace a key without force, even an unreadable one", async () => {
  const state = await fresh();
  await assert.rejects(provisionSoftwareKey(state), (e: unknown) => isSealboxError(e, "KEY_EXISTS"));
  await writeFile(join(state, "keys", "key.json"), "garbage");
  await assert.rejects(provisionSoftwareKey(state), (e: unknown) => isSealboxError(e, "KEY_EXISTS"));
  const r = await provisionSoftwareKey(state, { force: true });
  assert.equal(r.replaced, undefined, "an unreadable key.json replaced is reported as unknown");
  (await openSigner(state)).close();
});

test("box.json: created once, validated when read", async () => {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const a = await ensureBox(join(dir, "b"));
  assert.match(a.box_id, /^box-[0-9a-f]{12}$/);
  assert.deepEqual(await ensureBox(join(dir, "b")), a, "an existing box keeps its id");
  await assert.rejects(ensureBox(join(dir, "b"), "box-other"), (e: unknown) => isSealboxError(e, "BAD_CONFIG"));
  await assert.rejects(readBox(join(dir, "none")), (e: unknown) => isSealboxError(e, "NOT_FOUND"));
  await assert.rejects(ensureBox(join(dir, "c"), "Bad Id"), (e: unknown) => isSealboxError(e, "BAD_ARGUMENT"));
  for (const bad of ["{", "[]", '{"box_id":"A B","created":"x"}', '{"box_id":"ok"}', "x".repeat(10_000)]) {
    await writeFile(join(dir, "b", "box.json"), bad);
    await assert.rejects(readBox(join(dir, "b")), (e: unknown) => isSealboxError(e, "BAD_CONFIG"), bad.slice(0, 20));
  }
});
