// Which TPM `./build.sh run` uses: the box's own (/dev/tpmrm0) when there is
// one, else a software TPM (swtpm) that sealbox starts itself with its state
// in VAR/tpm — and it says which, plainly, because a software TPM is no
// hardware root of trust.

import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { SealboxError } from "../errors.js";

export interface DevTpmChoice {
  spec: string;
  hardware: boolean;
  /** One line for the person starting the box. */
  message: string;
}

async function exists(path: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

async function onPath(binary: string, pathEnv: string | undefined): Promise<boolean> {
  for (const dir of (pathEnv ?? "").split(delimiter)) if (dir !== "" && (await exists(join(dir, binary), constants.X_OK))) return true;
  return false;
}

export async function chooseDevTpm(varDir: string, options: { devicePath?: string; pathEnv?: string } = {}): Promise<DevTpmChoice> {
  const device = options.devicePath ?? "/dev/tpmrm0";
  if (await exists(device)) {
    return { spec: `device:${device}`, hardware: true, message: `using the hardware TPM at ${device}` };
  }
  if (await onPath("swtpm", options.pathEnv ?? process.env.PATH)) {
    const dir = join(varDir, "tpm");
    return {
      spec: `swtpm-pipe:${dir}`,
      hardware: false,
      message: `no ${device} here: using a SOFTWARE TPM (swtpm) with its state in ${dir} — for development only, it is not a hardware root of trust`,
    };
  }
  throw new SealboxError("TPM_UNAVAILABLE", `no ${device} and no swtpm on PATH: install swtpm (Debian: swtpm swtpm-tools) or provision a software key`);
}

/** chooseDevTpm, or undefined when there is no TPM of either kind (the caller falls back to a software key). */
export async function devTpm(varDir: string): Promise<DevTpmChoice | undefined> {
  try {
    return await chooseDevTpm(varDir);
  } catch (e) {
    if (e instanceof SealboxError && e.code === "TPM_UNAVAILABLE") return undefined;
    throw e;
  }
}

/** First run of a development box: its box id, and a TPM-sealed key in the chosen TPM. Returns the vkey. */
export async function provisionDevTpmKey(varDir: string, choice: DevTpmChoice): Promise<string> {
  const { ensureBox } = await import("../box.js");
  const { openTpmTransport } = await import("../../hal/tpm/transport/open.js");
  const { provisionTpmKey } = await import("./tpm-key.js");
  const box = await ensureBox(varDir);
  const transport = await openTpmTransport(choice.spec);
  try {
    return (await provisionTpmKey(varDir, transport, { name: `sealbox.local/${box.box_id}` })).vkey;
  } finally {
    await transport.close();
  }
}
