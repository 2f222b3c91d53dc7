// `sealboxd --demo-model`: a tiny random-weight model generated on the box
// (writeDemoGguf), so the daemon answers with no configuration and no model
// import — for scripts, tests and first contact. Its answers are noise, and
// the daemon says so: in its log at start and in every status.

import { access } from "node:fs/promises";
import { join } from "node:path";
import { writeDemoGguf } from "../inference/demo-gguf.js";
import { sha256File } from "../inference/model-file.js";
import type { Logger } from "../log.js";
import { DEMO_BANNER, type SlotModel } from "./inference-slot.js";

/** Where the demo model lives in the state directory. */
export function demoModelPath(stateDir: string): string {
  return join(stateDir, "models", "demo", "demo.gguf");
}

/** The demo model's file, generated if missing; its name, path and SHA-256. */
export async function prepareDemoModel(stateDir: string, log?: Logger): Promise<SlotModel & { path: string }> {
  const path = demoModelPath(stateDir);
  let sha256: string;
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  if (exists) {
    sha256 = await sha256File(path);
  } else {
    sha256 = (await writeDemoGguf(path)).sha256;
    log?.info("generated the demo model", { path, sha256 });
  }
  log?.warn(DEMO_BANNER, { sha256 });
  return { name: "demo", sha256, demo: true, path };
}
