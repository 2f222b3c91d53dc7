// A whole conversation, as the bytes a peer writes, split at every byte
// offset: the box must answer exactly as it does to the unsplit stream.

import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { clientProof } from "../../../daemon/transports/serial-auth.js";
import { encodeFrame, FrameType, fragment, type Frame } from "../../../daemon/transports/serial-frames.js";
import { bytesToHex, encodeJson } from "../../../daemon/transports/serial-messages.js";
import type { JsonValue } from "../../../daemon/ledger/types.js";
import { TEST_PSK } from "../../helpers/serial-fakes.js";
import { directConnection, type DirectConnection } from "../../helpers/serial-setup.js";

const limits = { coalesceMs: 0, maxPayloadBytes: 256 };
const f = (type: number, requestId: number, seq: number, payload: JsonValue | Uint8Array = new Uint8Array(0)): Uint8Array =>
  encodeFrame({ version: 1, type, flags: 0, requestId, seq, payload: payload instanceof Uint8Array ? payload : encodeJson(payload) });
const garbage = Uint8Array.from([0x13, 0x37, 0xff, 0x00, 0x42]);
const hello = encodeJson({ versions: [1], maxPayloadBytes: 256, nonce: "5a".repeat(32) });

function summary(d: DirectConnection): string[] {
  return d.out.map((x: Frame) => `${x.type}/${x.requestId}/${x.seq}/${x.flags}/${Buffer.from(x.payload).toString("hex")}`);
}

async function settle(): Promise<void> {
  await sleep(1);
  await sleep(1);
}

/** Phase A: noise, a ping, HELLO and a correct AUTH (the box's nonce is deterministic). */
async function phaseA(): Promise<Uint8Array> {
  const probe = directConnection({ limits });
  probe.conn.receive(f(FrameType.HELLO, 0, 0, hello));
  const challenge = probe.out.find((x) => x.type === FrameType.CHALLENGE)!;
  probe.conn.close();
  const auth = { mac: bytesToHex(clientProof(TEST_PSK, hello, challenge.payload)) };
  return Buffer.concat([garbage, f(FrameType.PING, 0, 9, Uint8Array.of(1, 2)), f(FrameType.REQUEST, 1, 0, { method: "echo" }), f(FrameType.HELLO, 0, 0, hello), f(FrameType.AUTH, 0, 1, auth)]);
}

/** Phase B: requests of every kind, one fragmented, a cancel, more noise. */
function phaseB(): Uint8Array {
  const long = fragment(FrameType.REQUEST, 4, 0, encodeJson({ method: "echo", params: "L".repeat(400) }), 256).map(encodeFrame);
  return Buffer.concat([
    f(FrameType.REQUEST, 1, 0, { method: "echo", params: { x: [1, 2, 3] } }),
    garbage,
    f(FrameType.REQUEST, 2, 0, { method: "stream", params: { count: 40 } }),
    f(FrameType.REQUEST, 3, 0, { method: "fail", params: { code: "BUSY" } }),
    ...long,
    f(FrameType.PING, 0, 3),
    f(FrameType.CANCEL, 77, 1),
    Uint8Array.of(0x55, 0x55),
  ]);
}

async function run(a: Uint8Array, b: Uint8Array, cutA: number | undefined, cutB: number | undefined): Promise<DirectConnection> {
  const d = directConnection({ limits });
  const feed = (bytes: Uint8Array, cut: number | undefined): void => {
    if (cut === undefined) d.conn.receive(bytes);
    else {
      d.conn.receive(bytes.subarray(0, cut));
      d.conn.receive(bytes.subarray(cut));
    }
  };
  feed(a, cutA);
  await settle();
  feed(b, cutB);
  await settle();
  d.conn.close();
  return d;
}

test("a conversation split at every byte offset gets the same answers, and the same drop counts", async () => {
  const a = await phaseA();
  const b = phaseB();
  const ref = await run(a, b, undefined, undefined);
  const want = summary(ref);
  assert.ok(ref.out.some((x) => x.type === FrameType.WELCOME), "the reference run authenticated");
  assert.ok(ref.out.some((x) => x.type === FrameType.CHUNK), "and streamed");
  assert.equal(ref.out.filter((x) => x.type === FrameType.RESULT).length >= 3, true);
  const wantDrops = ref.counters.framesDropped;
  for (let cut = 1; cut < a.length; cut++) {
    const d = await run(a, b, cut, undefined);
    assert.deepEqual(summary(d), want, `phase A split at ${cut}`);
    assert.deepEqual(d.counters.framesDropped, wantDrops, `phase A split at ${cut}`);
  }
  for (let cut = 1; cut < b.length; cut++) {
    const d = await run(a, b, undefined, cut);
    assert.deepEqual(summary(d), want, `phase B split at ${cut}`);
    assert.deepEqual(d.counters.framesDropped, wantDrops, `phase B split at ${cut}`);
  }
});
