// The few fields a syslog header needs, read straight from a record's JSON
// bytes: the receiver writes one syslog line per verified entry, and parsing
// every record into objects (JSON.parse) was a tenth of its main thread at
// 100 Mb/s. This scanner walks the top level once, decodes only the strings
// it wants, and skips everything else (the details) without building it.
//
// It answers only when it can answer exactly as JSON.parse would: any input it
// is not sure of (a wanted field that is not a string, a syntax error, an
// escape in a skipped string) returns undefined and the caller parses the
// record the ordinary way. Pure.

export type SyslogFields = {
  action?: string;
  box?: string;
  category?: string;
  outcome?: string;
  target?: string;
  time?: string;
  role?: string;
  transport?: string;
  peer?: string;
};

const TOP = new Set(["action", "box", "category", "outcome", "target", "time"]);
const ACTOR = new Set(["role", "transport", "peer"]);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

class Unsure extends Error {}
const unsure = (): never => {
  throw new Unsure();
};

class Scanner {
  i = 0;
  constructor(private readonly b: Buffer) {}

  ws(): void {
    const b = this.b;
    while (this.i < b.length) {
      const c = b[this.i]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.i++;
    }
  }

  peek(): number {
    this.ws();
    return this.i < this.b.length ? this.b[this.i]! : -1;
  }

  expect(c: number): void {
    if (this.peek() !== c) unsure();
    this.i++;
  }

  /** A string at i (after whitespace); decoded when wanted, else only validated. */
  string(decode: boolean): string | undefined {
    this.expect(QUOTE);
    const b = this.b;
    const start = this.i;
    let escaped = false;
    for (;;) {
      if (this.i >= b.length) unsure();
      const c = b[this.i]!;
      if (c === QUOTE) break;
      if (c < 0x20) unsure(); // a raw control character: JSON.parse refuses the record
      if (c === BACKSLASH) {
        escaped = true;
        this.i++;
      }
      this.i++;
    }
    const end = this.i++;
    if (!escaped) return decode ? b.toString("utf8", start, end) : undefined;
    // Escapes are rare in records: let JSON.parse both check and decode them.
    let s: unknown;
    try {
      s = JSON.parse(b.toString("utf8", start - 1, end + 1));
    } catch {
      unsure();
    }
    return decode ? (s as string) : undefined;
  }

  /** Skips any value, checking it as strictly as JSON.parse would. */
  skipValue(): void {
    const c = this.peek();
    if (c === QUOTE) {
      this.string(false);
      return;
    }
    if (c === 0x7b || c === 0x5b) {
      this.container(c === 0x7b, () => this.skipValue());
      return;
    }
    const start = this.i;
    while (this.i < this.b.length) {
      const d = this.b[this.i]!;
      if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
      this.i++;
    }
    const token = this.b.toString("latin1", start, this.i);
    if (token !== "true" && token !== "false" && token !== "null" && !NUMBER.test(token)) unsure();
  }

  /** An object's members (each value through onValue after its key) or an array's items. */
  container(isObject: boolean, onValue: (key?: string) => void): void {
    const close = isObject ? 0x7d : 0x5d;
    this.i++;
    if (this.peek() === close) {
      this.i++;
      return;
    }
    for (;;) {
      if (isObject) {
        const key = this.string(true);
        this.expect(0x3a);
        onValue(key);
      } else onValue();
      const c = this.peek();
      this.i++;
      if (c === close) return;
      if (c !== 0x2c) unsure();
    }
  }
}

/**
 * The syslog header fields of a record's JSON bytes (valid UTF-8), or
 * undefined when the record should be parsed the ordinary way instead.
 */
export function scanSyslogFields(bytes: Buffer): SyslogFields | undefined {
  const s = new Scanner(bytes);
  const out: SyslogFields = {};
  try {
    if (s.peek() !== 0x7b) return undefined;
    s.container(true, (key) => {
      if (key !== undefined && TOP.has(key)) {
        if (s.peek() !== QUOTE) unsure();
        out[key as keyof SyslogFields] = s.string(true);
      } else if (key === "actor") {
        // A later "actor" replaces an earlier one whole, as in JSON.parse.
        delete out.role;
        delete out.transport;
        delete out.peer;
        if (s.peek() !== 0x7b) unsure();
        s.container(true, (k) => {
          if (k !== undefined && ACTOR.has(k)) {
            if (s.peek() !== QUOTE) unsure();
            out[k as keyof SyslogFields] = s.string(true);
          } else s.skipValue();
        });
      } else s.skipValue();
    });
    if (s.peek() !== -1) return undefined;
    return out;
  } catch (e) {
    // RangeError: nesting deeper than this recursive walk goes (JSON.parse is iterative).
    if (e instanceof Unsure || e instanceof RangeError) return undefined;
    throw e;
  }
}
