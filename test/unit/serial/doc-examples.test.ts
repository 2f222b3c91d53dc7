// docs/serial-protocol.md must show what the code does: every worked example
// in it is regenerated here and compared byte for byte, and its error table
// must agree with the registry.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ERRORS, type ErrorCode } from "../../../daemon/errors.js";
import { buildDocExamples } from "../../helpers/serial-doc-examples.js";

const DOC = fileURLToPath(new URL("../../../../docs/serial-protocol.md", import.meta.url));

function docExamples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/<!-- example: ([\w-]+) -->\n```text\n([\s\S]*?)\n```/g)) out.set(m[1]!, m[2]!);
  return out;
}

const norm = (s: string): string => s.replace(/\s+/g, " ").trim();

test("every worked example in docs/serial-protocol.md is what the code produces", async () => {
  const doc = docExamples(await readFile(DOC, "utf8"));
  const made = await buildDocExamples();
  assert.deepEqual([...doc.keys()].sort(), Object.keys(made).sort(), "the document shows each generated example once");
  for (const [name, text] of Object.entries(made)) assert.equal(norm(doc.get(name)!), norm(text), `example ${name}`);
});

test("the document's table of serial error codes agrees with the registry", async () => {
  const text = await readFile(DOC, "utf8");
  const rows = [...text.matchAll(/^\| `([A-Z_]+)` \| (yes|no) \| (\d+) \|/gm)];
  const codes = rows.map((r) => r[1]!);
  for (const sent of ["UNAUTHENTICATED", "RATE_LIMITED", "UNSUPPORTED", "PROTOCOL_ERROR", "BAD_REQUEST", "TOO_LARGE", "BUSY", "CANCELLED", "DEADLINE", "INTERNAL"]) {
    assert.ok(codes.includes(sent), `${sent} is documented`);
  }
  for (const [, code, retryable, exit] of rows) {
    const spec = ERRORS[code as ErrorCode];
    assert.ok(spec, `${code} is in the registry`);
    assert.equal(retryable === "yes", spec.retryable, `${code} retryable`);
    assert.equal(Number(exit), spec.exitCode, `${code} exit code`);
  }
});
