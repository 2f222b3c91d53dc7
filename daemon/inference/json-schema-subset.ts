// The subset of JSON Schema that node-llama-cpp turns into a grammar
// (GbnfJsonSchema in its utils/gbnfJson/types.d.ts), checked strictly before
// it gets there. node-llama-cpp itself accepts anything: an unknown type or a
// misspelt keyword silently becomes a grammar for `null` or "any value", and
// the caller would believe their answer was constrained when it was not. Here
// an unknown keyword or a malformed value is BAD_REQUEST naming its path.
// Bounded in depth, node count and size, as it comes from the network.

import { SealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import { canonicalJson } from "./provenance.js";

export const MAX_SCHEMA_DEPTH = 32;
export const MAX_SCHEMA_NODES = 2000;
export const MAX_SCHEMA_BYTES = 16 * 1024;

const BASIC_TYPES = new Set(["string", "number", "integer", "boolean", "null"]);
const FORMATS = new Set(["date-time", "time", "date"]);

type Obj = { [key: string]: JsonValue };

function bad(path: string, message: string): SealboxError {
  return new SealboxError("BAD_REQUEST", `jsonSchema${path}: ${message}`, { details: { field: `jsonSchema${path}` } });
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isScalar(v: unknown): boolean {
  return v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
}

function only(o: Obj, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw bad(path, `keyword "${k}" is not supported here (supported: ${allowed.join(", ")})`);
}

function count(o: Obj, key: string, path: string): void {
  const v = o[key];
  if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 1_000_000)) throw bad(`${path}.${key}`, "must be a non-negative integer");
}

class Checker {
  private nodes = 0;

  check(s: JsonValue | undefined, path: string, depth: number, defs: ReadonlySet<string>): void {
    if (++this.nodes > MAX_SCHEMA_NODES) throw bad("", `more than ${MAX_SCHEMA_NODES} schema nodes`);
    if (depth > MAX_SCHEMA_DEPTH) throw bad(path, `nested deeper than ${MAX_SCHEMA_DEPTH}`);
    if (!isObj(s)) throw bad(path, "must be an object");
    if (s.description !== undefined && typeof s.description !== "string") throw bad(`${path}.description`, "must be a string");

    // $defs may appear on oneOf, object, array and $ref schemas; names are visible below.
    let scope = defs;
    if (s.$defs !== undefined) {
      if (!isObj(s.$defs)) throw bad(`${path}.$defs`, "must be an object of schemas");
      scope = new Set([...defs, ...Object.keys(s.$defs)]);
      for (const [k, d] of Object.entries(s.$defs)) this.check(d, `${path}.$defs.${k}`, depth + 1, scope);
    }

    if ("const" in s) {
      only(s, path, ["const", "description"]);
      if (!isScalar(s.const)) throw bad(`${path}.const`, "must be a string, number, boolean or null");
    } else if ("enum" in s) {
      only(s, path, ["enum", "description"]);
      if (!Array.isArray(s.enum) || s.enum.length === 0 || !s.enum.every(isScalar)) throw bad(`${path}.enum`, "must be a non-empty array of strings, numbers, booleans or null");
    } else if ("oneOf" in s) {
      only(s, path, ["oneOf", "description", "$defs"]);
      if (!Array.isArray(s.oneOf) || s.oneOf.length === 0) throw bad(`${path}.oneOf`, "must be a non-empty array of schemas");
      s.oneOf.forEach((x, i) => this.check(x, `${path}.oneOf[${i}]`, depth + 1, scope));
    } else if ("$ref" in s) {
      only(s, path, ["$ref", "description", "$defs"]);
      const ref = s.$ref;
      if (typeof ref !== "string" || !ref.startsWith("#/$defs/") || !scope.has(ref.slice("#/$defs/".length))) {
        throw bad(`${path}.$ref`, `must be "#/$defs/NAME" for a NAME defined in an enclosing $defs, got ${JSON.stringify(ref)}`);
      }
    } else if (s.type === "object") {
      only(s, path, ["type", "properties", "additionalProperties", "minProperties", "maxProperties", "required", "description", "$defs"]);
      if (s.properties !== undefined) {
        if (!isObj(s.properties)) throw bad(`${path}.properties`, "must be an object of schemas");
        for (const [k, p] of Object.entries(s.properties)) this.check(p, `${path}.properties.${k}`, depth + 1, scope);
      }
      const ap = s.additionalProperties;
      if (ap !== undefined && typeof ap !== "boolean") this.check(ap, `${path}.additionalProperties`, depth + 1, scope);
      count(s, "minProperties", path);
      count(s, "maxProperties", path);
      if (s.required !== undefined) {
        const props = isObj(s.properties) ? s.properties : {};
        if (!Array.isArray(s.required) || !s.required.every((r) => typeof r === "string" && r in props)) {
          throw bad(`${path}.required`, "must be an array of names from properties");
        }
      }
    } else if (s.type === "array") {
      only(s, path, ["type", "items", "prefixItems", "minItems", "maxItems", "description", "$defs"]);
      if (s.items !== undefined) this.check(s.items, `${path}.items`, depth + 1, scope);
      if (s.prefixItems !== undefined) {
        if (!Array.isArray(s.prefixItems)) throw bad(`${path}.prefixItems`, "must be an array of schemas");
        s.prefixItems.forEach((x, i) => this.check(x, `${path}.prefixItems[${i}]`, depth + 1, scope));
      }
      count(s, "minItems", path);
      count(s, "maxItems", path);
    } else if (s.type === "string") {
      only(s, path, ["type", "minLength", "maxLength", "format", "description"]);
      count(s, "minLength", path);
      count(s, "maxLength", path);
      if (s.format !== undefined && (typeof s.format !== "string" || !FORMATS.has(s.format))) throw bad(`${path}.format`, `must be one of ${[...FORMATS].join(", ")}`);
      if (s.format !== undefined && (s.minLength !== undefined || s.maxLength !== undefined)) throw bad(path, "format cannot be combined with minLength/maxLength");
    } else if ("type" in s) {
      only(s, path, ["type", "description"]);
      const types = Array.isArray(s.type) ? s.type : [s.type];
      if (types.length === 0 || !types.every((t) => typeof t === "string" && BASIC_TYPES.has(t))) {
        throw bad(`${path}.type`, `must be object, array, or one or more of ${[...BASIC_TYPES].join(", ")}`);
      }
    } else {
      throw bad(path, "needs one of type, const, enum, oneOf or $ref");
    }
  }
}

/** Checks a JSON schema against the supported subset; returns it unchanged. */
export function checkJsonSchema(schema: unknown): JsonValue {
  let size: number;
  try {
    size = Buffer.byteLength(canonicalJson(schema as JsonValue));
  } catch {
    throw bad("", "must be plain JSON");
  }
  if (size > MAX_SCHEMA_BYTES) throw bad("", `is ${size} bytes, more than ${MAX_SCHEMA_BYTES}`);
  new Checker().check(schema as JsonValue, "", 0, new Set());
  return schema as JsonValue;
}
