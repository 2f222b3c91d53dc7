// SIGHUP reload against real files and a real signal: reloadable keys apply,
// the rest are named, an invalid file is refused, systemd hears RELOADING/READY.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../../daemon/config.js";
import { ConfigReloader } from "../../../daemon/config/reloader.js";
import { Notifier } from "../../../daemon/notify.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import type { Config } from "../../../daemon/config/types.js";

test("SIGHUP: apply log and health, name the rest, refuse a bad file, keep running", { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sealbox-reload-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "sealbox.toml");
  writeFileSync(file, '[log]\nlevel = "info"\n[inference]\nthreads = 2\n');
  const argv = ["--config", file, "--state", join(dir, "state")];
  const running = await loadConfig(file, { stateDir: join(dir, "state") });
  const log = createMemoryLogger();
  const sent: string[] = [];
  const notifier = new Notifier({ send: (s) => (sent.push(s), 1) }, undefined, undefined);
  const applied: Config[] = [];
  const reloader = new ConfigReloader({ argv, running, log, notifier, reloadable: ["log", "health"], apply: (c) => void applied.push(c), statusLine: () => "running" });
  reloader.listen();
  reloader.listen();
  t.after(() => reloader.close());

  writeFileSync(file, '[log]\nlevel = "debug"\n[inference]\nthreads = 8\n[health]\ngpu_temp_critical_c = 95\n');
  const done = new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (log.lines.some((l) => l.includes("configuration reloaded"))) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });
  process.kill(process.pid, "SIGHUP");
  await done;
  assert.equal(reloader.config.log.level, "debug");
  assert.equal(reloader.config.health.gpuTempCriticalC, 95);
  assert.equal(reloader.config.inference.threads, 2, "threads needs a restart");
  assert.equal(applied.length, 1);
  assert.ok(log.lines.some((l) => /takes effect at the next restart key=inference\.threads/.test(l)), log.lines.join("\n"));
  assert.deepEqual(sent, ["RELOADING=1\nSTATUS=reloading configuration", "READY=1\nSTATUS=running"]);

  writeFileSync(file, '[inference]\nthreads = "four"\n');
  const bad = await reloader.reload();
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.error.code, "BAD_CONFIG");
  assert.equal(reloader.config.log.level, "debug", "an invalid file changes nothing");
  assert.ok(log.lines.some((l) => l.includes("configuration reload refused") && l.includes("inference.threads")));
  assert.equal(sent.at(-1), "READY=1\nSTATUS=running", "READY again even after a refused reload");

  // Two quick SIGHUPs share one reload.
  writeFileSync(file, '[log]\nlevel = "warn"\n');
  const [a, b] = [reloader.reload(), reloader.reload()];
  assert.equal(a, b);
  const r = await a;
  assert.ok(r.ok);
  assert.deepEqual(r.ok && r.applied, ["log.level", "health.gpu_temp_critical_c"]);

  // An apply that throws leaves the running configuration as it was.
  const failing = new ConfigReloader({ argv, running: reloader.config, log, apply: () => { throw new Error("cannot"); } });
  // By default only the log level reloads: a health change is named as needing a restart.
  const plain = new ConfigReloader({ argv, running: reloader.config, log });
  writeFileSync(file, '[log]\nlevel = "warn"\n[health]\ninterval_ms = 500\n');
  const p = await plain.reload();
  assert.ok(p.ok && p.needsRestart.includes("health.interval_ms"));
  assert.equal(plain.config.health.intervalMs, 10_000);
  writeFileSync(file, '[log]\nlevel = "error"\n');
  const f = await failing.reload();
  assert.equal(f.ok, false);
  assert.equal(failing.config.log.level, "warn");
});
