// ./build.sh bench tpm — the TPM's costs, on swtpm (a real TPM is slower:
// tens of ms per command on a discrete TPM; NV writes slower still):
//   unseal_ms        start-to-unsealed-key: open the TPM (spawn swtpm), recreate
//                    the SRK, load the blob, salted policy session, Unseal,
//                    KeyObject — what sealboxd pays once at start (median)
//   unseal_warm_ms   the same with the TPM already open (median)
//   nv_increment_ms  one anti-rollback counter increment (NV_ReadPublic +
//                    NV_Increment) — paid per epoch/export/shutdown, never per append
//   sign_us          one Ed25519 signature with the unsealed KeyObject
// Options: --runs N (unseal runs, default 15), --increments N (default 200).

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTpmKey } from "../daemon/keys/tpm-open.js";
import { openTpmSigner, provisionTpmKey } from "../daemon/keys/tpm-key.js";
import { incrementCounter } from "../hal/tpm/nv-counter.js";
import { Tpm } from "../hal/tpm/tpm.js";
import { openTpmTransport } from "../hal/tpm/transport/open.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

const runs = arg("runs", 15);
const increments = arg("increments", 200);
const dir = await mkdtemp(join(tmpdir(), "sealbox-bench-tpm-"));
try {
  const spec = `swtpm-pipe:${join(dir, "tpm")}`;
  const box = join(dir, "box");
  {
    const t = await openTpmTransport(spec);
    await provisionTpmKey(box, t, { pcrs: [7], name: "sealbox/bench" });
    await t.close();
  }

  const cold: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const k = await openTpmKey(box, spec);
    cold.push(performance.now() - t0);
    await k.close();
  }

  const transport = await openTpmTransport(spec);
  const tpm = new Tpm(transport);
  const warm: number[] = [];
  let signer;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    signer = await openTpmSigner(box, transport);
    warm.push(performance.now() - t0);
    if (i < runs - 1) signer.close();
  }
  const inc: number[] = [];
  for (let i = 0; i < increments; i++) {
    const t0 = performance.now();
    await incrementCounter(tpm, 0x01005ea1);
    inc.push(performance.now() - t0);
  }

  const msg = new Uint8Array(200);
  const n = 5000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) signer!.sign(msg);
  const signUs = ((performance.now() - t0) * 1000) / n;
  signer!.close();
  await transport.close();

  const figures = {
    unseal_ms: round(pct(cold, 50)),
    unseal_p95_ms: round(pct(cold, 95)),
    unseal_warm_ms: round(pct(warm, 50)),
    nv_increment_ms: round(pct(inc, 50), 3),
    nv_increment_p95_ms: round(pct(inc, 95), 3),
    sign_us: round(signUs, 1),
    runs,
    increments,
    tpm: "swtpm 0.7.1 (chardev on a socketpair)",
  };
  process.stdout.write(`start to unsealed key (spawn swtpm + unseal): median ${figures.unseal_ms} ms, p95 ${figures.unseal_p95_ms} ms over ${runs} runs\n`);
  process.stdout.write(`unseal with the TPM already open: median ${figures.unseal_warm_ms} ms\n`);
  process.stdout.write(`NV counter increment: median ${figures.nv_increment_ms} ms, p95 ${figures.nv_increment_p95_ms} ms over ${increments}\n`);
  process.stdout.write(`Ed25519 sign with the unsealed KeyObject: ${figures.sign_us} µs\n`);
  process.stdout.write(JSON.stringify(figures) + "\n");
} finally {
  await rm(dir, { recursive: true, force: true });
}
