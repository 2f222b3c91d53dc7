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
