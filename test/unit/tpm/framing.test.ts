// Assemblers are streaming parsers: every fixture is split at every byte
// offset, and garbage of every shape must be TPM_PROTOCOL, never a hang or a
// silently dropped byte.

import assert from "node:assert/strict";
import { test } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { fromHex, hex } from "../../../hal/tpm/marshal.js";
import { MssimResponseAssembler, RawResponseAssembler, encodeMssimCommand } from "../../../hal/tpm/transport/framing.js";

const response = fromHex("800100000014000000000008802a34b3bd608c65"); // a recorded GetRandom(8) response
const framed = fromHex("00000014" + hex(response) + "00000000");
const isProtocol = (e: unknown) => isSealboxError(e, "TPM_PROTOCOL");

function feedSplit(make: () => { push(c: Uint8Array): Uint8Array | undefined }, bytes: Uint8Array, cuts: number[]): Uint8Array | undefined {
  const a = make();
  let done: Uint8Array | undefined;
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    const got = a.push(bytes.subarray(prev, cut));
    if (got) {
      assert.equal(done, undefined, "completes once");
      done = got;
    }
    prev = cut;
  }
  return done;
}

test("raw: a response split at every offset (and at every pair of offsets) assembles to the same bytes", () => {
  for (let i = 0; i <= response.length; i++) {
    assert.equal(hex(feedSplit(() => new RawResponseAssembler(), response, [i])!), hex(response), `cut ${i}`);
    for (let j = i; j <= response.length; j++) assert.equal(hex(feedSplit(() => new RawResponseAssembler(), response, [i, j])!), hex(response));
  }
});

test("mssim: a framed response split at every offset assembles to the inner response", () => {
  for (let i = 0; i <= framed.length; i++) {
    for (let j = i; j <= framed.length; j++) assert.equal(hex(feedSplit(() => new MssimResponseAssembler(), framed, [i, j])!), hex(response), `cuts ${i},${j}`);
  }
});

test("raw: garbage is refused: size below the header, size above the limit, bytes after the response", () => {
  assert.throws(() => new RawResponseAssembler().push(fromHex("800100000009000000")), isProtocol);
  assert.throws(() => new RawResponseAssembler().push(fromHex("8001ffffffff0000")), (e) => isProtocol(e) && /exceeds/.test((e as Error).message));
  assert.throws(() => new RawResponseAssembler().push(fromHex(hex(response) + "00")), (e) => isProtocol(e) && /after/.test((e as Error).message));
  const a = new RawResponseAssembler();
  a.push(response);
  assert.throws(() => a.push(fromHex("00")), isProtocol);
});

test("raw: an incomplete response reports how many bytes are pending", () => {
  const a = new RawResponseAssembler();
  assert.equal(a.push(response.subarray(0, 7)), undefined);
  assert.equal(a.pending, 7);
});

test("mssim: a non-zero acknowledgement, a wrong inner size, trailing bytes and huge lengths are refused", () => {
  assert.throws(() => new MssimResponseAssembler().push(fromHex("00000014" + hex(response) + "00000001")), (e) => isProtocol(e) && /acknowledgement/.test((e as Error).message));
  const wrongInner = response.slice();
  wrongInner[5] = 0x13;
  assert.throws(() => new MssimResponseAssembler().push(fromHex("00000014" + hex(wrongInner) + "00000000")), (e) => isProtocol(e) && /disagrees/.test((e as Error).message));
  assert.throws(() => new MssimResponseAssembler().push(fromHex(hex(framed) + "ff")), isProtocol);
  assert.throws(() => new MssimResponseAssembler().push(fromHex("7fffffff")), isProtocol);
  assert.throws(() => new MssimResponseAssembler().push(fromHex("00000002")), isProtocol);
});

test("mssim command framing: TPM_SEND_COMMAND, locality, length, command", () => {
  assert.equal(hex(encodeMssimCommand(fromHex("80010000000c0000017b0008"), 3)), "00000008" + "03" + "0000000c" + "80010000000c0000017b0008");
});
