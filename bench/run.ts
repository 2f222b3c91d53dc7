// ./build.sh bench [NAME] [ARGS…]: runs dist/bench/NAME.js (or every benchmark)
// as child processes. Each prints human-readable figures and, last, one JSON line.

import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith(".js") && f !== "run.js" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (name !== undefined && !all.includes(name)) {
  process.stderr.write(`bench: unknown benchmark '${name}' (have: ${all.join(", ")})\n`);
  process.exit(64);
}
let failed = 0;
for (const bench of name === undefined ? all : [name]) {
  process.stdout.write(`== bench ${bench}\n`);
  const r = spawnSync(process.execPath, [join(here, `${bench}.js`), ...args], { stdio: "inherit" });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
