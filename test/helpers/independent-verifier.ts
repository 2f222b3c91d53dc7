// An auditor's verifier written from docs/formats.md alone, with nothing but
// node:crypto and node:fs — no import from daemon/. The tests run it next to
// `sealbox verify` on real exports and tampered ones: if the two ever
// disagree, either the code or the specification is wrong.

import { createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const b64 = (s: string): Buffer => {
  const b = Buffer.from(s, "base64");
  if (b.toString("base64") !== s) throw new Error(`not canonical base64: ${s.slice(0, 20)}`);
  return b;
};
const leafHash = (d: Uint8Array): Buffer => sha256(Uint8Array.of(0), d);
const nodeHash = (l: Uint8Array, r: Uint8Array): Buffer => sha256(Uint8Array.of(1), l, r);

// --- section 3: vkey, signed note, checkpoint
interface Key {
  name: string;
  id: Buffer;
  pub: Buffer;
}
export function parseVkey(vkey: string): Key {
  const [name, idHex, ...rest] = vkey.split("+");
  const typed = b64(rest.join("+"));
  if (!name || typed[0] !== 0x01 || typed.length !== 33) throw new Error("bad vkey");
  const pub = typed.subarray(1);
  const id = sha256(Buffer.from(name), Uint8Array.of(0x0a, 0x01), pub).subarray(0, 4);
  if (id.toString("hex") !== idHex) throw new Error("vkey id mismatch");
  return { name, id, pub };
}
function openNote(note: string, key: Key): string {
  if (!note.endsWith("\n") || /[\x00-\x09\x0b-\x1f]/.test(note)) throw new Error("note: bad characters");
  const cut = note.lastIndexOf("\n\n");
  if (cut < 0) throw new Error("note: no signatures");
  const text = note.slice(0, cut + 1);
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), key.pub]);
  const pk = createPublicKey({ key: spki, format: "der", type: "spki" });
  let ok = 0;
  for (const line of note.slice(cut + 2, -1).split("\n")) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error("note: bad signature line");
    const blob = b64(m[2]!);
    if (m[1] !== key.name || !blob.subarray(0, 4).equals(key.id)) continue;
    if (!verify(null, Buffer.from(text), pk, blob.subarray(4))) throw new Error("note: signature does not verify");
    ok++;
  }
  if (ok === 0) throw new Error("note: not signed by the key");
  return text;
}
function parseCheckpoint(text: string): { origin: string; size: number; root: Buffer } {
  const [origin, size, root] = text.split("\n");
  if (!origin || !/^(0|[1-9]\d*)$/.test(size ?? "")) throw new Error("checkpoint: bad text");
  const r = b64(root!);
  if (r.length !== 32) throw new Error("checkpoint: root not 32 bytes");
  return { origin, size: Number(size), root: r };
}

// --- section 1: records
function jcs(v: unknown): string {
  if (v === null || typeof v !== "object") {
    if (typeof v === "number" && !Number.isFinite(v)) throw new Error("not JSON");
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(jcs).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${jcs(o[k])}`)
    .join(",")}}`;
}
const FIELDS = ["action", "actor", "box", "category", "details", "outcome", "seq", "target", "time", "v"];
function checkRecord(line: Buffer, seq: number, box: string): void {
  const text = new TextDecoder("utf-8", { fatal: true }).decode(line);
  const r = JSON.parse(text) as Record<string, unknown>;
  if (jcs(r) !== text) throw new Error(`record ${seq}: not canonical`);
  for (const k of Object.keys(r)) if (!FIELDS.includes(k)) throw new Error(`record ${seq}: field ${k}`);
  const a = r.actor as Record<string, unknown>;
  if (r.v !== 1 || r.seq !== seq || r.box !== box || typeof a !== "object" || typeof a.role !== "string" || typeof r.action !== "string") {
    throw new Error(`record ${seq}: bad fields (seq ${String(r.seq)})`);
  }
  if (!["requested", "success", "failure", "refused", "info"].includes(r.outcome as string)) throw new Error(`record ${seq}: outcome`);
  if (typeof r.time !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(r.time)) throw new Error(`record ${seq}: time`);
}

// --- section 5: compact ranges
function decompose(size: number): number[] {
  const levels: number[] = [];
  let p = 0;
  for (let l = 53; l >= 0; l--) if (p + 2 ** l <= size) (levels.push(l), (p += 2 ** l));
  return levels;
}
function decomposeRange(begin: number, end: number): number[] {
  const levels: number[] = [];
  for (let p = begin; p < end; ) {
    let l = 0;
    while (p % 2 ** (l + 1) === 0 && p + 2 ** (l + 1) <= end) l++;
    levels.push(l);
    p += 2 ** l;
  }
  return levels;
}
class Range {
  stack: { level: number; hash: Buffer }[] = [];
  constructor(public size: number) {}
  append(level: number, hash: Buffer): void {
    if (this.size % 2 ** level !== 0) throw new Error("misaligned subtree");
    const width = 2 ** level;
    while (this.stack.length && this.stack.at(-1)!.level === level) hash = nodeHash(this.stack.pop()!.hash, hash), level++;
    this.stack.push({ level, hash });
    this.size += width;
  }
  root(): Buffer {
    if (this.stack.length === 0) return sha256();
    let r = this.stack.at(-1)!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) r = nodeHash(this.stack[i]!.hash, r);
    return r;
  }
}

// RFC 9162 §2.1.4.2
function verifyConsistency(m: number, n: number, proof: Buffer[], r1: Buffer, r2: Buffer): void {
  if (m === n) {
    if (proof.length || !r1.equals(r2)) throw new Error("consistency: equal sizes");
    return;
  }
  if (m === 0) {
    if (proof.length || !r1.equals(sha256())) throw new Error("consistency: from 0");
    return;
  }
  if (!proof.length) throw new Error("consistency: empty proof");
  const path = (m & (m - 1)) === 0 ? [r1, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) (fn = Math.floor(fn / 2)), (sn = Math.floor(sn / 2));
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) throw new Error("consistency: too long");
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) (fn = Math.floor(fn / 2)), (sn = Math.floor(sn / 2));
    } else sr = nodeHash(sr, c);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0 || !fr.equals(r1) || !sr.equals(r2)) throw new Error("consistency: mismatch");
}

/** Verifies a bundle directory as docs/formats.md §5 says; throws on the first failure. */
export function independentVerify(dir: string, vkey: string, trustedNote?: string): { size: number; records: number } {
  const m = JSON.parse(readFileSync(join(dir, "bundle.json"), "utf8")) as Record<string, unknown>;
  if (m.format !== "sealbox-audit-bundle" || m.version !== 1) throw new Error("bundle.json: format");
  const [from, to, S] = [m.from, m.to, m.tree_size] as number[];
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && Number.isSafeInteger(S) && 0 <= from! && from! <= to! && to! <= S!)) throw new Error("bundle.json: range");
  const key = parseVkey(vkey);
  const cp = parseCheckpoint(openNote(new TextDecoder("utf-8", { fatal: true }).decode(readFileSync(join(dir, "checkpoint"))), key));
  if (cp.origin !== m.origin || cp.size !== S) throw new Error("checkpoint: origin or size");
  const left = (m.left as string[]).map(b64);
  const right = (m.right as string[]).map(b64);
  const leftLevels = decompose(from!);
  const rightLevels = decomposeRange(to!, S!);
  if (left.length !== leftLevels.length || right.length !== rightLevels.length || [...left, ...right].some((h) => h.length !== 32)) throw new Error("bundle.json: hashes");
  const range = new Range(0);
  leftLevels.forEach((l, i) => range.append(l, left[i]!));
  let trustedRoot: Buffer | undefined;
  const trusted = trustedNote === undefined ? undefined : parseCheckpoint(openNote(trustedNote, key));
  if (trusted && trusted.size === from && from === 0) trustedRoot = range.root();
  const data = readFileSync(join(dir, "records.jsonl"));
  let seq = from!;
  let start = 0;
  while (start < data.length) {
    const nl = data.indexOf(0x0a, start);
    if (nl < 0) throw new Error(`record ${seq}: no newline`);
    const line = data.subarray(start, nl);
    if (line.length > 65536) throw new Error(`record ${seq}: too long`);
    if (seq >= to!) throw new Error(`record ${seq}: extra`);
    checkRecord(line, seq, m.box as string);
    range.append(0, leafHash(line));
    seq++;
    if (trusted && from === 0 && range.size === trusted.size) trustedRoot = range.root();
    start = nl + 1;
  }
  if (seq !== to) throw new Error(`records: missing from ${seq}`);
  rightLevels.forEach((l, i) => range.append(l, right[i]!));
  if (!range.root().equals(cp.root)) throw new Error("root mismatch");
  if (trusted) {
    if (trusted.origin !== cp.origin || trusted.size > S!) throw new Error("trusted: older or foreign");
    const c = m.consistency as { old_size: number; proof: string[] } | undefined;
    if (trusted.size === S) {
      if (!trusted.root.equals(cp.root)) throw new Error("trusted: fork");
    } else if (c && c.old_size === trusted.size) verifyConsistency(trusted.size, S!, c.proof.map(b64), trusted.root, cp.root);
    else if (trustedRoot) {
      if (!trustedRoot.equals(trusted.root)) throw new Error("trusted: rewritten");
    } else throw new Error("trusted: no proof");
  }
  return { size: S!, records: to! - from! };
}

/** Verifies a tlog-proof (docs/formats.md §4) whose extra line holds the record. */
export function independentVerifyProof(text: string, vkey: string): number {
  const blank = text.indexOf("\n\n");
  const head = text.slice(0, blank).split("\n");
  if (head[0] !== "c2sp.org/tlog-proof@v1" || !head[1]!.startsWith("extra ") || !head[2]!.startsWith("index ")) throw new Error("proof: header");
  const record = b64(head[1]!.slice(6));
  const index = Number(head[2]!.slice(6));
  const path = head.slice(3).map(b64);
  const cp = parseCheckpoint(openNote(text.slice(blank + 2), parseVkey(vkey)));
  const r = JSON.parse(record.toString("utf8")) as { seq: number; box: string };
  checkRecord(record, index, r.box);
  // RFC 9162 §2.1.3.2
  if (index >= cp.size) throw new Error("proof: index");
  let fn = index;
  let sn = cp.size - 1;
  let h = leafHash(record);
  for (const p of path) {
    if (sn === 0) throw new Error("proof: too long");
    if (fn % 2 === 1 || fn === sn) {
      h = nodeHash(p, h);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) (fn = Math.floor(fn / 2)), (sn = Math.floor(sn / 2));
    } else h = nodeHash(h, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0 || !h.equals(cp.root)) throw new Error("proof: root mismatch");
  return index;
}
