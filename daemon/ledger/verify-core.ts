// Offline verification of an audit bundle, as a pure state machine: feed it
// the manifest, the checkpoint note and the records one by one; it recomputes
// every leaf and the root and checks the signature, and — given a checkpoint
// the auditor already trusts — that the bundle extends it. Imports no
// storage: an auditor's machine needs only these bytes and the box's vkey.
// Every failure is a SealboxError whose details name the check (and the
// record) that failed first.

import { SealboxError } from "../errors.js";
import type { ParsedManifest } from "./bundle.js";
import { openCheckpoint, type Checkpoint } from "./checkpoint.js";
import { CompactRange, decompose, decomposeRange } from "./compact-range.js";
import { toHex } from "./encoding.js";
import { equalBytes, leafHash, verifyConsistency } from "./merkle.js";
import { parseVkey, type NoteVerifier } from "./note.js";
import { decodeRecord } from "./record.js";

export interface VerifyOptions {
  /** The box's vkey, pinned by the auditor. Without it the bundle's own vkey is used (and the report says so). */
  key?: string;
  /** A signed checkpoint the auditor already holds; the bundle must extend it. */
  trusted?: string;
}

export interface VerifyReport {
  origin: string;
  box: string;
  treeSize: number;
  from: number;
  to: number;
  records: number;
  rootHash: string;
  key: { name: string; keyId: string; pinned: boolean };
  trusted?: { size: number; method: "same-checkpoint" | "recomputed-from-records" | "consistency-proof" };
  warnings: string[];
}

export function fail(check: string, message: string, details: Record<string, unknown> = {}, code: "VERIFY_FAILED" | "BAD_SIGNATURE" | "BAD_FORMAT" = "VERIFY_FAILED"): SealboxError {
  return new SealboxError(code, `${check}: ${message}`, { details: { check, ...details } });
}

function rewrap(check: string, e: unknown): SealboxError {
  if (e instanceof SealboxError) {
    const code = e.code === "BAD_SIGNATURE" || e.code === "BAD_FORMAT" ? e.code : "VERIFY_FAILED";
    return new SealboxError(code, `${check}: ${e.message}`, { cause: e, details: { check, ...(e.details ?? {}) } });
  }
  return fail(check, e instanceof Error ? e.message : String(e));
}

/**
 * Checks one record line as record seq of a bundle for box, and returns its
 * leaf hash. Pure: the verifier runs it in worker threads for big bundles.
 */
export function checkRecordLine(leaf: Uint8Array, seq: number, box: string): Uint8Array {
  let record;
  try {
    record = decodeRecord(leaf);
  } catch (e) {
    throw fail("records", `record ${seq}: ${(e as Error).message}`, { seq, reason: (e as SealboxError).code ?? "invalid" });
  }
  if (record.seq !== seq) {
    throw fail("records", `record ${seq}: its seq field says ${record.seq}: a record was deleted, inserted, duplicated or reordered`, { seq, recordSeq: record.seq });
  }
  if (record.box !== box) throw fail("records", `record ${seq}: box ${JSON.stringify(record.box)} is not the bundle's ${JSON.stringify(box)}`, { seq });
  return leafHash(leaf);
}

export class BundleVerifier {
  readonly verifier: NoteVerifier;
  readonly checkpoint: Checkpoint;
  private readonly range: CompactRange;
  private readonly trusted: (Checkpoint & { note: string }) | undefined;
  private trustedRootFromRecords: Uint8Array | undefined;
  private next: number;
  private readonly warnings: string[] = [];

  constructor(
    private readonly parsed: ParsedManifest,
    checkpointNote: string,
    private readonly options: VerifyOptions,
  ) {
    const m = parsed.manifest;
    try {
      this.verifier = parseVkey(options.key ?? m.vkey);
    } catch (e) {
      throw rewrap(options.key ? "--key" : "bundle.json vkey", e);
    }
    if (!options.key) this.warnings.push("the key was taken from the bundle itself, not pinned: pass --key VKEY (from `sealbox keys show`) to prove it is the box's key");
    try {
      this.checkpoint = openCheckpoint(checkpointNote, [this.verifier]);
    } catch (e) {
      throw rewrap("checkpoint", e);
    }
    const cp = this.checkpoint;
    if (cp.origin !== m.origin) throw fail("checkpoint", `origin ${JSON.stringify(cp.origin)} is not the bundle's ${JSON.stringify(m.origin)}`);
    if (cp.size !== m.tree_size) throw fail("checkpoint", `tree size ${cp.size} is not the bundle's ${m.tree_size}`);
    const wantLeft = decompose(m.from).length;
    const wantRight = decomposeRange(m.to, m.tree_size).length;
    if (parsed.left.length !== wantLeft) throw fail("bundle.json", `"left" has ${parsed.left.length} hashes, a range starting at ${m.from} needs ${wantLeft}`);
    if (parsed.right.length !== wantRight) throw fail("bundle.json", `"right" has ${parsed.right.length} hashes, [${m.to}, ${m.tree_size}) needs ${wantRight}`);
    this.range = CompactRange.fromHashes(m.from, parsed.left);
    this.next = m.from;
    if (options.trusted !== undefined) {
      try {
        this.trusted = openCheckpoint(options.trusted, [this.verifier]);
      } catch (e) {
        throw rewrap("trusted checkpoint", e);
      }
      if (this.trusted.origin !== cp.origin) throw fail("trusted checkpoint", `origin ${JSON.stringify(this.trusted.origin)} is not the bundle's ${JSON.stringify(cp.origin)}`);
      if (this.trusted.size > cp.size) {
        throw fail("trusted checkpoint", `the bundle's checkpoint (size ${cp.size}) is older than the trusted one (size ${this.trusted.size}): the log was truncated or the bundle replaced by an older one`, {
          trustedSize: this.trusted.size,
          bundleSize: cp.size,
        });
      }
      if (m.from === 0 && this.trusted.size === 0) this.trustedRootFromRecords = this.range.root();
    }
  }

  /** The seq the next record must carry. */
  get nextSeq(): number {
    return this.next;
  }

  get box(): string {
    return this.parsed.manifest.box;
  }

  /** Checks one record line (its exact leaf bytes, without the newline). */
  pushRecord(leaf: Uint8Array): void {
    this.checkRoom(this.next);
    this.pushLeafHash(checkRecordLine(leaf, this.next, this.parsed.manifest.box));
  }

  /** Fails when record seq would be past the bundle's end. */
  checkRoom(seq: number): void {
    const m = this.parsed.manifest;
    if (seq >= m.to) throw fail("records", `record ${seq} is one more than the bundle holds (from ${m.from} to ${m.to}): a record was inserted or duplicated`, { seq });
  }

  /** Appends the leaf hash of the next record, already checked by checkRecordLine (e.g. in a worker). */
  pushLeafHash(hash: Uint8Array): void {
    const m = this.parsed.manifest;
    this.checkRoom(this.next);
    this.range.append(hash);
    this.next++;
    if (this.trusted && m.from === 0 && this.range.size === this.trusted.size) this.trustedRootFromRecords = this.range.root();
  }

  /** After the last record: the count, the root, and the trusted checkpoint. */
  finish(): VerifyReport {
    const m = this.parsed.manifest;
    const cp = this.checkpoint;
    if (this.next !== m.to) throw fail("records", `the bundle holds records ${m.from} to ${this.next - 1}, expected up to ${m.to - 1}: records are missing at the end`, { seq: this.next });
    const range = this.range.clone();
    this.parsed.right.forEach((h, i) => {
      const piece = decomposeRange(m.to, m.tree_size)[i]!;
      range.appendSubtree(piece.level, h);
    });
    const root = range.root();
    if (!equalBytes(root, cp.rootHash)) {
      throw fail(
        "root",
        `the records (${m.from} to ${m.to - 1}) and bundle.json's hashes give root ${toHex(root)}, but the signed checkpoint says ${toHex(cp.rootHash)}: a record was changed, added, removed or reordered`,
        { gotRoot: toHex(root), wantRoot: toHex(cp.rootHash) },
      );
    }
    const report: VerifyReport = {
      origin: cp.origin,
      box: m.box,
      treeSize: cp.size,
      from: m.from,
      to: m.to,
      records: m.to - m.from,
      rootHash: toHex(root),
      key: { name: this.verifier.name, keyId: toHex(this.verifier.keyId), pinned: this.options.key !== undefined },
      warnings: this.warnings,
    };
    const t = this.trusted;
    if (t) {
      if (t.size === cp.size) {
        if (!equalBytes(t.rootHash, cp.rootHash)) throw fail("trusted checkpoint", `two signed checkpoints of size ${t.size} with different roots: the log forked`, { size: t.size });
        report.trusted = { size: t.size, method: "same-checkpoint" };
      } else if (this.parsed.consistency && this.parsed.consistency.oldSize === t.size) {
        try {
          verifyConsistency(t.size, cp.size, this.parsed.consistency.proof, t.rootHash, cp.rootHash);
        } catch (e) {
          throw rewrap("trusted checkpoint", e);
        }
        report.trusted = { size: t.size, method: "consistency-proof" };
      } else if (this.trustedRootFromRecords) {
        if (!equalBytes(this.trustedRootFromRecords, t.rootHash)) {
          throw fail("trusted checkpoint", `the first ${t.size} records give root ${toHex(this.trustedRootFromRecords)}, the trusted checkpoint says ${toHex(t.rootHash)}: the log was rewritten`, {
            size: t.size,
          });
        }
        report.trusted = { size: t.size, method: "recomputed-from-records" };
      } else {
        throw fail("trusted checkpoint", `the bundle neither holds records 0 to ${t.size - 1} nor a consistency proof from size ${t.size}: export with --trusted to include one`, { size: t.size });
      }
    }
    return report;
  }
}
