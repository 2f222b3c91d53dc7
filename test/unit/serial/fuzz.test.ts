// 100,000 mutated frames into the decoder and session: the box never
// crashes, counts what it drops, still answers a correct client at the end,
// and its heap has not grown.

import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { setTimeout as sleep } from "node:timers/promises";
import { clientProof } from "../../../daemon/transports/serial-auth.js";
import { encodeFrame, FrameType } from "../../../daemon/transports/serial-frames.js";
import { bytesToHex, decodeJson, encodeJson } from "../../../daemon/transports/serial-messages.js";
import { totalDropped } from "../../../daemon/transports/serial-metrics.js";
import { TEST_PSK } from "../../helpers/serial-fakes.js";
import { corpus, mutate, Prng } from "../../helpers/serial-fuzz.js";
import { directConnection, type DirectConnection } from "../../helpers/serial-setup.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const SEED = Number(process.env.SERIAL_FUZZ_SEED ?? 20240611);
const FRAMES = 100_000;

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await sleep(5);
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** A correct handshake and an echo; returns the echo's result. */
async function healthyCall(d: DirectConnection, tag: number): Promise<unknown> {
  d.collect = true;
  d.out.length = 0;
  const hello = encodeJson({ versions: [1], maxPayloadBytes: 1024, nonce: bytesToHex(new Uint8Array(32).fill(tag & 0xff)) });
  d.conn.receive(Uint8Array.of(0));
  d.conn.receive(encodeFrame({ version: 1, type: FrameType.HELLO, flags: 0, requestId: 0, seq: 0, payload: hello }));
  await sleep(2);
  const ch = d.out.find((f) => f.type === FrameType.CHALLENGE || f.type === FrameType.ERROR);
  if (!ch || ch.type !== FrameType.CHALLENGE) return { refused: ch ? decodeJson(ch.payload) : "nothing" };
  const mac = bytesToHex(clientProof(TEST_PSK, hello, ch.payload));
  d.conn.receive(encodeFrame({ version: 1, type: FrameType.AUTH, flags: 0, requestId: 0, seq: 1, payload: encodeJson({ mac }) }));
  await sleep(2);
  d.conn.receive(encodeFrame({ version: 1, type: FrameType.REQUEST, flags: 0, requestId: 900, seq: 0, payload: encodeJson({ method: "echo", params: tag }) }));
  await sleep(2);
  const r = d.out.find((f) => f.type === FrameType.RESULT && f.requestId === 900);
  d.collect = false;
  return r ? decodeJson(r.payload) : { noResult: d.out.map((f) => f.type) };
}

test(`fuzz: ${FRAMES} mutated frames (seed ${SEED}) — no crash, drops counted, still answers, heap flat`, async () => {
  const d = directConnection({ keep: false, collect: false, limits: { idleTimeoutMs: 60_000, coalesceMs: 0 } });
  const rng = new Prng(SEED);
  const frames = corpus();
  let heapWarm = 0;
  for (let i = 0; i < FRAMES; i++) {
    d.conn.receive(mutate(rng, frames));
    if (i % 5000 === 4999) {
      // Let async work (audits, dispatches, timers) run, and now and then log in properly so
      // the mutations also hit an authenticated session.
      await sleep(25); // past the handshake backoff (≤ 100 ms after several failures)
      if (i % 10_000 === 9999) {
        await sleep(100);
        assert.equal(await healthyCall(d, i), i, `still answers after ${i + 1} mutated frames`);
      }
    }
    if (i === 19_999) heapWarm = await heapAfterGc();
  }
  await sleep(150);
  assert.equal(await healthyCall(d, 1), 1, "answers a correct client at the end");
  const heapEnd = await heapAfterGc();
  const c = d.counters;
  const growthBytes = heapEnd - heapWarm;
  process.stdout.write(`# fuzz: dropped ${totalDropped(c)} (${JSON.stringify(c.framesDropped)}), errors sent ${JSON.stringify(c.errorsSent)}, requests ${c.requestsStarted}, auth ok/fail/limited ${c.authSuccesses}/${c.authFailures}/${c.authRateLimited}; heap ${(heapWarm / 1e6).toFixed(2)} → ${(heapEnd / 1e6).toFixed(2)} MB\n`);
  assert.ok(totalDropped(c) > FRAMES / 3, "most mutations were dropped and counted");
  for (const reason of ["crc", "cobs", "short", "length", "version", "flags", "unexpected-type", "malformed"] as const) assert.ok(c.framesDropped[reason] > 0, `some drops for ${reason}`);
  assert.ok(c.requestsStarted > 10, "mutations reached the method table in an authenticated session");
  assert.ok(growthBytes < 2 * 1024 * 1024, `heap grew by ${growthBytes} bytes between 20k and ${FRAMES} frames`);
  d.conn.close();
});
