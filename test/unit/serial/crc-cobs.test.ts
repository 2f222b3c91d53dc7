import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32c } from "../../../daemon/transports/serial-crc.js";
import { cobsDecode, cobsEncode, cobsMaxEncodedBytes } from "../../../daemon/transports/serial-cobs.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const range = (from: number, to: number): Uint8Array => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("CRC-32C check value and RFC 3720 §B.4 vectors", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(range(0, 31)), 0x46dd794e);
  assert.equal(crc32c(range(0, 31).reverse()), 0x113fdb5c);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test("CRC-32C over a sub-range equals the CRC of the slice", () => {
  const b = range(1, 200);
  assert.equal(crc32c(b, 10, 50), crc32c(b.slice(10, 50)));
});

// Examples from Cheshire & Baker's paper as tabulated on Wikipedia "Consistent Overhead Byte Stuffing".
const vectors: [string, Uint8Array, Uint8Array][] = [
  ["single-zero", hex("00"), hex("01 01")],
  ["two-zeros", hex("00 00"), hex("01 01 01")],
  ["zero-in-middle", hex("00 11 00"), hex("01 02 11 01")],
  ["mixed", hex("11 22 00 33"), hex("03 11 22 02 33")],
  ["no-zero", hex("11 22 33 44"), hex("05 11 22 33 44")],
  ["trailing-zeros", hex("11 00 00 00"), hex("02 11 01 01 01")],
  ["254-nonzero", range(1, 254), Uint8Array.from([0xff, ...range(1, 254)])],
  ["leading-zero-then-254", Uint8Array.from([0, ...range(1, 254)]), Uint8Array.from([0x01, 0xff, ...range(1, 254)])],
  ["255-nonzero", range(1, 255), Uint8Array.from([0xff, ...range(1, 254), 0x02, 0xff])],
  ["254-then-zero", Uint8Array.from([...range(2, 255), 0]), Uint8Array.from([0xff, ...range(2, 255), 0x01, 0x01])],
  ["253-zero-one", Uint8Array.from([...range(3, 255), 0, 1]), Uint8Array.from([0xfe, ...range(3, 255), 0x02, 0x01])],
  ["empty", new Uint8Array(0), hex("01")],
];

for (const [name, raw, enc] of vectors) {
  test(`COBS ${name}: encodes to the published bytes and back`, () => {
    const out = new Uint8Array(cobsMaxEncodedBytes(raw.length));
    const n = cobsEncode(raw, out);
    assert.deepEqual(out.subarray(0, n), enc);
    assert.ok(!out.subarray(0, n).includes(0), "no zero in an encoding");
    const back = new Uint8Array(enc.length);
    const m = cobsDecode(enc, enc.length, back);
    assert.deepEqual(back.subarray(0, m), raw);
  });
}

test("COBS round-trips random data of every length up to 1100 within the size bound", () => {
  let seed = 1;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  for (let len = 0; len <= 1100; len++) {
    const raw = Uint8Array.from({ length: len }, () => (rnd() < 40 ? 0 : rnd()));
    const out = new Uint8Array(cobsMaxEncodedBytes(len));
    const n = cobsEncode(raw, out);
    assert.ok(n <= cobsMaxEncodedBytes(len));
    const back = new Uint8Array(n);
    assert.deepEqual(back.subarray(0, cobsDecode(out, n, back)), raw);
  }
});

test("COBS decoder rejects hostile encodings", () => {
  const buf = new Uint8Array(16);
  assert.equal(cobsDecode(hex("05 11 22"), 3, buf), -1, "block runs past the end");
  assert.equal(cobsDecode(hex("03 11 00"), 3, buf), -1, "zero inside a block");
  assert.equal(cobsDecode(hex("00"), 1, buf), -1, "zero code byte");
  assert.equal(cobsDecode(hex("ff"), 1, buf), -1, "0xff with nothing after it");
});
