// `sealbox audit export`: writes a self-contained bundle (bundle.ts) from a
// ledger opened read-only. Safe while the daemon runs: it reads one signed
// checkpoint first, and everything below that tree size is immutable.

import { mkdir, open, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { SealboxError } from "../errors.js";
import { BUNDLE_FORMAT, BUNDLE_JSON, BUNDLE_VERSION, CHECKPOINT_FILE, RECORDS_FILE, hashList, type BundleManifest } from "./bundle.js";
import { parseCheckpoint } from "./checkpoint.js";
import { parseNote } from "./note.js";
import { leftRange, rightRange } from "./proof.js";
import type { LedgerReadHandle } from "./reader.js";

export interface ExportOptions {
  /** First record to include. Defaults to 0. */
  from?: number;
  /** One past the last record to include. Defaults to the checkpoint's tree size. */
  to?: number;
  /** A checkpoint (note text) the auditor already holds: the bundle then carries a consistency proof from its size. */
  trustedCheckpoint?: string;
  /** The vkey to name in bundle.json. */
  vkey: string;
}

export interface ExportResult {
  treeSize: number;
  from: number;
  to: number;
  records: number;
  bytes: number;
}

async function writeSmall(path: string, text: string): Promise<void> {
  const fh = await open(path, "wx", 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes the bundle into outDir (created; must be empty or absent). */
export async function exportBundle(reader: LedgerReadHandle, outDir: string, options: ExportOptions): Promise<ExportResult> {
  const note = reader.latestCheckpoint();
  if (note === undefined) throw new SealboxError("NOT_FOUND", "the ledger has no signed checkpoint yet: nothing to export");
  const cp = parseCheckpoint(parseNote(note).text);
  const size = cp.size;
  const from = options.from ?? 0;
  const to = options.to ?? size;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to || to > size) {
    throw new SealboxError("BAD_ARGUMENT", `need 0 <= --from <= --to <= ${size} (the latest checkpoint's size), got ${from} and ${to}`);
  }
  await mkdir(outDir, { recursive: true });
  const existing = await readdir(outDir);
  if (existing.length > 0) throw new SealboxError("BAD_ARGUMENT", `${outDir} is not empty: export into a new directory`);

  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    origin: cp.origin,
    box: reader.boxId,
    vkey: options.vkey,
    tree_size: size,
    from,
    to,
    left: hashList(leftRange(reader.readNode, from).map((n) => n.hash)),
    right: hashList(rightRange(reader.readNode, to, size).map((n) => n.hash)),
    exported_at: new Date().toISOString(),
  };
  if (options.trustedCheckpoint !== undefined) {
    const trusted = parseCheckpoint(parseNote(options.trustedCheckpoint).text);
    if (trusted.size > size) {
      throw new SealboxError("LEDGER_ROLLBACK", `the trusted checkpoint is of size ${trusted.size}, larger than this ledger's ${size}: this ledger is older than what the auditor has seen`);
    }
    manifest.consistency = { old_size: trusted.size, proof: hashList(reader.consistencyProof(trusted.size, size)) };
  }

  // records.jsonl is written under a temporary name and renamed last, so a
  // bundle interrupted half-way is visibly incomplete (no records.jsonl).
  const tmp = join(outDir, `${RECORDS_FILE}.partial`);
  const fh = await open(tmp, "wx", 0o644);
  let bytes = 0;
  try {
    const chunk: Uint8Array[] = [];
    let chunkBytes = 0;
    const NL = new Uint8Array([0x0a]);
    for (const r of reader.recordsBetween(from, to)) {
      chunk.push(r, NL);
      chunkBytes += r.length + 1;
      if (chunkBytes >= 1 << 20) {
        await fh.write(Buffer.concat(chunk));
        bytes += chunkBytes;
        chunk.length = 0;
        chunkBytes = 0;
      }
    }
    if (chunkBytes > 0) await fh.write(Buffer.concat(chunk));
    bytes += chunkBytes;
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await writeSmall(join(outDir, CHECKPOINT_FILE), note);
  await writeSmall(join(outDir, BUNDLE_JSON), JSON.stringify(manifest, null, 2) + "\n");
  await rename(tmp, join(outDir, RECORDS_FILE));
  return { treeSize: size, from, to, records: to - from, bytes };
}
