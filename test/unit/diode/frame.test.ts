import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  CRC_BYTES,
  encodeHeartbeatFrame,
  encodeSymbolFrame,
  FLAG_CAROUSEL,
  maxSourceSymbols,
  parseFrame,
  SYMBOL_HEADER_BYTES,
  SYMBOL_OVERHEAD_BYTES,
  symbolBytesForMtu,
  type SymbolFrameFields,
} from "../../../daemon/diode/frame.js";
import { crc32 } from "node:zlib";

const T = 64;
const fields: SymbolFrameFields = { flags: FLAG_CAROUSEL, epoch: 1712345678901n, block: 0xfffffffe, firstSeq: 2 ** 40 + 7, count: 513, transferBytes: 1000, symbolBytes: T };

function packet(esi: number): Uint8Array {
  const p = new Uint8Array(4 + T);
  p[0] = 0;
  p[1] = (esi >> 16) & 0xff;
  p[2] = (esi >> 8) & 0xff;
  p[3] = esi & 0xff;
  for (let i = 4; i < p.length; i++) p[i] = (i * 7 + esi) & 0xff;
  return p;
}

/** Rewrites a field and re-seals the CRC, so a test reaches the check after the CRC. */
function mutate(frame: Uint8Array, edit: (v: DataView) => void): Uint8Array {
  const f = frame.slice();
  const v = new DataView(f.buffer);
  edit(v);
  v.setUint32(f.length - CRC_BYTES, crc32(f.subarray(0, f.length - CRC_BYTES)));
  return f;
}

describe("diode frames", () => {
  it("round-trips a symbol frame with every field", () => {
    const f = encodeSymbolFrame(fields, packet(0x123456));
    assert.equal(f.length, SYMBOL_OVERHEAD_BYTES + T);
    const p = parseFrame(f);
    assert.equal(p.kind, "symbol");
    if (p.kind !== "symbol") return;
    assert.equal(p.flags, FLAG_CAROUSEL);
    assert.equal(p.epoch, fields.epoch);
    assert.equal(p.block, fields.block);
    assert.equal(p.firstSeq, fields.firstSeq);
    assert.equal(p.count, fields.count);
    assert.equal(p.transferBytes, 1000);
    assert.equal(p.symbolBytes, T);
    assert.equal(p.esi, 0x123456);
    assert.deepEqual([...p.packet], [...packet(0x123456)]);
  });

  it("lays the header out as docs/diode.md says (magic, version, kind, OTI at fixed offsets)", () => {
    const f = encodeSymbolFrame(fields, packet(5));
    const v = new DataView(f.buffer);
    assert.equal(Buffer.from(f.subarray(0, 4)).toString("latin1"), "SBXD");
    assert.equal(f[4], 1);
    assert.equal(f[5], 1);
    assert.equal(v.getBigUint64(8), fields.epoch);
    assert.equal(v.getUint16(38), T);
    assert.deepEqual([f[40], v.getUint16(41), f[43]], [1, 1, 8]);
    assert.equal(v.getUint32(SYMBOL_HEADER_BYTES - 4) & 0xffffff, 5);
    assert.equal(v.getUint32(f.length - 4), crc32(f.subarray(0, f.length - 4)));
  });

  it("round-trips a heartbeat frame, including non-ASCII text", () => {
    const f = encodeHeartbeatFrame(9n, "origin\n3\nAAAA\n\n— k sig\n", "sealbox diode heartbeat v1\nepoch 9\n");
    const p = parseFrame(f);
    assert.equal(p.kind, "heartbeat");
    if (p.kind !== "heartbeat") return;
    assert.equal(p.epoch, 9n);
    assert.equal(p.checkpoint, "origin\n3\nAAAA\n\n— k sig\n");
    assert.equal(p.heartbeat, "sealbox diode heartbeat v1\nepoch 9\n");
  });

  it("rejects every single-bit flip anywhere in a frame", () => {
    const frames = [encodeSymbolFrame(fields, packet(1)), encodeHeartbeatFrame(3n, "cp", "hb")];
    for (const f of frames) {
      for (let i = 0; i < f.length; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const g = f.slice();
          g[i]! ^= 1 << bit;
          assert.equal(parseFrame(g).kind, "invalid", `flip at byte ${i} bit ${bit}`);
        }
      }
    }
  });

  it("rejects every truncation and every extension", () => {
    const f = encodeSymbolFrame(fields, packet(1));
    for (let n = 0; n < f.length; n++) assert.equal(parseFrame(f.subarray(0, n)).kind, "invalid", `truncated to ${n}`);
    const longer = new Uint8Array(f.length + 1);
    longer.set(f);
    assert.equal(parseFrame(longer).kind, "invalid");
  });

  it("names the reason for hostile but CRC-valid frames", () => {
    const f = encodeSymbolFrame(fields, packet(1));
    const reason = (g: Uint8Array): string => {
      const p = parseFrame(g);
      return p.kind === "invalid" ? p.reason : p.kind;
    };
    assert.equal(reason(mutate(f, (v) => v.setUint32(0, 0x53425845))), "magic");
    assert.equal(reason(mutate(f, (v) => v.setUint8(4, 2))), "version");
    assert.equal(reason(mutate(f, (v) => v.setUint8(5, 9))), "kind");
    assert.equal(reason(mutate(f, (v) => v.setUint8(7, 1))), "reserved");
    assert.equal(reason(mutate(f, (v) => v.setUint8(6, 0x80))), "reserved");
    assert.equal(reason(mutate(f, (v) => v.setUint8(40, 2))), "fec-params"); // Z = 2
    assert.equal(reason(mutate(f, (v) => v.setUint16(41, 3))), "fec-params"); // N = 3
    assert.equal(reason(mutate(f, (v) => v.setUint8(43, 4))), "fec-params"); // Al = 4
    assert.equal(reason(mutate(f, (v) => v.setUint8(44, 1))), "fec-params"); // SBN 1 of a 1-block object
    assert.equal(reason(mutate(f, (v) => v.setUint16(38, T + 8))), "length"); // T disagrees with the frame length
    assert.equal(reason(mutate(f, (v) => v.setUint8(32, 0xff))), "fec-params"); // F far beyond the decoder bound
    assert.equal(reason(mutate(f, (v) => (v.setUint8(32, 0), v.setUint32(33, 0)))), "fec-params"); // F = 0
    assert.equal(reason(mutate(f, (v) => v.setUint32(28, 0))), "range"); // count 0
    assert.equal(reason(mutate(f, (v) => v.setBigUint64(20, 2n ** 63n))), "range"); // sequence beyond 2^53
    const hb = encodeHeartbeatFrame(1n, "a", "b");
    assert.equal(reason(mutate(hb, (v) => v.setUint16(16, 500))), "length");
    assert.equal(reason(mutate(hb, (v) => v.setUint8(18, 0xff))), "utf8");
    assert.equal(reason(mutate(hb, (v) => v.setUint8(6, 1))), "reserved");
  });

  it("refuses oversized frames before computing their CRC", () => {
    const big = new Uint8Array(70_000);
    new DataView(big.buffer).setUint32(0, 0x53425844);
    big[4] = 1;
    big[5] = 1;
    assert.deepEqual(parseFrame(big), { kind: "invalid", reason: "too-large" });
    big[5] = 2;
    assert.deepEqual(parseFrame(big), { kind: "invalid", reason: "too-large" });
  });

  it("never throws on random garbage", () => {
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      const g = new Uint8Array(Math.floor(rnd() * 200));
      for (let j = 0; j < g.length; j++) g[j] = Math.floor(rnd() * 256);
      if (i % 2 === 0 && g.length > 8) g.set([0x53, 0x42, 0x58, 0x44, 1, 1 + (i % 4 === 0 ? 1 : 0)]);
      assert.equal(parseFrame(g).kind, "invalid");
    }
  });

  it("sizes symbols to the datagram and keeps objects within one source block", () => {
    assert.equal(symbolBytesForMtu(1400), 1344);
    assert.equal(symbolBytesForMtu(1400) + SYMBOL_OVERHEAD_BYTES <= 1400, true);
    assert.equal(symbolBytesForMtu(1472), 1416);
    assert.equal(symbolBytesForMtu(9000) % 8, 0);
    assert.ok(maxSourceSymbols(1344) >= 4096);
    assert.ok(maxSourceSymbols(8944) >= 1000 && maxSourceSymbols(8944) * 8944 <= 10 * 1024 * 1024);
  });

  it("refuses to build a frame around a packet of the wrong size", () => {
    assert.throws(() => encodeSymbolFrame(fields, new Uint8Array(T)), RangeError);
  });
});
