import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CSV_LIMITS, classifyNvidiaSmiFailure, parseQueryGpuCsv, queryGpuFields, refusedField } from "../../../hal/gpu/nvidia-smi-csv.js";
import { NVIDIA_SMI_FIXTURES, recordedQuery } from "../../helpers/fake-nvidia-smi.js";

test("the recorded H200 at idle parses into figures with units", async () => {
  const { fields, csv } = await recordedQuery("ok");
  const { gpus, faults } = parseQueryGpuCsv(csv, fields);
  assert.deepEqual(faults, []);
  assert.equal(gpus.length, 1);
  const g = gpus[0]!;
  assert.equal(g.index, 0);
  assert.equal(g.name, "NVIDIA H200");
  assert.equal(g.busId, "00000000:00:06.0");
  assert.equal(g.driverVersion, "580.159.04");
  assert.equal(g.memoryTotalMiB, 143771);
  assert.equal(g.memoryUsedMiB, 0);
  assert.equal(g.powerDrawW, 83.03);
  assert.equal(g.powerLimitW, 700);
  assert.equal(g.tempC, 39);
  assert.equal(g.memoryTempC, 37);
  assert.equal(g.maxSmClockMHz, 1980);
  assert.equal(g.fanPct, null, "[N/A] is no figure, not zero");
  assert.equal(g.eccEnabled, true);
  assert.deepEqual(g.ecc, { correctedVolatile: 0, uncorrectedVolatile: 0, correctedAggregate: 0, uncorrectedAggregate: 0 });
  assert.equal(g.clockEvents.activeMask, "0x0000000000000001");
  assert.equal(g.clockEvents.gpuIdle, true);
  assert.equal(g.clockEvents.swPowerCap, false);
  assert.equal(g.clockEvents.hwThermalSlowdown, false);
});

test("the recorded H200 under load shows the power cap and full utilization", async () => {
  const { fields, csv } = await recordedQuery("ok-load");
  const { gpus, faults } = parseQueryGpuCsv(csv, fields);
  assert.deepEqual(faults, []);
  assert.equal(gpus[0]!.utilizationPct, 100);
  assert.equal(gpus[0]!.clockEvents.swPowerCap, true);
  assert.equal(gpus[0]!.clockEvents.gpuIdle, false);
  assert.ok(gpus[0]!.powerDrawW! > 500);
});

test("the recorded H100 (80GB HBM3), idle and during a bf16 matrix loop, parses the same way", async () => {
  const idle = parseQueryGpuCsv((await recordedQuery("h100")).csv, (await recordedQuery("h100")).fields);
  assert.deepEqual(idle.faults, []);
  const g = idle.gpus[0]!;
  assert.equal(g.name, "NVIDIA H100 80GB HBM3");
  assert.equal(g.driverVersion, "580.159.04");
  assert.equal(g.memoryTotalMiB, 81559);
  assert.equal(g.memoryUsedMiB, 0);
  assert.equal(g.powerDrawW, 71.76);
  assert.equal(g.tempC, 34);
  assert.equal(g.memoryTempC, 35);
  assert.equal(g.fanPct, null);
  assert.equal(g.clockEvents.gpuIdle, true);
  const { fields, csv } = await recordedQuery("h100-load");
  const load = parseQueryGpuCsv(csv, fields);
  assert.deepEqual(load.faults, []);
  const l = load.gpus[0]!;
  assert.equal(l.utilizationPct, 98);
  assert.equal(l.memoryUsedMiB, 973);
  assert.equal(l.powerDrawW, 690.97);
  assert.equal(l.clockEvents.activeMask, "0x0000000000000004");
  assert.equal(l.clockEvents.swPowerCap, true);
  assert.equal(l.clockEvents.gpuIdle, false);
});

test("an old driver's clocks_throttle_reasons.* names read the same as the new names", async () => {
  const old = await recordedQuery("old-driver");
  const now = await recordedQuery("ok");
  assert.ok(old.fields.every((f) => !f.startsWith("clocks_event_reasons.")));
  const a = parseQueryGpuCsv(old.csv, old.fields);
  const b = parseQueryGpuCsv(now.csv, now.fields);
  assert.deepEqual(a.faults, []);
  assert.deepEqual(a.gpus[0]!.clockEvents, b.gpus[0]!.clockEvents);
});

test("reasons asked only as a bitmask are decoded from NVML's bits", () => {
  const fields = ["index", "clocks_event_reasons.active"];
  const { gpus, faults } = parseQueryGpuCsv("0, 0x0000000000000068\n", fields);
  assert.deepEqual(faults, []);
  const c = gpus[0]!.clockEvents;
  assert.equal(c.hwSlowdown, true);
  assert.equal(c.swThermalSlowdown, true);
  assert.equal(c.hwThermalSlowdown, true);
  assert.equal(c.gpuIdle, false);
  assert.equal(c.hwPowerBrakeSlowdown, false);
});

test("the runner's field list is answered by every recorded mode (no drift between runner and fixtures)", async () => {
  for (const mode of ["ok", "ok-load", "h100", "h100-load", "all-zero", "hot", "ecc"]) {
    const { fields } = await recordedQuery(mode);
    for (const f of queryGpuFields("clocks_event_reasons")) assert.ok(fields.includes(f), `${mode} lacks ${f}`);
  }
  const old = await recordedQuery("old-driver");
  for (const f of queryGpuFields("clocks_throttle_reasons")) assert.ok(old.fields.includes(f), `old-driver lacks ${f}`);
});

test("several GPUs, CRLF line ends and blank lines", async () => {
  const { fields, csv } = await recordedQuery("ok");
  const line = csv.trim();
  const second = line.replace(/^0,/, "1,");
  const { gpus, faults } = parseQueryGpuCsv(`${line}\r\n\r\n${second}\r\n`, fields);
  assert.deepEqual(faults, []);
  assert.deepEqual(gpus.map((g) => g.index), [0, 1]);
});

test("a line cut at any byte is a fault, never an exception or a made-up figure", async () => {
  const { fields, csv } = await recordedQuery("ok");
  const line = csv.trimEnd();
  for (let cut = 1; cut <= line.length + 1; cut++) {
    const text = (line + "\n").slice(0, cut);
    const r = parseQueryGpuCsv(text, fields);
    if (cut > line.length) {
      assert.deepEqual(r.faults, [], `cut at ${cut}`);
      assert.equal(r.gpus.length, 1);
    } else {
      assert.ok(r.faults.length > 0, `cut at ${cut} (${JSON.stringify(text.slice(-12))}) must be a fault`);
      assert.ok(r.faults.every((f) => f.kind === "malformed-output"), `cut at ${cut}: ${JSON.stringify(r.faults)}`);
      assert.equal(r.gpus.length, 0, `cut at ${cut}: no GPU from a cut line`);
    }
  }
});

test("malformed and hostile lines become named faults", () => {
  const fields = ["index", "name", "temperature.gpu", "ecc.mode.current", "clocks_event_reasons.active"];
  const cases: [string, RegExp][] = [
    ["0, NVIDIA H200, 39, Enabled", /has 4 fields, expected 5/],
    ["0, NVIDIA H200, 39, Enabled, 0x1, extra", /has 6 fields/],
    ["x, NVIDIA H200, 39, Enabled, 0x1", /index "x"/],
    ["-1, NVIDIA H200, 39, Enabled, 0x1", /index "-1"/],
    ["0, NVIDIA H200, hot, Enabled, 0x1", /temperature\.gpu is "hot", not a number/],
    ["0, NVIDIA H200, 1e309, Enabled, 0x1", /not a number/],
    ["0, NVIDIA H200, NaN, Enabled, 0x1", /not a number/],
    ["0, NVIDIA H200, Infinity, Enabled, 0x1", /not a number/],
    ["0, NVIDIA H200, 39, Maybe, 0x1", /ecc\.mode\.current is "Maybe"/],
    ["0, NVIDIA H200, 39, Enabled, 0xZZ", /not a hex bitmask/],
    ["0, NVIDIA H200, 39, Enabled, 0x11111111111111111", /not a hex bitmask/],
    ["0, NVIDIA\x1b[31m H200, 39, Enabled, 0x1", /name is not a short printable string/],
    [`0, ${"A".repeat(300)}, 39, Enabled, 0x1`, /name is not a short printable string/],
    [`0, ${"A".repeat(CSV_LIMITS.maxLineChars)}, 39, Enabled, 0x1`, /characters long/],
    ["0, NVIDIA H200, 39, Enabled, 0x1\n0, NVIDIA H200, 40, Enabled, 0x1", /not a new GPU index/],
    ["hello world", /has 1 fields/],
  ];
  for (const [text, expected] of cases) {
    const r = parseQueryGpuCsv(text + "\n", fields);
    const messages = r.faults.map((f) => f.message).join(" | ");
    assert.ok(r.faults.some((f) => f.kind === "malformed-output" && expected.test(f.message)), `${JSON.stringify(text.slice(0, 60))}: got ${messages}`);
  }
  // A bad figure costs that figure only: the rest of the GPU is still read.
  const partial = parseQueryGpuCsv("0, NVIDIA H200, hot, Enabled, 0x1\n", fields);
  assert.equal(partial.gpus[0]!.tempC, null);
  assert.equal(partial.gpus[0]!.name, "NVIDIA H200");
});

test("too many GPUs are cut at the limit with a fault", () => {
  const lines = Array.from({ length: CSV_LIMITS.maxGpus + 5 }, (_, i) => `${i}, 40\n`).join("");
  const r = parseQueryGpuCsv(lines, ["index", "temperature.gpu"]);
  assert.equal(r.gpus.length, CSV_LIMITS.maxGpus);
  assert.ok(r.faults.some((f) => /more than 64 GPUs/.test(f.message)));
});

test("[GPU is lost] in a field is a gpu-lost fault for that GPU; other bracketed values are absent figures", () => {
  const fields = ["index", "temperature.gpu", "memory.total", "power.draw"];
  const r = parseQueryGpuCsv("0, 40, 81559, 120.5\n1, [GPU is lost], [GPU is lost], [GPU is lost]\n2, [Unknown Error], [Not Supported], N/A\n", fields);
  assert.deepEqual(r.faults.map((f) => [f.kind, f.gpuIndex]), [["gpu-lost", 1]]);
  assert.equal(r.gpus[2]!.tempC, null);
  assert.equal(r.gpus[2]!.memoryTotalMiB, null);
  assert.equal(r.gpus[0]!.powerDrawW, 120.5);
});

test("an empty answer is no-gpus", () => {
  assert.deepEqual(parseQueryGpuCsv("", ["index"]).faults.map((f) => f.kind), ["no-gpus"]);
  assert.deepEqual(parseQueryGpuCsv("\n\n", ["index"]).faults.map((f) => f.kind), ["no-gpus"]);
});

test("the recorded failure texts are typed faults", async () => {
  const read = (mode: string, f: string) => readFile(join(NVIDIA_SMI_FIXTURES, mode, f), "utf8");
  const kinds: [string, string][] = [
    ["driver-gone", "driver-unreachable"],
    ["gpu-lost", "gpu-lost"],
    ["fail", "nvml-failed"],
  ];
  for (const [mode, kind] of kinds) {
    const fault = classifyNvidiaSmiFailure({ stdout: await read(mode, "any.stdout"), stderr: "", exitCode: Number(await read(mode, "any.exit")) });
    assert.equal(fault.kind, kind, mode);
    assert.equal(fault.exitCode, Number(await read(mode, "any.exit")));
    assert.ok(fault.message.length > 20 && fault.message.length < 450, fault.message);
  }
  assert.equal(classifyNvidiaSmiFailure({ stdout: "", stderr: "", exitCode: 9 }).kind, "driver-unreachable");
  assert.equal(classifyNvidiaSmiFailure({ stdout: "", stderr: "", exitCode: 15 }).kind, "gpu-lost");
  assert.equal(classifyNvidiaSmiFailure({ stdout: "No devices were found\n", stderr: "", exitCode: 6 }).kind, "no-gpus");
  const odd = classifyNvidiaSmiFailure({ stdout: "", stderr: "weird\x07 thing\n", exitCode: 255 });
  assert.equal(odd.kind, "failed");
  assert.match(odd.message, /weird\? thing/);
  assert.doesNotMatch(odd.message, /\x07/);
});

test("the refused field is read from the real driver's words", async () => {
  const said = await readFile(join(NVIDIA_SMI_FIXTURES, "reference", "invalid-field.stdout"), "utf8");
  assert.equal(refusedField(said), "no.such.field");
  assert.equal(refusedField("all good"), undefined);
});
