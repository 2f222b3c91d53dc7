import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { isEntryPoint } from "../../daemon/entry-point.js";

test("isEntryPoint: true for the started file, through a symlink too; false when imported", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-entry-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const helper = pathToFileURL(join(import.meta.dirname, "..", "..", "daemon", "entry-point.js")).href;
  const program = join(dir, "program.mjs");
  await writeFile(program, `import { isEntryPoint } from ${JSON.stringify(helper)};\nconsole.log(isEntryPoint(import.meta.url));\n`);
  await writeFile(join(dir, "importer.mjs"), `import ${JSON.stringify(pathToFileURL(program).href)};\n`);
  await symlink(program, join(dir, "link.mjs"));
  const run = (file: string) => spawnSync(process.execPath, [join(dir, file)], { encoding: "utf8" }).stdout.trim();
  assert.equal(run("program.mjs"), "true");
  assert.equal(run("link.mjs"), "true");
  assert.equal(run("importer.mjs"), "false");
  assert.equal(isEntryPoint(pathToFileURL(join(dir, "no-such-file.mjs")).href), false);
});
