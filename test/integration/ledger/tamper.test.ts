// The tamper matrix: every way of changing an exported bundle is caught by
// `sealbox verify` (the real CLI), which exits non-zero naming what failed.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openLedger } from "../../../daemon/ledger/ledger.js";
import { openLedgerReader } from "../../../daemon/ledger/reader.js";
import { exportBundle } from "../../../daemon/ledger/export.js";
import { verifyBundle } from "../../../daemon/ledger/verify.js";
import { formatVkey, signNote, parseNote } from "../../../daemon/ledger/note.js";
import { generateSeed, softwareSignerFromSeed } from "../../../daemon/keys/software-key.js";
import { event, sealbox, tempState, type TempState } from "../../helpers/ledger-harness.js";

interface World {
  s: TempState;
  root: string;
  /** Bundle of the whole log at 60 records. */
  bundle: string;
  /** Bundle of the log when it had 30 records. */
  oldBundle: string;
  /** The checkpoint at 60 records (what an auditor kept). */
  trusted: string;
}

async function exportTo(stateDir: string, out: string, vkey: string, options: { from?: number; to?: number } = {}): Promise<void> {
  const r = await openLedgerReader(stateDir);
  try {
    await exportBundle(r, out, { vkey, ...options });
  } finally {
    await r.close();
  }
}

let world: World | undefined;
async function setup(): Promise<World> {
  if (world) return world;
  const s = await tempState();
  const root = join(s.dir, "..");
  const ledger = await openLedger({ stateDir: s.dir, signer: s.signer });
  for (let i = 1; i < 30; i++) await ledger.append(event(i));
  await exportTo(s.dir, join(root, "old"), s.vkey);
  for (let i = 30; i < 60; i++) await ledger.append(event(i));
  await ledger.close();
  await exportTo(s.dir, join(root, "bundle"), s.vkey);
  const trusted = join(root, "trusted.checkpoint");
  await writeFile(trusted, await readFile(join(root, "bundle", "checkpoint")));
  world = { s, root, bundle: join(root, "bundle"), oldBundle: join(root, "old"), trusted };
  return world;
}

let copies = 0;
async function copyBundle(w: World, from = w.bundle): Promise<string> {
  const dir = join(w.root, `copy-${copies++}`);
  await mkdir(dir);
  await cp(from, dir, { recursive: true });
  return dir;
}

async function editRecords(dir: string, edit: (lines: string[]) => string[]): Promise<void> {
  const path = join(dir, "records.jsonl");
  const lines = (await readFile(path, "utf8")).split("\n");
  lines.pop();
  await writeFile(path, edit(lines).map((l) => l + "\n").join(""));
}

async function verifyFails(w: World, dir: string, pattern: RegExp, extra: string[] = []): Promise<void> {
  const r = await sealbox(["verify", dir, "--key", w.s.vkey, ...extra]);
  assert.notEqual(r.code, 0, `verify passed a tampered bundle:\n${r.stdout}`);
  assert.equal(r.signal, null, "no crash");
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stdout, /^OK/m);
}

test("the untouched bundle verifies (pinned key, trusted checkpoint)", async () => {
  const w = await setup();
  const r = await sealbox(["verify", w.bundle, "--key", w.s.vkey, "--trusted", w.trusted]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^OK: 60 records/m);
  assert.match(r.stdout, /trusted checkpoint of size 60/);
  const json = await sealbox(["verify", w.bundle, "--key", w.s.vkey, "--json"]);
  assert.equal(JSON.parse(json.stdout).ok, true);
});

test("one bit flipped anywhere in any record is caught", async () => {
  const w = await setup();
  const original = await readFile(join(w.bundle, "records.jsonl"));
  const dir = await copyBundle(w);
  const path = join(dir, "records.jsonl");
  // Every record, several bit positions each (in-process: the code the CLI runs).
  const lineStarts = [0];
  for (let i = 0; i < original.length; i++) if (original[i] === 0x0a && i + 1 < original.length) lineStarts.push(i + 1);
  assert.equal(lineStarts.length, 60);
  let checked = 0;
  for (const [n, start] of lineStarts.entries()) {
    const end = original.indexOf(0x0a, start);
    for (const frac of [0, 0.3, 0.55, 0.8, 0.999]) {
      const pos = start + Math.floor((end - start) * frac);
      for (const bit of [0, 5]) {
        const bad = Buffer.from(original);
        bad[pos]! ^= 1 << bit;
        await writeFile(path, bad);
        await assert.rejects(verifyBundle(dir, { key: w.s.vkey, threads: n % 10 === 3 && bit === 5 && frac === 0.55 ? 2 : 0 }), `record ${n}, byte ${pos - start}, bit ${bit}`);
        checked++;
      }
    }
  }
  assert.equal(checked, 600);
  // And through the CLI: a flip that keeps the record valid JSON is caught at the root.
  // '1' (0x31) -> '9' (0x39) is one bit, and leaves a valid, canonical record.
  const flipped = original.toString("utf8").replace('"t-17"', '"t-97"');
  assert.notEqual(flipped, original.toString("utf8"));
  await writeFile(path, flipped);
  await verifyFails(w, dir, /root: .*do not|root: the records/);
});

test("a record deleted, inserted, reordered or duplicated is caught, naming the record", async () => {
  const w = await setup();
  const cases: [string, (l: string[]) => string[], RegExp][] = [
    ["deleted", (l) => l.filter((_, i) => i !== 20), /record 20: its seq field says 21/],
    ["inserted", (l) => [...l.slice(0, 10), l[10]!.replace('"test.event"', '"test.inserted"'), ...l.slice(10)], /record 11: its seq field says 10/],
    ["reordered", (l) => [...l.slice(0, 5), l[6]!, l[5]!, ...l.slice(7)], /record 5: its seq field says 6/],
    ["duplicated", (l) => [...l.slice(0, 40), l[39]!, ...l.slice(40)], /record 40: its seq field says 39/],
    ["appended at the end", (l) => [...l, l[59]!], /record 60 is one more than the bundle holds/],
    ["tail cut", (l) => l.slice(0, 50), /records are missing at the end/],
  ];
  for (const [why, edit, pattern] of cases) {
    const dir = await copyBundle(w);
    await editRecords(dir, edit);
    await verifyFails(w, dir, pattern);
    assert.ok(why);
  }
});

test("a log cut below a trusted checkpoint, or an older bundle, fails against the newer trusted checkpoint", async () => {
  const w = await setup();
  // The older bundle is perfectly valid on its own…
  const alone = await sealbox(["verify", w.oldBundle, "--key", w.s.vkey]);
  assert.equal(alone.code, 0, alone.stderr);
  // …but not once the auditor holds the newer checkpoint.
  await verifyFails(w, w.oldBundle, /older than the trusted one/, ["--trusted", w.trusted]);
  // Cutting the tail and putting the old checkpoint and bundle.json in place: the same.
  const dir = await copyBundle(w);
  await editRecords(dir, (l) => l.slice(0, 30));
  await cp(join(w.oldBundle, "checkpoint"), join(dir, "checkpoint"));
  await cp(join(w.oldBundle, "bundle.json"), join(dir, "bundle.json"));
  await verifyFails(w, dir, /older than the trusted one/, ["--trusted", w.trusted]);
});

test("a checkpoint signed by another key is refused when the key is pinned", async () => {
  const w = await setup();
  const thief = softwareSignerFromSeed(w.s.signer.name, generateSeed());
  const dir = await copyBundle(w);
  const note = await readFile(join(dir, "checkpoint"), "utf8");
  await writeFile(join(dir, "checkpoint"), signNote(parseNote(note).text, thief));
  const manifest = JSON.parse(await readFile(join(dir, "bundle.json"), "utf8")) as Record<string, unknown>;
  manifest.vkey = formatVkey(thief.name, thief.publicKey);
  await writeFile(join(dir, "bundle.json"), JSON.stringify(manifest));
  await verifyFails(w, dir, /checkpoint: no signature by a known key/);
  // Without --key the bundle's own key is used: it passes, but says plainly the key was not pinned.
  const unpinned = await sealbox(["verify", dir]);
  assert.equal(unpinned.code, 0);
  assert.match(unpinned.stdout, /key NOT pinned/);
  assert.match(unpinned.stdout, /warning: the key was taken from the bundle itself/);
  // Nor can a trusted checkpoint from the real key be matched by the thief's.
  const t = await sealbox(["verify", dir, "--trusted", w.trusted]);
  assert.notEqual(t.code, 0);
  assert.match(t.stderr, /trusted checkpoint: no signature by a known key/);
});

test("a signed fork (same size, other root) is caught against the trusted checkpoint", async (t) => {
  const w = await setup();
  // A compromised key could sign another history of the same length; the
  // auditor's trusted checkpoint exposes it.
  const other = await tempState();
  t.after(() => other.cleanup());
  await cp(join(w.s.dir, "box.json"), join(other.dir, "box.json"));
  const alt = await openLedger({ stateDir: other.dir, signer: w.s.signer });
  for (let i = alt.size(); i < 60; i++) await alt.append(event(i, { target: `forged-${i}` }));
  await alt.close();
  const forkBundle = join(w.root, "fork-bundle");
  await exportTo(other.dir, forkBundle, w.s.vkey);
  const alone = await sealbox(["verify", forkBundle, "--key", w.s.vkey]);
  assert.equal(alone.code, 0, "on its own the fork is validly signed");
  await verifyFails(w, forkBundle, /trusted checkpoint: two signed checkpoints of size 60 with different roots: the log forked/, ["--trusted", w.trusted]);
});

after(async () => {
  await world?.s.cleanup();
});
