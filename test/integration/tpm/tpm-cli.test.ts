// `sealbox keys provision|show|acknowledge-rollback` for TPM keys, run as the
// CLI runs them (argv in, text out, exit code), against our own swtpm
// (swtpm-pipe: spec) and an in-memory ledger handed in through LedgerAccess.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ERRORS, SealboxError } from "../../../daemon/errors.js";
import { COUNTER_ACTION, ROLLBACK_ACK_ACTION } from "../../../daemon/keys/anti-rollback.js";
import { type LedgerAccess, acknowledgeRollbackMain, provisionMain, showMain } from "../../../daemon/keys/tpm-cli.js";
import { createMemoryLedger } from "../../helpers/memory-ledger.js";
import { makeTempDir } from "../../helpers/swtpm.js";
import { openTpmKey } from "../../../daemon/keys/tpm-open.js";
import { openTpmSigner } from "../../../daemon/keys/tpm-key.js";

let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let spec: string;
let box: string;
const ledger = createMemoryLedger();
const access: LedgerAccess = {
  exists: async () => true,
  open: async () => Object.assign(Object.create(ledger) as typeof ledger, { close: async () => undefined }),
  openCurrentSigner: (stateDir, tpm) => openTpmSigner(stateDir, tpm),
};

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), ledger: access } };
}

before(async () => {
  tmp = await makeTempDir();
  spec = `swtpm-pipe:${join(tmp.dir, "tpm")}`;
  box = join(tmp.dir, "box");
});
after(async () => tmp.cleanup());

test("provision prints the vkey on a line of its own and the key id; show prints the policy, nv_index and counter", async () => {
  const p = io();
  assert.equal(await provisionMain(["--state", box, "--tpm", spec, "--pcrs", "7"], p.io), 0, p.err.join(""));
  const text = p.out.join("");
  const box_id = JSON.parse(await readFile(join(box, "box.json"), "utf8")).box_id as string;
  const vkeyLine = text.split("\n").find((l) => l.startsWith(`sealbox.local/${box_id}+`));
  assert.ok(vkeyLine, text);
  assert.match(vkeyLine, /^sealbox\.local\/box-[0-9a-f]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/);
  const s = io();
  assert.equal(await showMain(["--state", box, "--tpm", spec, "--json"], s.io), 0, s.err.join(""));
  const shown = JSON.parse(s.out.join(""));
  assert.equal(shown.vkey, vkeyLine);
  assert.equal(shown.nv_index, 0x01005ea1);
  assert.deepEqual(shown.pcrs, [7]);
  assert.match(shown.counter, /^\d+$/);
  const plain = io();
  assert.equal(await showMain(["--state", box], plain.io), 0);
  assert.match(plain.out.join(""), /nv_index   0x01005ea1\ncounter    \(give --tpm SPEC to read it\)/);
});

test("provision again without --force: KEY_EXISTS exit code; with --force: recorded in the ledger under the old key", async () => {
  const again = io();
  assert.equal(await provisionMain(["--state", box, "--tpm", spec], again.io), ERRORS.KEY_EXISTS.exitCode);
  assert.match(again.err.join(""), /already provisioned .*--force.*\(KEY_EXISTS\)/);
  const forced = io();
  assert.equal(await provisionMain(["--state", box, "--tpm", spec, "--force", "--json"], forced.io), 0, forced.err.join(""));
  assert.equal(JSON.parse(forced.out.join("")).replaced, true);
  assert.deepEqual(
    ledger.byAction("key.provision").map((r) => r.outcome),
    ["requested", "success"],
  );
});

test("re-provisioning when the old key no longer unseals (PCRs changed) goes on, saying the change is recorded at the next start", async () => {
  // (A real PCR change needs a TPM that stays up; tpm-key.test.ts shows openTpmSigner's PCR_MISMATCH. Here the access reports it.)
  const before = ledger.records.length;
  const access2: LedgerAccess = {
    ...access,
    openCurrentSigner: async () => {
      throw new SealboxError("PCR_MISMATCH", "PCR 7 has changed");
    },
  };
  const r = io();
  assert.equal(await provisionMain(["--state", box, "--tpm", spec, "--force"], { ...r.io, ledger: access2 }), 0, r.err.join(""));
  assert.match(r.err.join(""), /cannot sign \(PCR_MISMATCH\); the key change will be recorded at the next start/);
  assert.equal(ledger.records.length, before, "nothing recorded under a key that cannot sign");
});

test("bad arguments are BAD_ARGUMENT with the usage exit code", async () => {
  for (const argv of [["--tpm", spec], ["--state", box], ["--state", box, "--tpm", spec, "--pcrs", "seven"], ["--state", box, "--tpm", spec, "--nv-index", "zz"], ["--state", box, "--bogus"]]) {
    const r = io();
    assert.equal(await provisionMain(argv, r.io), ERRORS.BAD_ARGUMENT.exitCode, argv.join(" "));
  }
});

test("acknowledge-rollback records the condition and who acknowledged it, then the counter and the ledger agree", async () => {
  const before = ledger.records.length;
  const k = await openTpmKey(box, spec);
  await k.counter.increment(); // the TPM moves on without the ledger knowing: a rollback as the box sees it
  await k.close();
  const r = io();
  assert.equal(await acknowledgeRollbackMain(["--state", box, "--tpm", spec, "--by", "J. Technician", "--note", "ticket 4711"], r.io), 0, r.err.join(""));
  assert.match(r.out.join(""), /rollback acknowledged by J\. Technician/);
  const added = ledger.records.slice(before);
  assert.deepEqual(
    added.map((x) => [x.action, x.outcome]),
    [
      [ROLLBACK_ACK_ACTION, "info"],
      [COUNTER_ACTION, "requested"],
      [COUNTER_ACTION, "success"],
    ],
  );
  assert.equal(added[0]!.details?.technician, "J. Technician");
  const again = io();
  assert.equal(await acknowledgeRollbackMain(["--state", box, "--tpm", spec, "--by", "J. Technician"], again.io), ERRORS.BAD_REQUEST.exitCode);
  assert.match(again.err.join(""), /no rollback to acknowledge/);
});
