// Shared pieces of the diode's integration tests: temp directories that
// clean up, reading a receiver's output, and the one check that matters —
// the output holds exactly the ledger's records, in order, under a
// checkpoint that verifies — so "none written unverified" is asserted
// against the ledger itself, not against the receiver's own claims.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyBundle } from "../../daemon/ledger/verify.js";
import { leafHash, rootOf } from "../../daemon/ledger/merkle.js";
import type { ReceiverState } from "../../daemon/diode/receiver-state.js";

export function tempDirs(): { make(prefix: string): string; cleanup(): void } {
  const dirs: string[] = [];
  return {
    make(prefix) {
      const d = mkdtempSync(join(tmpdir(), `sealbox-${prefix}-`));
      dirs.push(d);
      return d;
    },
    cleanup() {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

export function readLines(path: string): string[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, "utf8");
  return text === "" ? [] : text.slice(0, text.endsWith("\n") ? -1 : undefined).split("\n");
}

export function readState(out: string): ReceiverState {
  return JSON.parse(readFileSync(join(out, "state.json"), "utf8")) as ReceiverState;
}

export type DiodeEvent = { type: string } & Record<string, unknown>;

export function readEvents(out: string): DiodeEvent[] {
  return readLines(join(out, "events.jsonl")).map((l) => JSON.parse(l) as DiodeEvent);
}

export function eventTypes(out: string): string[] {
  return readEvents(out).map((e) => e.type);
}

/**
 * Asserts the output directory holds exactly `records` [base, base + n) of
 * the ledger (byte for byte, in order), one syslog line per entry, and a
 * latest accepted checkpoint whose root is the root of those records.
 * Returns the number of entries.
 */
export function assertOutputIsLedgerPrefix(out: string, records: readonly Uint8Array[], vkey: string, base = 0): number {
  const lines = readLines(join(out, "records.jsonl"));
  assert.ok(lines.length <= records.length - base, `output has ${lines.length} entries, the ledger only ${records.length - base}`);
  lines.forEach((line, i) => {
    const want = Buffer.from(records[base + i]!).toString("utf8");
    if (line !== want) assert.fail(`entry ${base + i} differs from the ledger's record:\n  got  ${line.slice(0, 200)}\n  want ${want.slice(0, 200)}`);
  });
  const syslog = readLines(join(out, "syslog.log"));
  assert.equal(syslog.length, lines.length, "one syslog line per entry");
  syslog.forEach((l, i) => assert.match(l, new RegExp(`^<1\\d\\d>1 \\S+ \\S+ sealbox - \\S+ \\[sealbox@32473 seq="${base + i}" `)));
  const state = readState(out);
  assert.equal(state.head, base + lines.length, "state.json head matches the entries written");
  if (state.checkpoint !== null) {
    // The latest accepted checkpoint's root is the root of that many ledger records.
    const root = rootOf(records.slice(0, state.checkpoint.size).map(leafHash));
    assert.equal(state.checkpoint.root, Buffer.from(root).toString("base64"), "the accepted checkpoint's root is the root of the ledger's records");
    assert.ok(state.checkpoint.size <= state.head, "a checkpoint is accepted only once the entries reach it");
  }
  return lines.length;
}

/** `sealbox verify OUT --key VKEY` on the receiver's output: it is an audit bundle of [base, head). */
export async function assertOutputVerifies(out: string, vkey: string): Promise<void> {
  const state = readState(out);
  const report = await verifyBundle(out, { key: vkey });
  assert.equal(report.from, state.base);
  assert.equal(report.to, state.head);
  assert.ok(report.treeSize >= state.head);
  assert.equal(report.key.pinned, true);
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs: number, stepMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
