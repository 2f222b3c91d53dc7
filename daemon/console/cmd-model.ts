// `sealbox model …`: the signed model store.
//   sign FILE --authority-key KEY --licence L --source S [--name N] --out MANIFEST   (authority's offline machine)
//   import FILE --manifest MANIFEST [--state DIR]     verify, copy, store read-only (audited)
//   list | show REF [--verify] | remove REF           (remove audited)
//   make-demo OUT.gguf [--seed N] [--weights f32|q8_0]   a tiny random-weight model (answers are noise)

import { constants } from "node:fs";
import { open, rename, stat } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { SealboxError } from "../errors.js";
import { FHS_STATE_DIR } from "../config/types.js";
import { readAuthorityPrivateKey } from "../inference/authority.js";
import { hashFile } from "../inference/copy-hash.js";
import { serializeSignedManifest, signManifest, MANIFEST_FORMAT, type ModelManifest } from "../inference/manifest.js";
import { checkGguf, importModel } from "../inference/model-import.js";
import { listModels, pickModel, readStoredManifest, removeModel, unlinkIfThere, verifyModelFile, type StoredModel } from "../inference/models.js";
import { writeDemoGguf } from "../inference/demo-gguf.js";
import { report } from "./console-common.js";
import { cliActor, parseCommand, startCommandGroup, type CommandDeps } from "./cmd-authority.js";
import { defaultStateDir, findRunningDaemon, openCliAudit } from "./model-ledger.js";
import { SealboxClient } from "./client.js";
import { formatBytes, progressBar } from "./progress-bar.js";

const USAGE = `usage:
  sealbox model sign FILE --authority-key KEY --licence LICENCE --source SOURCE [--name NAME] --out MANIFEST [--force]
  sealbox model import FILE --manifest MANIFEST [--state DIR]
  sealbox model list [--state DIR]
  sealbox model show REF [--verify] [--state DIR]
  sealbox model remove REF [--state DIR]
  sealbox model make-demo OUT.gguf [--seed N] [--weights f32|q8_0]
  (each takes --json for one JSON object on stdout)

REF is a model's SHA-256, a unique prefix of it (6+ hex digits) or its name.
'sign' runs on the site authority's offline machine; 'import' on the box,
which must trust the authority (sealbox authority add). --state defaults to
$SEALBOX_STATE, else ${FHS_STATE_DIR}. While the daemon runs, 'import' goes
through it (technician socket) and 'remove' refuses (the daemon owns the
ledger). docs/models.md describes the manifest format.
'make-demo' writes a tiny random-weight llama GGUF whose answers are noise
(seed 0–4294967295, default 1). --weights f32 (the default, 512 KiB) or q8_0
(ggml's 8-bit blocks, as quantized real models are stored: about 144 KiB).
`;

const DEMO_WEIGHTS = ["f32", "q8_0"] as const;
type DemoWeights = (typeof DEMO_WEIGHTS)[number];

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new SealboxError("BAD_ARGUMENT", `expected one ${what}, got ${positionals.length} (see: sealbox model --help)`);
  return positionals[0]!;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new SealboxError("BAD_ARGUMENT", `--${flag} is required (see: sealbox model --help)`);
  return value;
}

function describe(m: StoredModel): Record<string, unknown> {
  return {
    sha256: m.sha256,
    name: m.manifest?.name ?? null,
    sizeBytes: m.manifest?.sizeBytes ?? null,
    licence: m.manifest?.licence ?? null,
    source: m.manifest?.source ?? null,
    fileName: m.manifest?.fileName ?? null,
    signedAt: m.manifest?.signedAt ?? null,
    authority: m.authority,
    path: m.path,
    manifestPath: m.manifestPath,
    trusted: m.problem === null,
    problem: m.problem,
  };
}

/** Writes MANIFEST: refuses to replace a file unless force, and never leaves half a file. */
async function writeManifestFile(path: string, data: Buffer, force: boolean): Promise<void> {
  if (!force && (await stat(path).catch(() => undefined))) throw new SealboxError("BAD_ARGUMENT", `${path} exists (use --force to replace it)`);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlinkIfThere(tmp);
    throw e;
  }
}

export async function run(argv: string[], deps: CommandDeps): Promise<number> {
  const g = startCommandGroup(argv, deps, USAGE);
  if (g.helpExit !== undefined) return g.helpExit;
  const { sub, rest, out } = g;
  try {
    switch (sub) {
      case "sign": {
        const { values, positionals } = parseCommand(rest, {
          "authority-key": { type: "string" },
          out: { type: "string" },
          name: { type: "string" },
          licence: { type: "string" },
          source: { type: "string" },
          force: { type: "boolean" },
        });
        g.json = values.json === true;
        const file = one(positionals, "model file");
        const keyPath = required(values["authority-key"], "authority-key");
        const outPath = required(values.out, "out");
        const licence = required(values.licence, "licence");
        const source = required(values.source, "source");
        const key = await readAuthorityPrivateKey(keyPath);
        await checkGguf(file);
        const bar = progressBar(deps.stderr, "hashing");
        const h = await hashFile(file, (p) => bar.update(p.doneBytes, p.totalBytes)).finally(() => bar.done());
        const manifest: ModelManifest = {
          format: MANIFEST_FORMAT,
          name: values.name ?? basename(file).replace(/\.gguf$/i, ""),
          sha256: h.sha256,
          sizeBytes: h.sizeBytes,
          licence,
          source,
          fileName: basename(file),
          signedAt: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        };
        const signed = signManifest(manifest, key);
        await writeManifestFile(outPath, serializeSignedManifest(signed), values.force === true);
        out(`signed ${manifest.name}: ${h.sha256} (${formatBytes(h.sizeBytes)}) by authority key ${signed.signature.keyId.slice(0, 16)}…\nmanifest: ${outPath}\n`, {
          manifestPath: outPath,
          ...signed,
        });
        return 0;
      }
      case "import": {
        const { values, positionals } = parseCommand(rest, { manifest: { type: "string" }, state: { type: "string" } });
        g.json = values.json === true;
        const file = one(positionals, "model file");
        const manifestPath = required(values.manifest, "manifest");
        const { stateDir, given } = defaultStateDir(values.state, FHS_STATE_DIR);
        const daemon = await findRunningDaemon(given);
        if (daemon) {
          // The daemon owns the ledger: it imports (its model.import method, technician role).
          const r = await new SealboxClient(daemon).call("model.import", { path: resolve(file), manifestPath: resolve(manifestPath) });
          out(`${r.alreadyPresent ? "already imported" : "imported"} ${String(r.name)}: ${String(r.sha256)}, signed by ${String(r.authority)} (through the daemon on ${daemon})\naudit record #${String(r.seq)}\n`, { ...r, via: daemon });
          return 0;
        }
        const { audit, close } = await deps.openAudit(stateDir, given);
        const bar = progressBar(deps.stderr, "importing");
        try {
          const r = await importModel({ stateDir, filePath: file, manifestPath, audit, actor: cliActor(), onProgress: (p) => bar.update(p.doneBytes, p.totalBytes) });
          bar.done();
          out(
            `${r.alreadyPresent ? "already imported" : "imported"} ${r.manifest.name}: ${r.sha256} (${formatBytes(r.manifest.sizeBytes)}), signed by ${r.authority.name}\nstored: ${r.path}\naudit record #${r.seq}\n`,
            { sha256: r.sha256, name: r.manifest.name, sizeBytes: r.manifest.sizeBytes, path: r.path, authority: r.authority, alreadyPresent: r.alreadyPresent, seq: r.seq },
          );
          return 0;
        } finally {
          bar.done();
          await close();
        }
      }
      case "list": {
        const { values, positionals } = parseCommand(rest, { state: { type: "string" } });
        g.json = values.json === true;
        if (positionals.length > 0) throw new SealboxError("BAD_ARGUMENT", "model list takes no arguments");
        const models = await listModels(defaultStateDir(values.state, FHS_STATE_DIR).stateDir);
        const lines = models.map((m) => {
          const row = `${m.sha256.slice(0, 12)}  ${(m.manifest?.name ?? "?").padEnd(32)} ${formatBytes(m.manifest?.sizeBytes ?? 0).padStart(10)}  ${(m.manifest?.licence ?? "?").padEnd(16)} ${m.authority?.name ?? "-"}`;
          return m.problem ? `${row}\n              REFUSED: ${m.problem}` : row;
        });
        out(models.length === 0 ? "no models imported\n" : `${"SHA-256".padEnd(12)}  ${"NAME".padEnd(32)} ${"SIZE".padStart(10)}  ${"LICENCE".padEnd(16)} AUTHORITY\n${lines.join("\n")}\n`, {
          models: models.map(describe),
        });
        return 0;
      }
      case "show": {
        const { values, positionals } = parseCommand(rest, { state: { type: "string" }, verify: { type: "boolean" } });
        g.json = values.json === true;
        const { stateDir } = defaultStateDir(values.state, FHS_STATE_DIR);
        const m = pickModel(await listModels(stateDir), one(positionals, "model reference"));
        let verified: boolean | null = null;
        if (values.verify) {
          await verifyModelFile(m.path, m.sha256);
          verified = true;
        }
        const d = describe(m);
        const human = [
          `sha256:    ${m.sha256}`,
          `name:      ${d.name ?? "?"}`,
          `size:      ${m.manifest ? `${m.manifest.sizeBytes} bytes (${formatBytes(m.manifest.sizeBytes)})` : "?"}`,
          `licence:   ${d.licence ?? "?"}`,
          `source:    ${d.source ?? "?"}`,
          `file name: ${d.fileName ?? "?"}`,
          `signed at: ${d.signedAt ?? "?"}`,
          `authority: ${m.authority ? `${m.authority.name} (${m.authority.keyId})` : "not trusted"}`,
          `stored:    ${m.path}`,
          `status:    ${m.problem ? `REFUSED: ${m.problem}` : "trusted"}${verified ? "; file hash verified" : ""}`,
        ];
        out(human.join("\n") + "\n", { ...d, verified, manifest: m.manifest ? await readStoredManifest(stateDir, m.sha256) : null });
        return 0;
      }
      case "remove": {
        const { values, positionals } = parseCommand(rest, { state: { type: "string" } });
        g.json = values.json === true;
        const ref = one(positionals, "model reference");
        const { stateDir, given } = defaultStateDir(values.state, FHS_STATE_DIR);
        const { audit, close } = await deps.openAudit(stateDir, given);
        try {
          const r = await removeModel(stateDir, ref, { audit, actor: cliActor() });
          out(`removed ${r.name}: ${r.sha256}; audit record #${r.seq}\n`, r);
          return 0;
        } finally {
          await close();
        }
      }
      case "make-demo": {
        const { values, positionals } = parseCommand(rest, { seed: { type: "string" }, weights: { type: "string" } });
        g.json = values.json === true;
        const outPath = one(positionals, "output file");
        const seedText = values.seed ?? "1";
        if (!/^\d{1,10}$/.test(seedText) || Number(seedText) > 0xffffffff) throw new SealboxError("BAD_ARGUMENT", `--seed: expected a whole number 0–4294967295, got '${seedText}'`);
        const weights = values.weights ?? "f32";
        if (!(DEMO_WEIGHTS as readonly string[]).includes(weights)) throw new SealboxError("BAD_ARGUMENT", `--weights: expected ${DEMO_WEIGHTS.join(" or ")}, got '${weights}' (see: sealbox model --help)`);
        const info = await writeDemoGguf(outPath, { seed: Number(seedText), weights: weights as DemoWeights });
        out(`wrote ${outPath}: ${info.sha256} (${formatBytes(info.sizeBytes)}), seed ${seedText}, ${weights} weights\nits weights are random: its answers are noise (for tests and demonstrations only)\n`, {
          path: outPath,
          seed: Number(seedText),
          weights,
          ...info,
        });
        return 0;
      }
      default:
        throw new SealboxError("BAD_ARGUMENT", `unknown model command '${sub}' (see: sealbox model --help)`);
    }
  } catch (e) {
    return report(e, g.json, deps.stdout, deps.stderr);
  }
}

export async function main(argv: string[]): Promise<number> {
  return run(argv, { openAudit: openCliAudit, stdout: process.stdout, stderr: process.stderr });
}
