// sealboxd with a TPM key, as a real process against a swtpm that stays up
// between runs (so PCRs keep their values): it starts, bumps the counter on a
// clean stop, refuses a restored older ledger (exit 65, plain message) until
// `sealbox keys acknowledge-rollback`, refuses changed PCRs (exit 77,
// naming the PCR) and a missing TPM (exit 69).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ensureBox } from "../../../daemon/box.js";
import { ERRORS } from "../../../daemon/errors.js";
import { provisionTpmKey } from "../../../daemon/keys/tpm-key.js";
import { TPM_ALG } from "../../../hal/tpm/constants.js";
import { extendPcr } from "../../../hal/tpm/pcrs.js";
import { Tpm } from "../../../hal/tpm/tpm.js";
import { openTpmTransport } from "../../../hal/tpm/transport/open.js";
import { makeTempDir, startSwtpmServer, type SwtpmServer } from "../../helpers/swtpm.js";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let server: SwtpmServer;
let box: string;

before(async () => {
  tmp = await makeTempDir();
  server = await startSwtpmServer(join(tmp.dir, "tpm"), "unix");
  box = join(tmp.dir, "box");
  const info = await ensureBox(box);
  const t = await openTpmTransport(server.spec);
  try {
    await provisionTpmKey(box, t, { name: `sealbox.local/${info.box_id}`, pcrs: [7] });
  } finally {
    await t.close();
  }
});
after(async () => {
  await server?.stop();
  await tmp.cleanup();
});

interface Run {
  code: number | null;
  stderr: string;
}

/** Starts sealboxd; once it is ready runs onReady, then stops it with SIGTERM; resolves with its exit code and log. */
function daemon(onReady: () => Promise<void> = async () => undefined, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repo, "dist/daemon/main.js"), "--state", box, "--tpm", server.spec], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, SEALBOX_LOG_LEVEL: "info" },
    });
    let stderr = "";
    let readySeen = false;
    let onReadyError: unknown;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`sealboxd did not finish in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes("sealboxd ready") && !readySeen) {
        readySeen = true;
        onReady().then(
          () => child.kill("SIGTERM"),
          (e: unknown) => {
            onReadyError = e;
            child.kill("SIGTERM");
          },
        );
      }
    });
    child.once("error", reject);
    // "close", not "exit": its output may still be on the way when it exits.
    child.once("close", (code) => {
      clearTimeout(timer);
      if (onReadyError) reject(onReadyError);
      else resolve({ code, stderr });
    });
  });
}

/** POST to the daemon's technician socket. */
function post(path: string, body: object): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(box, "run", "technician.sock"), path, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.once("error", reject);
    req.end(JSON.stringify(body));
  });
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repo, "dist/daemon/console/cli.js"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stderr }));
  });
}

test("a clean run passes the check and bumps the counter on the way out", async () => {
  const r = await daemon();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /anti-rollback check passed/);
  assert.match(r.stderr, /anti-rollback counter incremented value=\d+ reason=shutdown/);
});

test("a restored older ledger: sealboxd refuses (exit 65) with a plain message, until acknowledged", async () => {
  const backup = join(tmp.dir, "ledger-copy");
  await cp(join(box, "ledger"), backup, { recursive: true });
  assert.equal((await daemon()).code, 0);
  await rm(join(box, "ledger"), { recursive: true });
  await cp(backup, join(box, "ledger"), { recursive: true });

  const refused = await daemon();
  assert.equal(refused.code, ERRORS.LEDGER_ROLLBACK.exitCode, refused.stderr);
  assert.match(refused.stderr, /The ledger is older than the TPM/);
  assert.match(refused.stderr, /restored from an older copy or replaced/);
  assert.doesNotMatch(refused.stderr, /sealboxd ready/);

  const ack = await cli(["keys", "acknowledge-rollback", "--state", box, "--tpm", server.spec, "--by", "J. Technician", "--note", "test"]);
  assert.equal(ack.code, 0, ack.stderr);
  assert.match(ack.stderr, /rollback acknowledged by J\. Technician/);
  const again = await daemon();
  assert.equal(again.code, 0, again.stderr);
});

test("an export through the daemon bumps the counter and carries its TPM certificate, which sealbox verify checks", async () => {
  const out = join(tmp.dir, "bundle");
  let answer: { status: number; json: Record<string, unknown> } | undefined;
  const r = await daemon(async () => {
    answer = await post("/sealbox/v1/audit/export", { outDir: out });
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /anti-rollback counter incremented value=\d+ reason=export/);
  assert.equal(answer?.status, 200, JSON.stringify(answer?.json));
  const vkey = JSON.parse(await readFile(join(box, "keys", "key.json"), "utf8")).vkey as string;
  const ok = await cli(["verify", out, "--key", vkey]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /TPM counter certificate: counter \d+ at tree size \d+/);
  const certPath = join(out, "counter-certificate.json");
  const cert = JSON.parse(await readFile(certPath, "utf8"));
  await writeFile(certPath, JSON.stringify({ ...cert, counter: "999999" }));
  const bad = await cli(["verify", out, "--key", vkey]);
  assert.equal(bad.code, ERRORS.VERIFY_FAILED.exitCode);
  assert.match(bad.stderr, /claims counter 999999/);
});

test("changed PCRs: sealboxd refuses to start unsigned (exit 77), naming the PCR", async () => {
  const tpm = new Tpm(await openTpmTransport(server.spec));
  try {
    await extendPcr(tpm, 7, [{ hash: TPM_ALG.SHA256, digest: new Uint8Array(32).fill(0x42) }]);
  } finally {
    await tpm.close();
  }
  const r = await daemon();
  assert.equal(r.code, ERRORS.PCR_MISMATCH.exitCode, r.stderr);
  assert.match(r.stderr, /PCR 7 has changed/);
  assert.doesNotMatch(r.stderr, /sealboxd ready/);
});

test("no TPM: sealboxd refuses to start (exit 69, TPM_UNAVAILABLE)", async () => {
  await server.stop();
  const r = await daemon();
  assert.equal(r.code, ERRORS.TPM_UNAVAILABLE.exitCode, r.stderr);
  assert.match(r.stderr, /cannot reach swtpm/);
});
