// The verify path must run on an auditor's machine with nothing but the
// bundle: no LMDB, no ledger store, no daemon. Walk its compiled import graph.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

function graph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, "utf8");
    for (const m of src.matchAll(/(?:import|export)[^"']*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
      const spec = m[1] ?? m[2]!;
      if (spec.startsWith(".")) visit(resolve(dirname(file), spec));
      else seen.add(`pkg:${spec}`);
    }
  };
  visit(entry);
  return seen;
}

const dist = (rel: string): string => fileURLToPath(new URL(`../../../${rel}`, import.meta.url));

for (const entry of ["daemon/ledger/verify.js", "daemon/console/cmd-verify.js"]) {
  test(`${entry} imports no storage`, () => {
    const files = [...graph(dist(entry))];
    assert.ok(files.length > 5, "the graph was walked");
    const storage = files.filter((f) => f === "pkg:lmdb" || f.endsWith("/ledger/store.js") || f.endsWith("/ledger/ledger.js") || f.endsWith("/ledger/reader.js"));
    assert.deepEqual(storage, []);
  });
}
