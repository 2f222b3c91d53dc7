// `sealbox verify` on truncated, oversized, non-UTF-8 and garbage bundles:
// always a clear error and a non-zero exit — never a crash, never a hang.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cp, mkdir, readFile, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { openLedger } from "../../../daemon/ledger/ledger.js";
import { openLedgerReader } from "../../../daemon/ledger/reader.js";
import { exportBundle } from "../../../daemon/ledger/export.js";
import { verifyBundle } from "../../../daemon/ledger/verify.js";
import { isSealboxError } from "../../../daemon/errors.js";
import { event, sealbox, tempState, type TempState } from "../../helpers/ledger-harness.js";

let s: TempState;
let good: string;
let n = 0;

async function setup(): Promise<void> {
  if (good) return;
  s = await tempState();
  const ledger = await openLedger({ stateDir: s.dir, signer: s.signer });
  for (let i = 0; i < 20; i++) await ledger.append(event(i));
  await ledger.close();
  good = join(s.dir, "..", "good");
  const r = await openLedgerReader(s.dir);
  await exportBundle(r, good, { vkey: s.vkey });
  await r.close();
}
after(async () => s?.cleanup());

async function variant(edit: (dir: string) => Promise<void>): Promise<string> {
  await setup();
  const dir = join(s.dir, "..", `v${n++}`);
  await mkdir(dir);
  await cp(good, dir, { recursive: true });
  await edit(dir);
  return dir;
}

/**
 * In-process: a coded SealboxError, within a deadline — from the plain
 * streaming verifier and from the worker-thread one alike, with the same message.
 */
async function rejectsCleanly(dir: string, why: string): Promise<string> {
  const messages: string[] = [];
  for (const threads of [0, 2]) {
    const deadline = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${why}: verify hung (threads ${threads})`)), 20_000).unref());
    try {
      await Promise.race([verifyBundle(dir, { key: s.vkey, threads }), deadline]);
    } catch (e) {
      assert.ok(isSealboxError(e), `${why}: not a coded error: ${String(e)}`);
      assert.ok(["VERIFY_FAILED", "BAD_FORMAT", "BAD_SIGNATURE"].includes((e as { code: string }).code), `${why}: ${(e as { code: string }).code}`);
      messages.push((e as Error).message);
      continue;
    }
    assert.fail(`${why}: verify passed (threads ${threads})`);
  }
  assert.equal(messages[1], messages[0], `${why}: both verifiers name the same failure`);
  return messages[0]!;
}

const W = (dir: string, f: string, data: string | Uint8Array): Promise<void> => writeFile(join(dir, f), data);

test("truncated files", async () => {
  const size = (await readFile(join(good ?? (await setup(), good), "records.jsonl"))).length;
  for (const cut of [1, 100, Math.floor(size / 2), size - 1]) {
    const dir = await variant((d) => truncate(join(d, "records.jsonl"), cut));
    assert.match(await rejectsCleanly(dir, `records cut at ${cut}`), /records: /);
  }
  for (const f of ["checkpoint", "bundle.json"]) {
    for (const cut of [0, 10, 100]) {
      const dir = await variant((d) => truncate(join(d, f), cut));
      await rejectsCleanly(dir, `${f} cut at ${cut}`);
    }
  }
  const empty = await variant((d) => truncate(join(d, "records.jsonl"), 0));
  assert.match(await rejectsCleanly(empty, "no records"), /missing at the end/);
});

test("oversized input", async () => {
  const longLine = await variant((d) => W(d, "records.jsonl", Buffer.alloc(200_000, 0x7b)));
  assert.match(await rejectsCleanly(longLine, "a 200 kB line"), /longer than 65536 bytes/);
  const bigJson = await variant((d) => W(d, "bundle.json", Buffer.alloc(2 << 20, 0x20)));
  assert.match(await rejectsCleanly(bigJson, "a 2 MiB bundle.json"), /larger than/);
  const bigCheckpoint = await variant((d) => W(d, "checkpoint", Buffer.alloc(2 << 20, 0x41)));
  assert.match(await rejectsCleanly(bigCheckpoint, "a 2 MiB checkpoint"), /larger than/);
  // A huge records file of valid-looking lines fails at the first extra record, not after reading it all.
  const many = await variant(async (d) => {
    const line = (await readFile(join(d, "records.jsonl"), "utf8")).split("\n")[0]! + "\n";
    await W(d, "records.jsonl", line.repeat(50_000));
  });
  assert.match(await rejectsCleanly(many, "many copies of record 0"), /record 1: its seq field says 0/);
});

test("non-UTF-8 bytes", async () => {
  const inRecord = await variant(async (d) => {
    const b = await readFile(join(d, "records.jsonl"));
    b[30] = 0xff;
    await W(d, "records.jsonl", b);
  });
  assert.match(await rejectsCleanly(inRecord, "0xff in a record"), /record 0: .*UTF-8/);
  const inCheckpoint = await variant(async (d) => {
    const b = await readFile(join(d, "checkpoint"));
    b[3] = 0xc0;
    await W(d, "checkpoint", b);
  });
  assert.match(await rejectsCleanly(inCheckpoint, "0xc0 in the checkpoint"), /UTF-8/);
  const latin1 = await variant((d) => W(d, "bundle.json", Buffer.from('{"format":"sealbox-audit-bundle","origin":"\xe9"}', "latin1")));
  assert.match(await rejectsCleanly(latin1, "latin-1 bundle.json"), /UTF-8/);
});

test("garbage, missing files and files that are not files", async () => {
  for (const f of ["records.jsonl", "checkpoint", "bundle.json"]) {
    const garbage = await variant((d) => W(d, f, randomBytes(5000)));
    await rejectsCleanly(garbage, `random ${f}`);
    const missing = await variant((d) => rm(join(d, f)));
    assert.match(await rejectsCleanly(missing, `no ${f}`), /is missing/);
    const directory = await variant(async (d) => {
      await rm(join(d, f));
      await mkdir(join(d, f));
    });
    assert.match(await rejectsCleanly(directory, `${f} is a directory`), /not a regular file/);
    const zero = await variant(async (d) => {
      await rm(join(d, f));
      await symlink("/dev/zero", join(d, f));
    });
    assert.match(await rejectsCleanly(zero, `${f} -> /dev/zero`), /not a regular file/);
  }
  // A FIFO nobody writes to would block a naive open() forever.
  const fifo = await variant(async (d) => {
    await rm(join(d, "records.jsonl"));
    execFileSync("mkfifo", [join(d, "records.jsonl")]);
  });
  assert.match(await rejectsCleanly(fifo, "records.jsonl is a FIFO"), /not a regular file/);
  const jsonGarbage: unknown[] = [[], null, 42, "x", { format: "sealbox-audit-bundle", version: 1 }, { ...JSON.parse(await readFile(join(good, "bundle.json"), "utf8")), left: ["AAAA"] }];
  for (const j of jsonGarbage) {
    const dir = await variant((d) => W(d, "bundle.json", JSON.stringify(j)));
    assert.match(await rejectsCleanly(dir, `bundle.json = ${JSON.stringify(j).slice(0, 40)}`), /bundle\.json/);
  }
  const noBlank = await variant((d) => W(d, "checkpoint", "just text\n"));
  assert.match(await rejectsCleanly(noBlank, "checkpoint without signatures"), /checkpoint: /);
});

test("through the CLI: exit codes, one line on stderr, no stack traces", async () => {
  await setup();
  const cases = [
    await variant((d) => W(d, "records.jsonl", randomBytes(3000))),
    await variant((d) => W(d, "bundle.json", "\u0000\u0001")),
    await variant((d) => truncate(join(d, "records.jsonl"), 77)),
    await variant(async (d) => {
      await rm(join(d, "checkpoint"));
      await symlink("/dev/zero", join(d, "checkpoint"));
    }),
  ];
  for (const dir of cases) {
    const r = await sealbox(["verify", dir, "--key", s.vkey], { timeoutMs: 30_000 });
    assert.equal(r.signal, null, "not killed (no hang)");
    assert.ok(r.code === 1 || r.code === 65, `exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
  const missingDir = await sealbox(["verify", join(s.dir, "nope"), "--key", s.vkey]);
  assert.equal(missingDir.code, 66);
  const badKey = await sealbox(["verify", good, "--key", "not-a-key"]);
  assert.notEqual(badKey.code, 0);
  assert.match(badKey.stderr, /--key/);
});
