// `sealbox verify OUT [--trusted CHECKPOINT] [--key VKEY]`: offline
// verification of an exported bundle (a directory) or of one tlog-proof (a
// file). Pure code over the files: no daemon, no LMDB.

import { stat } from "node:fs/promises";
import { SealboxError } from "../errors.js";
import { openCheckpoint } from "../ledger/checkpoint.js";
import { toHex } from "../ledger/encoding.js";
import { leafHash, verifyInclusion } from "../ledger/merkle.js";
import { parseVkey } from "../ledger/note.js";
import { decodeRecord } from "../ledger/record.js";
import { TLOG_PROOF_HEADER, parseTlogProof } from "../ledger/tlog-proof.js";
import { readSmall, verifyBundle } from "../ledger/verify.js";
import { report } from "./console-common.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BUNDLE_JSON, parseManifest } from "../ledger/bundle.js";
import { COUNTER_CERT_FILE } from "../keys/counter-certificate.js";
import { COUNTER_CERT_MAX_BYTES, verifyCounterEvidence } from "../keys/counter-evidence.js";
import { parseCommand } from "./ledger-args.js";

const HELP = `usage: sealbox verify OUT [--key VKEY] [--trusted CHECKPOINT] [--json]
       sealbox verify PROOF.tlog-proof --key VKEY [--record FILE] [--json]

Verifies an audit bundle written by \`sealbox audit export\`: every record is
well-formed and in sequence, the records hash to the root of the signed
checkpoint, and the checkpoint is signed by the box's key. With --trusted, also
proves the bundle extends a checkpoint you kept from before (no truncation, no
rollback, no rewrite). Needs no daemon and no database.

Given a file, verifies a C2SP tlog-proof (from \`sealbox audit proof\`): the
record (its extra line, or --record FILE) is in the log under a signed checkpoint.

  --key VKEY            the box's verifier key (or a file holding it), from
                        \`sealbox keys show\`; without it the bundle's own key is
                        used and the result says the key was not pinned
  --trusted CHECKPOINT  a checkpoint file you trust (from an earlier verify or
                        \`sealbox audit checkpoint\`)
  --json                one JSON object

Exit 0 only when everything holds; otherwise the first failure is named.
`;

const MAX_SMALL = 1 << 20;

/** Checks OUT/counter-certificate.json when the bundle has one (its checkpoint under the same key as the bundle). */
async function verifyBundleCounterCertificate(dir: string, key: string | undefined) {
  const path = join(dir, COUNTER_CERT_FILE);
  if (!existsSync(path)) return undefined;
  const vkey = key ?? parseManifest(await readSmall(join(dir, BUNDLE_JSON), MAX_SMALL, BUNDLE_JSON)).manifest.vkey;
  return verifyCounterEvidence(await readSmall(path, COUNTER_CERT_MAX_BYTES, COUNTER_CERT_FILE), vkey);
}

async function keyArg(value: string | undefined): Promise<string | undefined> {
  if (value === undefined) return undefined;
  try {
    parseVkey(value);
    return value;
  } catch {
    // not a vkey: a file holding one
  }
  const text = (await readSmall(value, 64 * 1024, "--key")).trim();
  return text;
}

async function verifyProofFile(path: string, key: string | undefined, recordFile: string | undefined): Promise<Record<string, unknown>> {
  if (!key) throw new SealboxError("BAD_ARGUMENT", "verifying a tlog-proof needs the box's key: --key VKEY");
  const verifier = parseVkey(key);
  const proof = parseTlogProof(await readSmall(path, MAX_SMALL, "proof"));
  const cp = openCheckpoint(proof.checkpoint, [verifier]);
  let leaf: Uint8Array;
  if (recordFile !== undefined) {
    leaf = Buffer.from((await readSmall(recordFile, MAX_SMALL, "--record")).replace(/\n$/, ""), "utf8");
  } else if (proof.extra !== undefined) {
    leaf = proof.extra;
  } else {
    throw new SealboxError("BAD_ARGUMENT", "the proof carries no record: pass --record FILE");
  }
  const record = decodeRecord(leaf);
  if (record.seq !== proof.index) throw new SealboxError("VERIFY_FAILED", `the record's seq is ${record.seq} but the proof is for index ${proof.index}`, { details: { check: "record" } });
  verifyInclusion(proof.index, cp.size, leafHash(leaf), proof.proof, cp.rootHash);
  return { ok: true, kind: "tlog-proof", origin: cp.origin, index: proof.index, treeSize: cp.size, rootHash: toHex(cp.rootHash), record };
}

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes("--json");
  try {
    const { values, positionals } = parseCommand(argv, { key: { type: "string" }, trusted: { type: "string" }, record: { type: "string" } });
    json = values.json;
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new SealboxError("BAD_ARGUMENT", "give one bundle directory (or one tlog-proof file)\n" + HELP);
    const target = positionals[0]!;
    const key = await keyArg(values.key);
    let st;
    try {
      st = await stat(target);
    } catch (e) {
      throw new SealboxError("NOT_FOUND", `${target} does not exist`, { cause: e });
    }
    if (!st.isDirectory()) {
      const head = (await readSmall(target, MAX_SMALL, "proof")).slice(0, TLOG_PROOF_HEADER.length);
      if (head !== TLOG_PROOF_HEADER) throw new SealboxError("BAD_FORMAT", `${target} is neither a bundle directory nor a tlog-proof`);
      const result = await verifyProofFile(target, key, values.record);
      if (json) process.stdout.write(JSON.stringify(result) + "\n");
      else process.stdout.write(`OK: record ${String(result.index)} is in ${String(result.origin)} at tree size ${String(result.treeSize)}, under a valid signature\n`);
      return 0;
    }
    const trusted = values.trusted === undefined ? undefined : await readSmall(values.trusted, MAX_SMALL, "--trusted");
    const r = await verifyBundle(target, { ...(key !== undefined ? { key } : {}), ...(trusted !== undefined ? { trusted } : {}) });
    // Optional hardware evidence: the TPM's certificate of its anti-rollback counter (docs/tpm.md).
    const counter = await verifyBundleCounterCertificate(target, key);
    if (json) {
      process.stdout.write(JSON.stringify({ ok: true, ...r, ...(counter && { counter_certificate: { counter: counter.counter.toString(), tree_size: counter.treeSize, nv_index: counter.nvIndex } }) }) + "\n");
    } else {
      const lines = [
        `OK: ${r.records} records (${r.from}..${r.to - 1}) of ${r.origin} (box ${r.box})`,
        `    hash to the root of the checkpoint of tree size ${r.treeSize}, signed by ${r.key.name}+${r.key.keyId}${r.key.pinned ? "" : " (key NOT pinned)"}`,
      ];
      if (r.trusted) lines.push(`    and extend the trusted checkpoint of size ${r.trusted.size} (${r.trusted.method})`);
      if (counter) lines.push(`    TPM counter certificate: counter ${counter.counter} at tree size ${counter.treeSize}, signed by the box's TPM attestation key (trusted on first use)`);
      for (const w of r.warnings) lines.push(`warning: ${w}`);
      process.stdout.write(lines.join("\n") + "\n");
    }
    return 0;
  } catch (e) {
    return report(e, json);
  }
}
