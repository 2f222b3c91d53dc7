// Big-endian marshalling for TPM 2.0 structures (Part 1 §18.2: all integers
// are big-endian; TPM2B_ types are a u16 size followed by that many bytes).
// The reader is strict: reading past the end, an oversized TPM2B, or bytes
// left over throw TPM_PROTOCOL naming what was being read and where.

import { SealboxError } from "../../daemon/errors.js";

export class TpmWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.alloc(initialBytes);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  get length(): number {
    return this.len;
  }

  u8(v: number): this {
    this.reserve(1);
    this.buf.writeUInt8(v, this.len);
    this.len += 1;
    return this;
  }

  u16(v: number): this {
    this.reserve(2);
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }

  u64(v: bigint): this {
    this.reserve(8);
    this.buf.writeBigUInt64BE(v, this.len);
    this.len += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  /** A TPM2B: u16 size, then the bytes. */
  tpm2b(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError(`TPM2B of ${b.length} bytes exceeds 65535`);
    return this.u16(b.length).bytes(b);
  }

  /** A TPM2B whose content is a structure (TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE…): size is filled in after. */
  sized(write: (w: TpmWriter) => void): this {
    const inner = new TpmWriter();
    write(inner);
    return this.tpm2b(inner.finish());
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return new Uint8Array(this.buf.subarray(0, this.len));
  }
}

export function tpmDecodeError(what: string, message: string, details: Record<string, unknown> = {}): SealboxError {
  return new SealboxError("TPM_PROTOCOL", `malformed TPM data: ${what}: ${message}`, { details: { what, ...details } });
}

export class TpmReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    /** What is being decoded, for error messages (e.g. "TPM2_Load response"). */
    readonly context = "TPM data",
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.data.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.data.length) {
      throw tpmDecodeError(this.context, `truncated reading ${what}: need ${n} bytes at offset ${this.pos}, have ${this.data.length - this.pos}`, {
        offset: this.pos,
        needed: n,
        available: this.data.length - this.pos,
      });
    }
  }

  u8(what = "u8"): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }

  u16(what = "u16"): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what = "u32"): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(what = "u64"): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(n: number, what = "bytes"): Uint8Array {
    this.need(n, what);
    const out = this.data.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A TPM2B; maxBytes is the structure's limit from Part 2 (e.g. a digest's size). */
  tpm2b(what: string, maxBytes = 0xffff): Uint8Array {
    const size = this.u16(`${what}.size`);
    if (size > maxBytes) {
      throw tpmDecodeError(this.context, `${what} is ${size} bytes, more than its limit of ${maxBytes}`, { offset: this.pos - 2, size, maxBytes });
    }
    return this.bytes(size, what);
  }

  /** A TPM2B holding a structure: decode it with a sub-reader that must consume it exactly. */
  sized<T>(what: string, read: (r: TpmReader) => T): T {
    const inner = new TpmReader(this.tpm2b(what), `${this.context} ${what}`);
    const v = read(inner);
    inner.end();
    return v;
  }

  /** Asserts every byte was consumed. */
  end(): void {
    if (this.pos !== this.data.length) {
      throw tpmDecodeError(this.context, `${this.data.length - this.pos} unexpected trailing bytes at offset ${this.pos}`, {
        offset: this.pos,
        trailing: this.data.length - this.pos,
      });
    }
  }
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

export function fromHex(s: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(s)) throw new RangeError(`not hex: ${s.slice(0, 20)}`);
  return new Uint8Array(Buffer.from(s, "hex"));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
}

export function u32be(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}
