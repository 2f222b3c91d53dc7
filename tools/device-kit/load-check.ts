// The kit's quick smoke check, before anything long runs: every compiled
// module in the kit loads (so every package they import is in the kit), and
// the ledger that bench/inference.js needs works here — LMDB's native module
// loads, a software key is provisioned, one record is appended durably and
// signed, and it reads back. Prints one JSON line; exits non-zero on failure.
//
//   node load-check.js            (from the kit's app/tools/device-kit/)

import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { openSigner, provisionSoftwareKey } from "../../daemon/keys/key-store.js";
import { openLedger } from "../../daemon/ledger/ledger.js";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Library modules only: the entry scripts (bench/, tools/) run their main on import. */
async function libraryModules(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await libraryModules(p)));
    else if (e.name.endsWith(".js")) out.push(p);
  }
  return out.sort();
}

async function main(): Promise<void> {
  const modules = await libraryModules(join(appDir, "daemon"));
  for (const m of modules) await import(pathToFileURL(m).href);
  const llama = await import("node-llama-cpp");
  const lmdb = await import("lmdb");

  const dir = await mkdtemp(join(tmpdir(), "sealbox-kit-load-"));
  try {
    await provisionSoftwareKey(dir);
    const signer = await openSigner(dir);
    try {
      const ledger = await openLedger({ stateDir: dir, signer });
      try {
        const receipt = await ledger.append({
          actor: { role: "operator", transport: "internal", peer: "-" },
          category: "bench",
          action: "device-kit.load-check",
          target: "-",
          outcome: "info",
          details: { node: process.version },
        });
        process.stdout.write(
          JSON.stringify({
            modules: modules.length,
            node: process.version,
            nodeLlamaCppExports: Object.keys(llama).length,
            lmdbOpen: typeof lmdb.open,
            ledgerSeq: receipt.seq,
            ledgerSize: ledger.size(),
          }) + "\n",
        );
      } finally {
        await ledger.close();
      }
    } finally {
      await signer.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
