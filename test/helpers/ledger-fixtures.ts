// Where the ledger's fixture files live, from compiled tests in dist/test/….

import { fileURLToPath } from "node:url";

/** Absolute path of test/fixtures/ledger/<rel> in the source tree. */
export function ledgerFixture(rel = ""): string {
  return fileURLToPath(new URL(`../../../test/fixtures/ledger/${rel}`, import.meta.url));
}
