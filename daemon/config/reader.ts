// A small, strict reader over one parsed TOML table. Each accessor consumes a
// key, checks its type and range, and records a problem naming the dotted key
// ("inference.threads: expected an integer ≥ 1, got \"four\"") instead of
// throwing, so one run of validation reports every problem at once. finish()
// reports the keys nobody consumed: an unknown key is an error, because a
// misspelt option silently falling back to its default is how appliances drift.

import { isAbsolute, resolve } from "node:path";

export type Problems = string[];

/** Describes a value for a message: strings quoted, tables and arrays by kind. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? value.slice(0, 77) + "…" : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  if (typeof value === "object" && value !== null) return "a table";
  return typeof value;
}

export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

export interface IntRange {
  min?: number;
  max?: number;
}

function rangeText(r: IntRange): string {
  if (r.min !== undefined && r.max !== undefined) return ` from ${r.min} to ${r.max}`;
  if (r.min !== undefined) return ` ≥ ${r.min}`;
  if (r.max !== undefined) return ` ≤ ${r.max}`;
  return "";
}

export class TableReader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly table: Record<string, unknown>,
    /** Dotted path of this table, "" at the top. */
    readonly path: string,
    readonly problems: Problems,
    /** Directory relative paths resolve against; undefined: relative paths are refused. */
    private readonly baseDir: string | undefined,
    /** Called with each key asked for (array indexes as "[]"): how tests list every known key. */
    private readonly onKey?: (dottedKey: string) => void,
  ) {}

  key(name: string): string {
    return this.path === "" ? name : `${this.path}.${name}`;
  }

  problem(name: string, text: string): void {
    this.problems.push(`${this.key(name)}: ${text}`);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.table, name);
  }

  raw(name: string): unknown {
    this.seen.add(name);
    this.onKey?.(this.key(name).replace(/\[\d+\]/g, "[]"));
    return Object.hasOwn(this.table, name) ? this.table[name] : undefined;
  }

  /** A sub-table; absent → an empty one (every key then takes its default). */
  section(name: string): TableReader {
    const v = this.raw(name);
    if (v === undefined) return new TableReader({}, this.key(name), this.problems, this.baseDir, this.onKey);
    if (!isTable(v)) {
      this.problem(name, `expected a table, got ${describe(v)}`);
      return new TableReader({}, this.key(name), this.problems, this.baseDir, this.onKey);
    }
    return new TableReader(v, this.key(name), this.problems, this.baseDir, this.onKey);
  }

  string(name: string, fallback: string, check?: { pattern: RegExp; what: string }): string {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (typeof v !== "string") {
      this.problem(name, `expected a string, got ${describe(v)}`);
      return fallback;
    }
    if (check && !check.pattern.test(v)) {
      this.problem(name, `expected ${check.what}, got ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  optionalString(name: string, check?: { pattern: RegExp; what: string }): string | undefined {
    if (this.raw(name) === undefined) return undefined;
    return this.string(name, "", check) || undefined;
  }

  int(name: string, fallback: number, range: IntRange = {}): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const ok = typeof v === "number" && Number.isSafeInteger(v) && (range.min === undefined || v >= range.min) && (range.max === undefined || v <= range.max);
    if (!ok) {
      this.problem(name, `expected an integer${rangeText(range)}, got ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  /** A number (TOML integer or float) within a range. */
  number(name: string, fallback: number, range: IntRange = {}): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const ok = typeof v === "number" && Number.isFinite(v) && (range.min === undefined || v >= range.min) && (range.max === undefined || v <= range.max);
    if (!ok) {
      this.problem(name, `expected a number${rangeText(range)}, got ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") {
      this.problem(name, `expected true or false, got ${describe(v)}`);
      return fallback;
    }
    return v;
  }

  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
      this.problem(name, `expected one of ${values.map((x) => JSON.stringify(x)).join(", ")}, got ${describe(v)}`);
      return fallback;
    }
    return v as T;
  }

  intOneOf<T extends number>(name: string, values: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !(values as readonly number[]).includes(v)) {
      this.problem(name, `expected one of ${values.join(", ")}, got ${describe(v)}`);
      return fallback;
    }
    return v as T;
  }

  /** An absolute path, or one relative to the config file's directory. */
  filePath(name: string, fallback: string): string {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (typeof v !== "string" || v === "" || v.includes("\0")) {
      this.problem(name, `expected a path, got ${describe(v)}`);
      return fallback;
    }
    if (isAbsolute(v)) return resolve(v);
    if (this.baseDir === undefined) {
      this.problem(name, `expected an absolute path, got ${describe(v)}`);
      return fallback;
    }
    return resolve(this.baseDir, v);
  }

  optionalPath(name: string): string | undefined {
    if (this.raw(name) === undefined) return undefined;
    const p = this.filePath(name, "");
    return p === "" ? undefined : p;
  }

  intList(name: string, fallback: number[], range: IntRange = {}): number[] {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isSafeInteger(x) && (range.min === undefined || x >= range.min) && (range.max === undefined || x <= range.max))) {
      this.problem(name, `expected an array of integers${rangeText(range)}, got ${Array.isArray(v) ? `[${v.map(describe).join(", ")}]` : describe(v)}`);
      return fallback;
    }
    const list = v as number[];
    if (new Set(list).size !== list.length) {
      this.problem(name, `expected distinct integers, got [${list.join(", ")}]`);
      return fallback;
    }
    return [...list].sort((a, b) => a - b);
  }

  /** An array of tables (TOML [[name]]). */
  tables(name: string): TableReader[] {
    const v = this.raw(name);
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.problem(name, `expected an array of tables ([[${this.key(name)}]]), got ${describe(v)}`);
      return [];
    }
    return v.flatMap((item, i) => {
      const at = `${this.key(name)}[${i}]`;
      if (!isTable(item)) {
        this.problems.push(`${at}: expected a table, got ${describe(item)}`);
        return [];
      }
      return [new TableReader(item, at, this.problems, this.baseDir, this.onKey)];
    });
  }

  /** Reports keys present in the table that no accessor asked for. */
  finish(): void {
    for (const k of Object.keys(this.table)) if (!this.seen.has(k)) this.problem(k, "unknown key");
  }
}
