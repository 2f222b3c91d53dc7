import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { checkJsonSchema, MAX_SCHEMA_DEPTH, MAX_SCHEMA_NODES } from "../../../daemon/inference/json-schema-subset.js";

const isBad = (path?: string) => (e: unknown) => isSealboxError(e, "BAD_REQUEST") && (path === undefined || e.details?.field === `jsonSchema${path}`);

describe("checkJsonSchema", () => {
  it("accepts the supported subset", () => {
    const ok = [
      { type: "string" },
      { type: ["string", "null"], description: "x" },
      { type: "string", format: "date-time" },
      { type: "string", minLength: 1, maxLength: 9 },
      { const: 3 },
      { enum: ["a", 1, true, null] },
      { oneOf: [{ type: "number" }, { type: "null" }] },
      {
        type: "object",
        properties: { a: { type: "integer" }, b: { type: "array", items: { $ref: "#/$defs/t" }, minItems: 1 } },
        required: ["a"],
        additionalProperties: false,
        $defs: { t: { type: "boolean" } },
      },
      { type: "array", prefixItems: [{ type: "string" }], items: { type: "number" }, maxItems: 3 },
      { type: "object", additionalProperties: { type: "string" } },
    ];
    for (const s of ok) assert.deepEqual(checkJsonSchema(s), s, JSON.stringify(s));
  });

  it("refuses what node-llama-cpp would silently ignore or misread, naming the path", () => {
    const cases: [unknown, string][] = [
      [5, ""],
      [null, ""],
      [{}, ""],
      [{ type: "no-such-type" }, ".type"],
      [{ type: [] }, ".type"],
      [{ type: "string", pattern: "^a" }, ""],
      [{ type: "string", format: "email" }, ".format"],
      [{ type: "string", format: "date", maxLength: 3 }, ""],
      [{ type: "string", maxLength: -1 }, ".maxLength"],
      [{ type: "object", properties: 5 }, ".properties"],
      [{ type: "object", properties: { a: { type: "x" } } }, ".properties.a.type"],
      [{ type: "object", properties: { a: { type: "string" } }, required: ["b"] }, ".required"],
      [{ type: "array", items: "x" }, ".items"],
      [{ type: "array", prefixItems: {} }, ".prefixItems"],
      [{ enum: [] }, ".enum"],
      [{ enum: [{}] }, ".enum"],
      [{ const: [1] }, ".const"],
      [{ oneOf: 3 }, ".oneOf"],
      [{ $ref: "#/nope" }, ".$ref"],
      [{ $ref: "#/$defs/missing" }, ".$ref"],
      [{ type: "object", $defs: 3 }, ".$defs"],
      [{ type: "number", description: 7 }, ".description"],
    ];
    for (const [s, path] of cases) assert.throws(() => checkJsonSchema(s), isBad(path), JSON.stringify(s));
  });

  it("bounds depth, node count and size", () => {
    let deep: unknown = { type: "string" };
    for (let i = 0; i <= MAX_SCHEMA_DEPTH; i++) deep = { type: "array", items: deep };
    assert.throws(() => checkJsonSchema(deep), /deeper than/);
    const wide = { oneOf: Array.from({ length: MAX_SCHEMA_NODES + 1 }, () => ({ type: "null" })) };
    assert.throws(() => checkJsonSchema(wide), (e: unknown) => isSealboxError(e, "BAD_REQUEST"));
    assert.throws(() => checkJsonSchema({ enum: ["x".repeat(20_000)] }), /bytes/);
    let veryDeep: unknown = 1;
    for (let i = 0; i < 100_000; i++) veryDeep = [veryDeep];
    assert.throws(() => checkJsonSchema(veryDeep), (e: unknown) => isSealboxError(e, "BAD_REQUEST"));
  });
});
