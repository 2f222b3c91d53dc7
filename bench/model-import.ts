// Model import throughput: SHA-256 alone, copy + SHA-256 in one pass, and the
// whole import (manifest check, copy, fsync, rename, two audit records in
// memory), on a file of SIZE_MIB (default 256) with a GGUF header.
// Usage: ./build.sh bench model-import [SIZE_MIB]

import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, open, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyAndHash, hashFile } from "../daemon/inference/copy-hash.js";
import { importModel } from "../daemon/inference/model-import.js";
import { serializeSignedManifest, signManifest } from "../daemon/inference/manifest.js";
import type { AuditEvent, AuditLog } from "../daemon/ledger/types.js";

const sizeMiB = Number(process.argv[2] ?? 256);
const MIB = 1024 * 1024;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-bench-import-"));
  try {
    const file = join(dir, "model.gguf");
    const fh = await open(file, "w");
    const chunk = randomBytes(4 * MIB);
    chunk.write("GGUF", 0, "latin1");
    chunk.writeUInt32LE(3, 4);
    const hash = createHash("sha256");
    for (let i = 0; i < sizeMiB / 4; i++) {
      const c = i === 0 ? chunk : randomBytes(4 * MIB);
      hash.update(c);
      await fh.write(c);
    }
    await fh.sync();
    await fh.close();
    const sha256 = hash.digest("hex");
    const sizeBytes = sizeMiB * MIB;

    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const hashRuns: number[] = [];
    const copyRuns: number[] = [];
    const importRuns: number[] = [];

    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const state = join(dir, "state");
    await mkdir(join(state, "authorities"), { recursive: true });
    await writeFile(join(state, "authorities", "bench.pub"), publicKey.export({ format: "pem", type: "spki" }) as string);
    const manifest = join(dir, "m.json");
    await writeFile(
      manifest,
      serializeSignedManifest(
        signManifest({ format: "sealbox.model-manifest/1", name: "bench", sha256, sizeBytes, licence: "none", source: "bench", fileName: "model.gguf", signedAt: "2026-01-01T00:00:00Z" }, privateKey),
      ),
    );
    const events: AuditEvent[] = [];
    const audit: AuditLog = { append: async (e) => (events.push(e), { seq: events.length - 1, treeSize: events.length, checkpoint: "" }) };
    // Alternate the three, several times: the disk's write-back makes single runs noisy.
    for (let run = 0; run < 3; run++) {
      let t = performance.now();
      await hashFile(file);
      hashRuns.push(performance.now() - t);
      t = performance.now();
      await copyAndHash(file, join(dir, "copy.bin"), { expectedSizeBytes: sizeBytes });
      copyRuns.push(performance.now() - t);
      await unlink(join(dir, "copy.bin"));
      t = performance.now();
      const r = await importModel({ stateDir: state, filePath: file, manifestPath: manifest, audit, actor: { role: "admin", transport: "bench", peer: "-" } });
      importRuns.push(performance.now() - t);
      await rm(join(state, "models"), { recursive: true, force: true });
      if (r.alreadyPresent) throw new Error("the store was not emptied between runs");
    }
    const hashMs = median(hashRuns);
    const copyMs = median(copyRuns);
    const importMs = median(importRuns);

    const rate = (ms: number) => Math.round((sizeMiB / ms) * 1000);
    console.log(`file: ${sizeMiB} MiB, median of 3 runs each (copies fsync'd to disk)`);
    console.log(`sha256 only:        ${hashMs.toFixed(0)} ms  (${rate(hashMs)} MiB/s)`);
    console.log(`copy + sha256:      ${copyMs.toFixed(0)} ms  (${rate(copyMs)} MiB/s)`);
    console.log(`whole import:       ${importMs.toFixed(0)} ms  (${rate(importMs)} MiB/s)`);
    console.log(JSON.stringify({ size_mib: sizeMiB, hash_mib_s: rate(hashMs), copy_hash_mib_s: rate(copyMs), import_mib_s: rate(importMs), import_vs_hash: Math.round((hashMs / importMs) * 100) / 100 }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
