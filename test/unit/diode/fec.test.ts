import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { BlockDecoder, encodeObject, sourceSymbolCount } from "../../../daemon/diode/fec.js";

function data(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    b[i] = x & 0xff;
  }
  return b;
}

describe("RaptorQ FEC", () => {
  it("emits K systematic source packets then the repair packets, each 4 + T bytes with ESIs in order", () => {
    const T = 64;
    const obj = data(1000, 1);
    const packets = encodeObject(obj, T, 5);
    const k = sourceSymbolCount(1000, T);
    assert.equal(packets.length, k + 5);
    const ids = packets.map((p) => (p[1]! << 16) | (p[2]! << 8) | p[3]!);
    packets.forEach((p) => {
      assert.equal(p.length, 4 + T);
      assert.equal(p[0], 0, "source block number 0");
    });
    // Source symbols carry ESI 0…K−1; repair symbols carry the internal symbol ID K'+j
    // (raptorq 1.7 numbering, RFC 6330 §5.3.1: ESI = ISI − (K' − K)), increasing.
    assert.deepEqual(ids.slice(0, k), Array.from({ length: k }, (_, i) => i));
    assert.ok(ids[k]! >= k);
    for (let i = k + 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1]! + 1);
    // Systematic: source packet i carries bytes [iT, (i+1)T) of the object, zero-padded at the end.
    assert.deepEqual([...packets[0]!.subarray(4)], [...obj.subarray(0, T)]);
    const last = packets[k - 1]!.subarray(4);
    assert.deepEqual([...last.subarray(0, 1000 - (k - 1) * T)], [...obj.subarray((k - 1) * T)]);
    assert.ok(last.subarray(1000 - (k - 1) * T).every((b) => b === 0));
  });

  it("decodes from any K of K + r packets (every single loss, every repair-only mix)", () => {
    const T = 64;
    const obj = data(300, 2);
    const packets = encodeObject(obj, T, 4);
    const k = sourceSymbolCount(300, T);
    for (let lost = 0; lost < packets.length; lost++) {
      const d = new BlockDecoder(300, T);
      let out: Uint8Array | undefined;
      for (let i = 0; i < packets.length && !out; i++) if (i !== lost) out = d.add(packets[i]!);
      d.free();
      assert.deepEqual(out, obj, `lost ${lost}`);
    }
    // Lose the first four source packets: the four repair packets stand in.
    const d = new BlockDecoder(300, T);
    let out: Uint8Array | undefined;
    for (const p of packets.slice(4)) out ??= d.add(p);
    assert.deepEqual(out, obj);
    assert.ok(d.packetCount >= k);
    d.free();
    d.free(); // idempotent
    assert.equal(d.alive, false);
  });

  it("recovers a 700-symbol block at 5% random loss with 10% repair", () => {
    const T = 1344;
    const obj = data(700 * T - 77, 3);
    const packets = encodeObject(obj, T, 70);
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 3; round++) {
      const d = new BlockDecoder(obj.length, T);
      let out: Uint8Array | undefined;
      for (const p of packets) if (rnd() >= 0.05) out ??= d.add(p);
      d.free();
      assert.deepEqual(out, obj, `round ${round}`);
    }
  });

  it("does not decode from too few packets, and refuses packets of the wrong size", () => {
    const T = 64;
    const packets = encodeObject(data(640, 4), T, 3);
    const d = new BlockDecoder(640, T);
    for (const p of packets.slice(0, 9)) assert.equal(d.add(p), undefined);
    assert.throws(() => d.add(new Uint8Array(10)), RangeError);
    d.free();
    assert.equal(d.add(packets[9]!), undefined, "a freed decoder reports nothing");
  });

  it("garbage packets that pass the frame checks (SBN 0, right size) decode to garbage, never throw", () => {
    const T = 64;
    const obj = data(256, 5);
    const d = new BlockDecoder(256, T);
    let out: Uint8Array | undefined;
    for (let esi = 0; esi < 40 && !out; esi++) {
      const p = new Uint8Array(4 + T).fill(0xa5);
      p.set([0, 0, 0, esi]);
      out = d.add(p);
    }
    d.free();
    // Garbage in, garbage out: the diode proves content with Merkle proofs, not with the FEC.
    assert.ok(out);
    assert.notDeepEqual(out, obj);
  });

  it("a packet that traps the WebAssembly (SBN 165) gives DIODE_ERROR, retires old decoders, and the FEC works afterwards", () => {
    const T = 64;
    const obj = data(256, 6);
    const bystander = new BlockDecoder(256, T);
    const d = new BlockDecoder(256, T);
    const p = new Uint8Array(4 + T).fill(0xa5);
    // The crate's panic hook prints to console.error; keep the test output clean.
    const consoleError = console.error;
    console.error = () => undefined;
    try {
      assert.throws(() => d.add(p), (e: unknown) => (e as { code?: string }).code === "DIODE_ERROR");
    } finally {
      console.error = consoleError;
    }
    assert.equal(d.alive, false);
    assert.equal(bystander.alive, false, "decoders of the replaced instance are retired");
    assert.equal(bystander.add(encodeObject(obj, T, 0)[0]!), undefined);
    bystander.free();
    d.free();
    const d2 = new BlockDecoder(256, T);
    let ok: Uint8Array | undefined;
    for (const q of encodeObject(obj, T, 1)) ok ??= d2.add(q);
    d2.free();
    assert.deepEqual(ok, obj);
  });
});
