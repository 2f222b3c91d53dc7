// ./build.sh bench ledger [--records N] [--keep DIR] — the ledger's speed on this machine:
//   durable_records_per_s  durable, checkpoint-covered appends from 64 concurrent writers
//                          (each append resolves only when fsynced and signed), N records
//   append_p99_ms          append latency at a steady 1,000 records/s (5 s)
//   verify_records_per_s   `sealbox verify` over an export of the whole log (pure code, no LMDB)
//   proof_ms               one inclusion proof from the N-record ledger, read-only reader (mean)
// --records N is the size of the ledger built (default 1,000,000): the first
// min(N, 200,000) records measure the 64-writer throughput, the rest are
// filled with 4,096 appends in flight (bulk_records_per_s), so the proof is
// timed on an N-record ledger. --keep DIR writes the state there and keeps it
// (a normal state directory, key included: every sealbox command works on it).

import { mkdtemp, mkdir, open, readdir, rm } from "node:fs/promises";
import { tmpdir, cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { openSigner, provisionSoftwareKey } from "../daemon/keys/key-store.js";
import { openLedger } from "../daemon/ledger/ledger.js";
import { openLedgerReader } from "../daemon/ledger/reader.js";
import { exportBundle } from "../daemon/ledger/export.js";
import { verifyBundle } from "../daemon/ledger/verify.js";
import { openCheckpoint } from "../daemon/ledger/checkpoint.js";
import { leafHash, verifyInclusion } from "../daemon/ledger/merkle.js";
import { parseVkey } from "../daemon/ledger/note.js";
import type { AuditEvent } from "../daemon/ledger/types.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const say = (s: string): void => void process.stdout.write(s + "\n");

const records = Number(arg("records") ?? 1_000_000);
const keep = arg("keep");
if (!Number.isSafeInteger(records) || records < 1000) {
  process.stderr.write("bench ledger: --records must be an integer >= 1000\n");
  process.exit(64);
}
const WRITERS = 64;

// A realistic record: an inference answer's audit fields (hashes, not text).
const ev = (i: number): AuditEvent => ({
  actor: { role: "operator", transport: "http-socket", peer: "uid:1000" },
  category: "inference",
  action: "chat",
  target: "sha256:9f2c4e1b7a0d3e5f6a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
  outcome: "success",
  details: { n: i, prompt_sha256: "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b", tokens_in: 42, tokens_out: 128, ms: 930 },
});

let root: string;
let state: string;
if (keep) {
  state = resolve(keep);
  await mkdir(state, { recursive: true });
  if ((await readdir(state)).length > 0) {
    process.stderr.write(`bench ledger: --keep ${state} is not empty\n`);
    process.exit(64);
  }
  root = await mkdtemp(join(tmpdir(), "sealbox-bench-ledger-"));
} else {
  root = await mkdtemp(join(tmpdir(), "sealbox-bench-ledger-"));
  state = join(root, "state");
}
say(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
say(`state: ${state}${keep ? " (kept)" : ""}`);

/** The disk's flush latency right now: what every durable commit waits for at least once. */
async function fdatasyncMs(dir: string): Promise<number> {
  const fh = await open(join(dir, "fsync-probe"), "w");
  const page = Buffer.alloc(4096, 1);
  const times: number[] = [];
  try {
    for (let i = 0; i < 50; i++) {
      await fh.write(page, 0, page.length, (i % 16) * 4096);
      const t = performance.now();
      await fh.datasync();
      times.push(performance.now() - t);
    }
  } finally {
    await fh.close();
    await rm(join(dir, "fsync-probe"), { force: true });
  }
  return pct(times, 50);
}

try {
  const fsyncMs = await fdatasyncMs(root);
  say(`disk: fdatasync of one 4 KiB page, median ${round(fsyncMs)} ms (a commit is a data flush plus a synchronous meta-page write)`);
  const { info } = await provisionSoftwareKey(state);
  const signer = await openSigner(state);
  const ledger = await openLedger({ stateDir: state, signer });

  // 1. Throughput: 64 writers, each appending the moment its last append resolved.
  const measured = Math.min(records, 200_000);
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const batches0 = ledger.stats().batches;
  let lastReport = t0;
  const progress = (): void => {
    const now = performance.now();
    if (now - lastReport > 10_000) {
      lastReport = now;
      say(`  … ${next} records, ${Math.round((next / (now - t0)) * 1000)}/s`);
    }
  };
  const writer = async (limit: number): Promise<void> => {
    while (next < limit) {
      await ledger.append(ev(next++));
      progress();
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, () => writer(measured)));
  const secs = (performance.now() - t0) / 1000;
  const batches = ledger.stats().batches - batches0;
  const durable = measured / secs;
  const cpuAppend = process.cpuUsage(cpu0);
  const appendCpuUs = (cpuAppend.user + cpuAppend.system) / measured;
  say(`durable appends, ${WRITERS} writers: ${measured} records in ${round(secs)} s = ${Math.round(durable)} records/s (${batches} group commits, ${round(measured / batches, 1)} records each, ${round((secs * 1000) / batches)} ms per commit)`);
  say(`  CPU: ${round(appendCpuUs, 1)} µs per append, all threads (the fsync of each commit is the rest)`);
  let bulk = 0;
  if (records > measured) {
    const tb = performance.now();
    await Promise.all(Array.from({ length: 4096 }, () => writer(records)));
    bulk = (records - measured) / ((performance.now() - tb) / 1000);
    say(`bulk fill to ${records} records, 4096 appends in flight: ${Math.round(bulk)} records/s`);
  }

  // 2. Latency at a steady 1,000 records/s for 5 s.
  const lat: number[] = [];
  const steadyN = 5000;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < steadyN; i++) {
    const due = start + i; // one per millisecond
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const sent = performance.now();
    pending.push(ledger.append(ev(records + i)).then(() => void lat.push(performance.now() - sent)));
  }
  await Promise.all(pending);
  const rate = steadyN / ((performance.now() - start) / 1000);
  const p99 = pct(lat, 99);
  say(`append latency at ${Math.round(rate)} records/s: p50 ${round(pct(lat, 50))} ms, p99 ${round(p99)} ms, max ${round(Math.max(...lat))} ms`);
  await ledger.close();
  signer.close();

  // 3. Export and offline verification of the whole log.
  const reader = await openLedgerReader(state);
  const out = join(root, "bundle");
  let t = performance.now();
  const ex = await exportBundle(reader, out, { vkey: info.vkey });
  const exportSecs = (performance.now() - t) / 1000;
  say(`export: ${ex.records} records, ${round(ex.bytes / 2 ** 20, 1)} MiB in ${round(exportSecs)} s`);
  t = performance.now();
  const vcpu0 = process.cpuUsage();
  const report = await verifyBundle(out, { key: info.vkey });
  const verifySecs = (performance.now() - t) / 1000;
  const vcpu = process.cpuUsage(vcpu0);
  const verifyCpuUs = (vcpu.user + vcpu.system) / report.records;
  const verifyRate = report.records / verifySecs;
  say(`verify: ${report.records} records in ${round(verifySecs)} s = ${Math.round(verifyRate)} records/s (every leaf re-parsed, canonical form checked, root recomputed, signature checked)`);
  say(`  CPU: ${round(verifyCpuUs, 2)} µs per record = ${Math.round(1e6 / verifyCpuUs)} records per CPU-second`);

  // 4. Inclusion proofs from the N-record ledger.
  const size = reader.size();
  const cp = openCheckpoint(reader.latestCheckpoint()!, [parseVkey(info.vkey)]);
  const times: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const seq = Math.floor(Math.random() * size);
    const s = performance.now();
    const proof = reader.inclusionProof(seq, size);
    times.push(performance.now() - s);
    if (i < 50) verifyInclusion(seq, size, leafHash(reader.recordBytes(seq)!), proof, cp.rootHash);
  }
  const proofMs = times.reduce((a, b) => a + b, 0) / times.length;
  say(`inclusion proof in a ${size}-record ledger: mean ${round(proofMs, 3)} ms, p99 ${round(pct(times, 99), 3)} ms`);
  await reader.close();

  say(
    JSON.stringify({
      records,
      writers: WRITERS,
      fdatasync_ms: round(fsyncMs),
      durable_records_per_s: Math.round(durable),
      records_per_commit: round(measured / batches, 1),
      bulk_records_per_s: Math.round(bulk),
      append_p99_ms: round(p99),
      append_p50_ms: round(pct(lat, 50)),
      append_cpu_us: round(appendCpuUs, 1),
      ms_per_commit: round((secs * 1000) / batches, 2),
      verify_records_per_s: Math.round(verifyRate),
      verify_cpu_us_per_record: round(verifyCpuUs, 2),
      export_records_per_s: Math.round(ex.records / exportSecs),
      proof_ms: round(proofMs, 4),
      proof_tree_size: size,
    }),
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
