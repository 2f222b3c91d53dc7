// Health costs: parsing one nvidia-smi answer (the recorded H200), evaluating
// a reading, and one probe read through a real process (the recorded
// nvidia-smi, a bash script: an upper bound on what the runner adds; the real
// nvidia-smi took 33–37 ms per query on an H200). Usage: ./build.sh bench health

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parseQueryGpuCsv } from "../hal/gpu/nvidia-smi-csv.js";
import { NvidiaSmiProbe } from "../hal/gpu/nvidia-smi.js";
import { evaluateHealth } from "../daemon/health/evaluate.js";
import { resolveThresholds } from "../daemon/health/thresholds.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = join(root, "test", "fixtures", "nvidia-smi");
const fields = readFileSync(join(fixtures, "ok", "query-gpu.fields"), "utf8").trim().split(",");
const csv = readFileSync(join(fixtures, "ok", "query-gpu.csv"), "utf8");

function perOp(n: number, fn: () => void): number {
  for (let i = 0; i < Math.min(1000, n); i++) fn();
  const t = performance.now();
  for (let i = 0; i < n; i++) fn();
  return ((performance.now() - t) / n) * 1000;
}

const parseUs = perOp(20_000, () => parseQueryGpuCsv(csv, fields));
const reading = { at: "", durationMs: 0, ...parseQueryGpuCsv(csv, fields) };
const t = resolveThresholds();
const evalUs = perOp(100_000, () => evaluateHealth({ gpu: reading, system: null, gpuRequired: true, consecutiveGpuTimeouts: 0, watchPaths: [] }, t));

const probe = new NvidiaSmiProbe({ env: { ...process.env, PATH: `${join(fixtures, "bin")}:${process.env.PATH}`, SEALBOX_FAKE_NVIDIA_SMI_MODE: "ok" } });
const times: number[] = [];
for (let i = 0; i < 30; i++) {
  const s = performance.now();
  const r = await probe.read();
  times.push(performance.now() - s);
  if (r.faults.length > 0) throw new Error(JSON.stringify(r.faults));
}
await probe.close();
times.sort((a, b) => a - b);
const p50 = times[Math.floor(times.length / 2)]!;

console.log(`parse one H200 answer:    ${parseUs.toFixed(1)} µs`);
console.log(`evaluate one reading:     ${evalUs.toFixed(2)} µs`);
console.log(`probe read (fake, p50):   ${p50.toFixed(1)} ms  (spawn + bash + parse)`);
console.log(JSON.stringify({ parse_us: Math.round(parseUs * 10) / 10, evaluate_us: Math.round(evalUs * 100) / 100, probe_read_fake_p50_ms: Math.round(p50 * 10) / 10 }));
