// The model commands against the real box: a real LMDB ledger signed by a
// software key (what `./build.sh run` provisions), through bin/sealbox as a
// process; and, while a daemon answers on the state directory's sockets (the
// real HTTP socket server and method table), import through it and refusal to
// write the ledger behind its back.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { provisionSoftwareKey, openSigner } from "../../../daemon/keys/key-store.js";
import { openLedger } from "../../../daemon/ledger/ledger.js";
import { createModelPort } from "../../../daemon/inference/model-port.js";
import { run as runModel } from "../../../daemon/console/cmd-model.js";
import { run as runAuthority } from "../../../daemon/console/cmd-authority.js";
import { openCliAudit } from "../../../daemon/console/model-ledger.js";
import { ERRORS } from "../../../daemon/errors.js";
import { REPO_ROOT } from "../../helpers/fake-nvidia-smi.js";
import { MemoryAuditLog } from "../../helpers/memory-audit-log.js";
import { makeAuthority, makeModel, signedManifestFile, tempDir, trust } from "../../helpers/model-fixtures.js";
import { startTestBox } from "../../helpers/http-box.js";

const SEALBOX = join(REPO_ROOT, "bin", "sealbox");

function sealbox(args: string[]): { code: number; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.SEALBOX_STATE;
  const r = spawnSync(SEALBOX, args, { encoding: "utf8", timeout: 120_000, env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

test("import and remove through bin/sealbox land in the box's real ledger", async () => {
  const { dir, cleanup } = await tempDir("sealbox-cli-ledger-");
  try {
    const state = join(dir, "state");
    await provisionSoftwareKey(state);
    const authority = await makeAuthority(dir);
    const model = { path: join(dir, "demo.gguf"), ...(await makeModel(join(dir, "demo.gguf"), 5)) };
    const manifest = await signedManifestFile(join(dir, "demo.json"), authority, model);

    const add = sealbox(["authority", "add", authority.pubPath, "--name", "site-a", "--state", state, "--json"]);
    assert.equal(add.code, 0, add.stderr);
    const imp = sealbox(["model", "import", model.path, "--manifest", manifest, "--state", state, "--json"]);
    assert.equal(imp.code, 0, imp.stderr);
    const imported = JSON.parse(imp.stdout) as { sha256: string; seq: number };
    assert.equal(imported.sha256, model.sha256);
    const rm = sealbox(["model", "remove", "demo-tiny", "--state", state, "--json"]);
    assert.equal(rm.code, 0, rm.stderr);

    const signer = await openSigner(state);
    const ledger = await openLedger({ stateDir: state, signer, readOnly: true });
    try {
      // The ledger's own first record (ledger.create) is not ours.
      const records = Array.from({ length: ledger.size() }, (_, i) => ledger.record(i)!).filter((r) => r.category !== "system");
      assert.deepEqual(
        records.map((r) => `${r.category}/${r.action}/${r.outcome}/${r.target}`),
        [
          "site/authority.add/requested/site-a",
          "site/authority.add/success/site-a",
          `model/model.import/requested/${model.sha256}`,
          `model/model.import/success/${model.sha256}`,
          `model/model.remove/requested/${model.sha256}`,
          `model/model.remove/success/${model.sha256}`,
        ],
      );
      assert.equal(records[3]!.seq, imported.seq);
      assert.equal(records[3]!.actor.transport, "cli");
      assert.equal(records[3]!.details!.authority, "site-a");
    } finally {
      await ledger.close();
      signer.close();
    }
  } finally {
    await cleanup();
  }
});

test("while a daemon answers: import goes through it; remove and authority add refuse to touch its ledger", async () => {
  const { dir, cleanup } = await tempDir("sealbox-cli-daemon-");
  const state = join(dir, "state");
  const audit = new MemoryAuditLog();
  const box = await startTestBox({ dir: state, services: { models: createModelPort({ stateDir: state, audit }) } });
  try {
    const authority = await makeAuthority(dir);
    await trust(state, authority, "site-a");
    const model = { path: join(dir, "demo.gguf"), ...(await makeModel(join(dir, "demo.gguf"), 6)) };
    const manifest = await signedManifestFile(join(dir, "demo.json"), authority, model);
    const deps = () => ({ openAudit: openCliAudit, stdout: new Capture(), stderr: new Capture() as unknown as NodeJS.WriteStream });

    const d1 = deps();
    assert.equal(await runModel(["import", model.path, "--manifest", manifest, "--state", state, "--json"], d1), 0, (d1.stderr as unknown as Capture).text);
    const r = JSON.parse(d1.stdout.text) as { sha256: string; via: string };
    assert.equal(r.sha256, model.sha256);
    assert.equal(r.via, join(state, "run", "technician.sock"));
    assert.deepEqual(audit.events.map((e) => [e.actor.transport, e.actor.role, e.outcome]), [
      ["http-socket", "technician", "requested"],
      ["http-socket", "technician", "success"],
    ]);

    const d2 = deps();
    assert.equal(await runModel(["remove", "demo-tiny", "--state", state], d2), ERRORS.DAEMON_RUNNING.exitCode);
    assert.match((d2.stderr as unknown as Capture).text, /daemon is running .* owns the ledger/);
    assert.equal((await readdir(join(state, "models"))).length, 2, "nothing removed");

    const other = await makeAuthority(dir, "site-b");
    const d3 = deps();
    assert.equal(await runAuthority(["add", other.pubPath, "--state", state], d3), ERRORS.DAEMON_RUNNING.exitCode);
    assert.deepEqual((await readdir(join(state, "authorities"))).sort(), ["site-a.pub"]);
  } finally {
    await box.close();
    await cleanup();
  }
});
