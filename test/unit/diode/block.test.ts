import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crc32 } from "node:zlib";

import { blockOverheadBytes, blockRecordBytes, decodeBlock, encodeBlock, MAX_BLOCK_RECORD_BYTES, type DiodeBlock } from "../../../daemon/diode/block.js";
import { isSealboxError } from "../../../daemon/errors.js";

const enc = new TextEncoder();
const sample: DiodeBlock = {
  flags: 1,
  epoch: 1_700_000_000_123n,
  block: 42,
  firstSeq: 5,
  checkpoint: "sealbox.local/box\n9\nAAAA\n\n— sealbox.local/box c2ln\n",
  left: [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)],
  right: [new Uint8Array(32).fill(3)],
  records: [enc.encode('{"seq":5}'), enc.encode(""), enc.encode('{"seq":7,"x":"é"}')],
};

function badFormat(fn: () => unknown, match: RegExp): void {
  assert.throws(fn, (e: unknown) => isSealboxError(e, "BAD_FORMAT") && match.test(e.message));
}

/** Re-seals the trailing CRC after an edit, so the test reaches the structural checks. */
function reseal(b: Uint8Array): Uint8Array {
  new DataView(b.buffer, b.byteOffset).setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)));
  return b;
}

describe("diode blocks", () => {
  it("round-trips every field", () => {
    const bytes = encodeBlock(sample);
    const back = decodeBlock(bytes);
    assert.equal(back.flags, 1);
    assert.equal(back.epoch, sample.epoch);
    assert.equal(back.block, 42);
    assert.equal(back.firstSeq, 5);
    assert.equal(back.checkpoint, sample.checkpoint);
    assert.deepEqual(back.left.map((h) => [...h]), sample.left.map((h) => [...h]));
    assert.deepEqual(back.right.map((h) => [...h]), sample.right.map((h) => [...h]));
    assert.deepEqual(back.records.map((r) => Buffer.from(r).toString()), sample.records.map((r) => Buffer.from(r).toString()));
  });

  it("predicts its own size", () => {
    const cp = Buffer.byteLength(sample.checkpoint);
    const expected = blockOverheadBytes(cp, 2, 1) + sample.records.reduce((n, r) => n + blockRecordBytes(r.length), 0);
    assert.equal(encodeBlock(sample).length, expected);
  });

  it("rejects every truncation, and a flipped bit anywhere", () => {
    const bytes = encodeBlock(sample);
    for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeBlock(bytes.subarray(0, n)), (e: unknown) => isSealboxError(e, "BAD_FORMAT"), `truncated to ${n}`);
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes.slice();
      b[i]! ^= 0x10;
      assert.throws(() => decodeBlock(b), (e: unknown) => isSealboxError(e, "BAD_FORMAT"), `flip at ${i}`);
    }
  });

  it("names structural problems even when the CRC is right (a forger can compute CRCs)", () => {
    const bytes = encodeBlock(sample);
    const v = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset);
    let b = bytes.slice();
    v(b).setUint32(0, 0);
    badFormat(() => decodeBlock(reseal(b)), /magic/);
    b = bytes.slice();
    b[4] = 9;
    badFormat(() => decodeBlock(reseal(b)), /version 9/);
    b = bytes.slice();
    v(b).setUint16(6, 1);
    badFormat(() => decodeBlock(reseal(b)), /reserved/);
    b = bytes.slice();
    v(b).setUint32(28, 0);
    badFormat(() => decodeBlock(reseal(b)), /no records/);
    b = bytes.slice();
    v(b).setUint32(28, 4);
    badFormat(() => decodeBlock(reseal(b)), /truncated record/);
    b = bytes.slice();
    v(b).setUint32(28, 2);
    badFormat(() => decodeBlock(reseal(b)), /stray bytes/);
    b = bytes.slice();
    v(b).setUint16(32, 60_000);
    badFormat(() => decodeBlock(reseal(b)), /truncated checkpoint/);
    b = bytes.slice();
    v(b).setBigUint64(20, 2n ** 60n);
    badFormat(() => decodeBlock(reseal(b)), /sequence out of range/);
    const leftAt = 34 + Buffer.byteLength(sample.checkpoint);
    b = bytes.slice();
    b[leftAt] = 64;
    badFormat(() => decodeBlock(reseal(b)), /left hash count 64/);
    b = bytes.slice();
    b[leftAt] = 40;
    badFormat(() => decodeBlock(reseal(b)), /truncated left hashes/);
    b = bytes.slice();
    b[34] = 0xff; // inside the checkpoint text: not UTF-8
    badFormat(() => decodeBlock(reseal(b)), /not UTF-8/);
  });

  it("refuses an oversized record length without allocating it", () => {
    const bytes = encodeBlock(sample);
    const firstRecordAt = blockOverheadBytes(Buffer.byteLength(sample.checkpoint), 2, 1) - 4;
    const b = bytes.slice();
    new DataView(b.buffer).setUint32(firstRecordAt, 0xffffffff);
    badFormat(() => decodeBlock(reseal(b)), /limit 65536/);
  });

  it("refuses to encode what it could not decode", () => {
    assert.throws(() => encodeBlock({ ...sample, records: [] }), RangeError);
    assert.throws(() => encodeBlock({ ...sample, records: [new Uint8Array(MAX_BLOCK_RECORD_BYTES + 1)] }), RangeError);
    assert.throws(() => encodeBlock({ ...sample, left: [new Uint8Array(31)] }), RangeError);
    assert.throws(() => encodeBlock({ ...sample, right: Array.from({ length: 64 }, () => new Uint8Array(32)) }), RangeError);
  });
});
