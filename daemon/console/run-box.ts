// What `./build.sh run` execs: node dist/daemon/console/run-box.js VAR_DIR [sealboxd options]
// A development box on embedded defaults: VAR_DIR is created, given a box id
// and a signing key on first run — sealed in /dev/tpmrm0 when there is one,
// else in our own swtpm (state in VAR/tpm), else a SOFTWARE key; each said
// plainly, since only the first is hardware-protected — then the daemon starts with the demo model and
// `sealbox chat` opens on this terminal (run-chat.ts).

import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { readKeyInfo, provisionSoftwareKey } from "../keys/key-store.js";
import { SealboxError, toSealboxError } from "../errors.js";

async function run(argv: string[]): Promise<number> {
  const [varDir, ...rest] = argv;
  if (!varDir) {
    process.stderr.write("usage: run-box.js VAR_DIR [sealboxd options]\n");
    return 64;
  }
  const state = resolve(varDir);
  await mkdir(state, { recursive: true, mode: 0o750 });
  // The TPM: /dev/tpmrm0 when present, else our own swtpm with its state in VAR/tpm (said plainly).
  const { devTpm, provisionDevTpmKey } = await import("../keys/tpm-dev.js");
  const tpm = await devTpm(state);
  let info;
  try {
    info = await readKeyInfo(state);
  } catch (e) {
    if (toSealboxError(e).code !== "KEY_UNAVAILABLE") throw e;
    if (tpm) {
      await provisionDevTpmKey(state, tpm);
      info = await readKeyInfo(state);
      process.stderr.write(`run-box: created ${state} with a new box id and a TPM-sealed signing key\n`);
    } else {
      info = (await provisionSoftwareKey(state)).info;
      process.stderr.write(`run-box: created ${state} with a new box id and a SOFTWARE signing key (no TPM and no swtpm here)\n`);
    }
  }
  if (info.origin === "tpm") {
    if (!tpm) throw new SealboxError("TPM_UNAVAILABLE", `${state} holds a TPM-sealed key, but there is no /dev/tpmrm0 and no swtpm here`);
    process.stderr.write(`run-box: ${tpm.message}\nrun-box: key: ${info.vkey}\n`);
    rest.push("--tpm", tpm.spec);
  }
  if (info.origin === "software") {
    process.stderr.write(
      [
        "run-box: this box signs its audit log with a SOFTWARE key (development only):",
        `run-box:   the private key is a file in ${state}/keys, not sealed in a TPM.`,
        `run-box: key: ${info.vkey}`,
        "",
      ].join("\n"),
    );
  }
  // The daemon in the background (demo model, log in VAR/sealboxd.log), and `sealbox chat` on this terminal.
  return (await import("./run-chat.js")).runDaemonAndChat(state, rest);
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = toSealboxError(e);
    process.stderr.write(`run-box: ${err.message} (${err.code})\n`);
    process.exit(err.spec.exitCode);
  },
);
