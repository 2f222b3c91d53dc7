// `sealbox status`: the box on one screen — key, ledger and its last
// checkpoint and export, model and queue, health of the GPU, diode — from the
// daemon's `status` method. --json prints the method's result as is; --watch
// redraws every few seconds.

import type { JsonValue } from "../ledger/types.js";
import { bold, client, common, COMMON_HELP, dim, parse, report, tty, writeJson } from "./console-common.js";

const HELP = `usage: sealbox status [OPTIONS]

One screen of the box's state: signing key, audit ledger (size, last signed
checkpoint, last export), model and queue, health (GPU), diode.

options:
  --watch [S]     redraw every S seconds (default 2) until Ctrl-C
${COMMON_HELP}

exit codes: 0 shown, 69 daemon not running, 77 no permission.`;

type Obj = { [key: string]: JsonValue };

function obj(v: JsonValue | undefined): Obj | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined;
}

function str(v: JsonValue | undefined, fallback = "?"): string {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : fallback;
}

function uptime(s: JsonValue | undefined): string {
  if (typeof s !== "number") return "?";
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${Math.floor(s % 60)}s`;
}

function count(n: JsonValue | undefined): string {
  return typeof n === "number" ? n.toLocaleString("en-US") : "?";
}

/** The dashboard as lines of text. Pure: status in, text out. */
export function renderStatus(st: Obj, color: boolean): string[] {
  const warn = (t: string): string => (color ? `\x1b[33m${t}\x1b[0m` : t);
  const bad = (t: string): string => (color ? `\x1b[31m${t}\x1b[0m` : t);
  const good = (t: string): string => (color ? `\x1b[32m${t}\x1b[0m` : t);
  const label = (t: string): string => bold(t.padEnd(8), color);
  const lines: string[] = [];

  const box = obj(st.box);
  lines.push(`${bold("sealbox", color)} ${str(box?.id)} · version ${str(box?.version)} · up ${uptime(box?.uptimeS)}`);

  const key = obj(st.key);
  if (key) {
    const origin = str(key.origin);
    lines.push(`${label("Key")} ${origin === "tpm" ? good("TPM-sealed") : warn("software key (development only)")} · ${str(key.name)} · id ${str(key.keyId)}`);
  } else lines.push(`${label("Key")} ${bad("unknown")}`);

  const ledger = obj(st.ledger);
  if (ledger && ledger.error === undefined) {
    const exp = obj(ledger.lastExport);
    lines.push(
      `${label("Ledger")} ${count(ledger.size)} records · signed checkpoint at ${count(ledger.checkpointSize)}${ledger.lastCheckpointTime ? ` (${str(ledger.lastCheckpointTime)})` : ""}`,
      `${"".padEnd(9)}last export: ${exp ? `${str(exp.time)} (record #${str(exp.seq)}, ${str(exp.target)})` : warn("never")}`,
    );
  } else lines.push(`${label("Ledger")} ${bad(ledger ? `error: ${str(ledger.error)}` : "not available")}`);

  const inf = obj(st.inference);
  if (inf && typeof inf.state === "string") {
    const model = obj(inf.model);
    const state = str(inf.state);
    const stateText = state === "ready" ? good("ready") : state === "loading" ? warn("loading") : bad(state);
    lines.push(`${label("Model")} ${str(model?.name)} (sha256 ${str(model?.sha256).slice(0, 12)}) · ${stateText}${inf.mode ? ` · ${str(inf.mode)}` : ""}${inf.device ? ` (${str(inf.device)})` : ""}`);
    if (inf.banner) lines.push(`${"".padEnd(9)}${warn(str(inf.banner))}`);
    if (state === "failed" && inf.error) lines.push(`${"".padEnd(9)}${bad(str(inf.error))}`);
    if (inf.fallback) lines.push(`${"".padEnd(9)}${warn(`answering on the CPU (GPU fallback): ${str(inf.fallback)}`)}`);
    lines.push(`${label("Queue")} ${count(inf.running)} answering · ${count(inf.queueDepth)} waiting${typeof inf.queueLimit === "number" ? ` (limit ${count(inf.queueLimit)})` : ""}`);
  } else lines.push(`${label("Model")} ${inf?.error ? bad(`error: ${str(inf.error)}`) : warn("none loaded")}`);

  const health = obj(st.health);
  if (health && health.error === undefined) {
    const state = str(health.state);
    const text = state === "ok" ? good("ok") : state === "degraded" ? warn("degraded") : state === "critical" ? bad("critical") : warn(state);
    const reasons = Array.isArray(health.reasons) ? health.reasons.map((r) => str(obj(r)?.message, "")).filter((m) => m !== "") : [];
    lines.push(`${label("Health")} ${text}${health.cpuFallbackActive === true ? warn(" · answering on the CPU (GPU fallback)") : ""}${reasons.length ? ` · ${reasons.slice(0, 3).join("; ")}` : ""}`);
    const gpu = obj(health.gpu);
    const gpus = Array.isArray(gpu?.gpus) ? gpu.gpus.map(obj).filter((g): g is Obj => g !== undefined) : [];
    const firstFault = Array.isArray(gpu?.faults) ? obj(gpu.faults[0]) : undefined;
    if (!gpu) lines.push(`${label("GPU")} ${dim("not monitored (CPU mode)", color)}`);
    else if (gpus.length === 0) lines.push(`${label("GPU")} ${bad(firstFault ? `fault: ${str(firstFault.message, "see health")}` : "none found")}`);
    for (const g of gpus.slice(0, 4)) {
      const mem = typeof g.memoryUsedMiB === "number" && typeof g.memoryTotalMiB === "number" ? ` · mem ${Math.round(g.memoryUsedMiB / 1024)}/${Math.round(g.memoryTotalMiB / 1024)} GiB` : "";
      const temp = typeof g.tempC === "number" ? ` · ${g.tempC} °C` : "";
      const util = typeof g.utilizationPct === "number" ? ` · ${g.utilizationPct}% busy` : "";
      const power = typeof g.powerDrawW === "number" ? ` · ${Math.round(g.powerDrawW)} W` : "";
      lines.push(`${label(`GPU ${str(g.index)}`)} ${str(g.name)}${temp}${mem}${util}${power}`);
    }
  } else lines.push(`${label("Health")} ${health ? bad(`error: ${str(health.error)}`) : dim("not monitored", color)}`);

  const diode = obj(st.diode);
  if (diode && diode.error === undefined) {
    const enabled = diode.enabled !== false;
    const parts = Object.entries(diode)
      .filter(([k, v]) => k !== "enabled" && (typeof v === "number" || typeof v === "string" || typeof v === "boolean"))
      .slice(0, 6)
      .map(([k, v]) => `${k} ${str(v)}`);
    lines.push(`${label("Diode")} ${enabled ? good("on") : dim("off", color)}${parts.length ? ` · ${parts.join(" · ")}` : ""}`);
  } else lines.push(`${label("Diode")} ${diode ? bad(`error: ${str(diode.error)}`) : dim("not configured", color)}`);

  const ready = obj(st.readiness);
  if (ready && ready.ready === false && Array.isArray(ready.reasons)) lines.push(`${label("Ready")} ${warn("no")} · ${ready.reasons.map((r) => str(r)).join("; ")}`);
  return lines;
}

export async function main(argv: string[]): Promise<number> {
  let json = argv.includes("--json");
  try {
    // --watch takes an optional number: normalise "--watch" alone to "--watch=2".
    const args = argv.map((a, i) => (a === "--watch" && !/^\d+$/.test(argv[i + 1] ?? "") ? "--watch=2" : a));
    const { values } = parse(args, { watch: { type: "string" } }, false);
    if (values.help) {
      process.stdout.write(HELP + "\n");
      return 0;
    }
    const o = common(values, "operator");
    json = o.json;
    const c = client(o);
    const color = !json && tty(process.stdout);
    const show = async (): Promise<void> => {
      const st = await c.call("status");
      if (json) writeJson(st);
      else process.stdout.write(renderStatus(st, color).join("\n") + "\n");
    };
    if (values.watch === undefined) {
      await show();
      return 0;
    }
    const everyMs = Math.max(1, Number(values.watch) || 2) * 1000;
    let stop = false;
    process.once("SIGINT", () => (stop = true));
    while (!stop) {
      if (!json && process.stdout.isTTY) process.stdout.write("\x1b[H\x1b[2J");
      await show();
      await new Promise((r) => setTimeout(r, everyMs));
    }
    return 0;
  } catch (e) {
    return report(e, json);
  }
}
