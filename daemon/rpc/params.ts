// Typed readers for method parameters. Each names the parameter and says what
// it expected and what it got, so an integrator can fix a request from the
// error alone: `params.maxTokens: expected an integer from 1 to 4096, got "four"`.

import { SealboxError } from "../errors.js";
import type { JsonValue } from "../ledger/types.js";
import type { JsonObject } from "./ports.js";

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function badParam(name: string, expected: string, got: unknown): SealboxError {
  return new SealboxError("BAD_REQUEST", `params.${name}: expected ${expected}, got ${show(got)}`, {
    details: { param: name, expected },
  });
}

/** The params object itself; null and absent mean "no parameters". */
export function paramsObject(params: JsonValue | undefined): JsonObject {
  if (params === null || params === undefined) return {};
  if (typeof params !== "object" || Array.isArray(params)) {
    throw new SealboxError("BAD_REQUEST", `params: expected an object, got ${show(params)}`);
  }
  return params;
}

export function optString(p: JsonObject, name: string, maxLength = 1 << 20): string | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badParam(name, "a string", v);
  if (v.length > maxLength) throw badParam(name, `a string of at most ${maxLength} characters`, `${v.length} characters`);
  return v;
}

export function reqString(p: JsonObject, name: string, maxLength = 1 << 20): string {
  const v = optString(p, name, maxLength);
  if (v === undefined || v === "") throw badParam(name, "a non-empty string", p[name]);
  return v;
}

export function optInt(p: JsonObject, name: string, min: number, max: number): number | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw badParam(name, `an integer from ${min} to ${max}`, v);
  }
  return v;
}

export function reqInt(p: JsonObject, name: string, min: number, max: number): number {
  const v = optInt(p, name, min, max);
  if (v === undefined) throw badParam(name, `an integer from ${min} to ${max}`, undefined);
  return v;
}

export function optNumber(p: JsonObject, name: string, min: number, max: number): number | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw badParam(name, `a number from ${min} to ${max}`, v);
  }
  return v;
}

export function optBool(p: JsonObject, name: string): boolean | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badParam(name, "true or false", v);
  return v;
}

export function optStringArray(p: JsonObject, name: string, maxItems: number, maxLength = 1 << 20): string[] | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > maxItems) throw badParam(name, `an array of at most ${maxItems} strings`, v);
  v.forEach((item, i) => {
    if (typeof item !== "string" || item.length > maxLength) throw badParam(`${name}[${i}]`, "a string", item);
  });
  return v as string[];
}

export function optObject(p: JsonObject, name: string): JsonObject | undefined {
  const v = p[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw badParam(name, "an object", v);
  return v;
}

/** Rejects parameters the method does not know, so a typo is not silently ignored. */
export function onlyKeys(p: JsonObject, allowed: readonly string[]): void {
  for (const key of Object.keys(p)) {
    if (!allowed.includes(key)) {
      throw new SealboxError("BAD_REQUEST", `params.${key}: unknown parameter (known: ${allowed.join(", ") || "none"})`, {
        details: { param: key },
      });
    }
  }
}

/** The parser of a method that takes no parameters: any parameter is an error. */
export function noParams(p: JsonObject): Record<string, never> {
  onlyKeys(p, []);
  return {};
}
