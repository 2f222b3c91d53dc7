// Whether a module was started as the program (`node file.js`) rather than
// imported: its file is process.argv[1], links resolved (bin/ scripts and the
// .deb start the compiled files through symlinks).

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

export function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
