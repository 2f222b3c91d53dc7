// A real full disk: the ledger directory on a 600 KiB tmpfs (in a private
// mount namespace). Appends must reject with LEDGER_FULL — not crash the
// process (lmdb-js reports a failed commit through a second promise) — and
// every acknowledged record must still export and verify.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempState } from "../../helpers/ledger-harness.js";

const child = fileURLToPath(new URL("../../helpers/ledger-disk-full-child.js", import.meta.url));

function canMountTmpfs(): string | undefined {
  const r = spawnSync("unshare", ["-m", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs \"$d\" && umount \"$d\" && rmdir \"$d\""], { encoding: "utf8" });
  return r.status === 0 ? undefined : `cannot mount a tmpfs in a private mount namespace here (needs root): ${(r.stderr || r.error?.message || "").trim()}`;
}

const why = canMountTmpfs();

test("a full file system: LEDGER_FULL, no crash, and the log still verifies", { skip: why ?? false, timeout: 120_000 }, async (t) => {
  const s = await tempState();
  t.after(() => s.cleanup());
  const ledgerDir = join(s.dir, "ledger");
  await mkdir(ledgerDir);
  const out = join(s.dir, "..", "bundle");
  const script = `mount -t tmpfs -o size=600k tmpfs "$1" && exec "$2" "$3" "$4" "$5" "$6"`;
  const p = spawn("unshare", ["-m", "sh", "-c", script, "sh", ledgerDir, process.execPath, child, s.dir, out, s.vkey], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  p.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  p.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => p.on("close", resolve));
  assert.equal(code, 0, `the process must not crash:\n${stderr}`);
  const lines = stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  const first = lines[0] as { acked: number; size: number; failure: { code: string; message: string } };
  assert.equal(first.failure.code, "LEDGER_FULL", first.failure.message);
  assert.match(first.failure.message, /full/);
  assert.ok(first.acked > 50, `only ${first.acked} appends fit`);
  assert.equal(first.size, first.acked, "the log holds exactly the acknowledged records");
  const again = (lines[1] as { again: string }).again;
  assert.ok(again === "LEDGER_FULL" || again === "accepted", `a later append: ${again}`);
  const verified = (lines[2] as { verified: number }).verified;
  assert.equal(verified, first.size + (again === "accepted" ? 1 : 0), "every acknowledged record exports and verifies");
});
