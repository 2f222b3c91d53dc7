import assert from "node:assert/strict";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { chooseDevTpm } from "../../../daemon/keys/tpm-dev.js";
import { makeTempDir } from "../../helpers/swtpm.js";

test("./build.sh run: the hardware TPM when present, else our own swtpm in VAR/tpm said plainly, else a clear error", async () => {
  const t = await makeTempDir();
  try {
    const dev = join(t.dir, "tpmrm0");
    const bin = join(t.dir, "bin");
    await mkdir(bin);
    const none = await chooseDevTpm("/var", { devicePath: dev, pathEnv: join(t.dir, "empty") }).catch((e: unknown) => e);
    assert.ok(isSealboxError(none, "TPM_UNAVAILABLE") && /install swtpm/.test((none as Error).message));
    await writeFile(join(bin, "swtpm"), "#!/bin/sh\n");
    await chmod(join(bin, "swtpm"), 0o755);
    const soft = await chooseDevTpm("/work/var", { devicePath: dev, pathEnv: bin });
    assert.deepEqual([soft.spec, soft.hardware], ["swtpm-pipe:/work/var/tpm", false]);
    assert.match(soft.message, /SOFTWARE TPM .* not a hardware root of trust/);
    await writeFile(dev, "");
    const hard = await chooseDevTpm("/work/var", { devicePath: dev, pathEnv: bin });
    assert.deepEqual([hard.spec, hard.hardware], [`device:${dev}`, true]);
  } finally {
    await t.cleanup();
  }
});
