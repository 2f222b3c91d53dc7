import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { catchupBound } from "../../../daemon/diode/catchup-bound.js";

const base = { blockWireBytes: 1_000_000, interleaveDepth: 32, rateBytesPerS: 10_000_000, heartbeatIntervalMs: 1000, carouselMinPassMs: 1000 };

describe("carousel catch-up bound", () => {
  it("is one pass, one interleave window, and a heartbeat on a large retained range", () => {
    const b = catchupBound({ ...base, retainedWireBytes: 1_000_000_000 });
    assert.equal(b.passS, 100);
    assert.equal(b.inFlightWireBytes, 32_000_000);
    assert.equal(b.boundS, 100 + 3.2 + 1);
  });

  it("counts at most one more pass when every block is open at once", () => {
    // 25 blocks retained, 32 open at a time: a receiver joining mid-pass may hold a part of every one.
    const b = catchupBound({ ...base, retainedWireBytes: 25_000_000 });
    assert.equal(b.inFlightWireBytes, 25_000_000);
    assert.equal(b.boundS, 2.5 + 2.5 + 1);
  });

  it("adds the wait before a pass shorter than the minimum may start again", () => {
    const b = catchupBound({ ...base, retainedWireBytes: 2_000_000, carouselMinPassMs: 1000 });
    // pass 0.2 s, window 0.2 s (everything), the next pass waits 0.8 s, a heartbeat 1 s
    assert.ok(Math.abs(b.boundS - (0.2 + 0.2 + 0.8 + 1)) < 1e-9, String(b.boundS));
  });

  it("is covered by what the bench measured: 100,000 entries at 9 MB/s arrived in 5.6 s", () => {
    // bench/diode.ts catch-up run: ~39 MB a pass, blocks of 1,024 + 103 symbols of 1,396 bytes, depth 32.
    const b = catchupBound({ ...base, retainedWireBytes: 39_400_000, blockWireBytes: 1127 * 1396, rateBytesPerS: 9_000_000 });
    assert.ok(b.boundS >= 5.6, `bound ${b.boundS.toFixed(1)} s`);
  });
});
