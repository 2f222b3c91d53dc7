import assert from "node:assert/strict";
import { test } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { TpmReader, TpmWriter, fromHex, hex } from "../../../hal/tpm/marshal.js";

const protocolError = (e: unknown) => isSealboxError(e, "TPM_PROTOCOL");

test("the writer emits big-endian integers, TPM2Bs and sized structures (Part 1 §18.2)", () => {
  const w = new TpmWriter(1);
  w.u8(0xab).u16(0x0102).u32(0x03040506).u64(0x0708090a0b0c0d0en).tpm2b(fromHex("beef")).sized((i) => i.u16(0xcafe));
  assert.equal(hex(w.finish()), "ab" + "0102" + "03040506" + "0708090a0b0c0d0e" + "0002beef" + "0002cafe");
});

test("the reader reads back what the writer wrote and insists on consuming everything", () => {
  const bytes = new TpmWriter().u16(7).tpm2b(fromHex("0011")).u32(0xffffffff).finish();
  const r = new TpmReader(bytes, "sample");
  assert.equal(r.u16(), 7);
  assert.equal(hex(r.tpm2b("x")), "0011");
  assert.equal(r.u32(), 0xffffffff);
  r.end();
  const r2 = new TpmReader(bytes, "sample");
  r2.u16();
  assert.throws(() => r2.end(), (e) => protocolError(e) && /trailing/.test((e as Error).message));
});

test("truncated input at every offset is a TPM_PROTOCOL error naming the field, never a crash", () => {
  const bytes = new TpmWriter().u32(1).tpm2b(new Uint8Array(5)).u64(9n).finish();
  for (let cut = 0; cut < bytes.length; cut++) {
    const r = new TpmReader(bytes.subarray(0, cut), "cut");
    assert.throws(
      () => {
        r.u32("a");
        r.tpm2b("b");
        r.u64("c");
      },
      (e) => protocolError(e) && /truncated/.test((e as Error).message),
      `cut at ${cut}`,
    );
  }
});

test("a TPM2B larger than its structure's limit is refused before reading it", () => {
  const r = new TpmReader(fromHex("0041" + "00".repeat(65)), "digest");
  assert.throws(() => r.tpm2b("TPM2B_DIGEST", 64), (e) => protocolError(e) && /65 bytes, more than its limit of 64/.test((e as Error).message));
});

test("sized() checks the inner structure fills its TPM2B exactly", () => {
  const r = new TpmReader(fromHex("0003" + "000102"), "outer");
  assert.throws(() => r.sized("inner", (i) => i.u16()), (e) => protocolError(e) && /trailing/.test((e as Error).message));
});

test("fromHex refuses odd lengths and non-hex", () => {
  assert.throws(() => fromHex("abc"), RangeError);
  assert.throws(() => fromHex("zz"), RangeError);
});
