import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { TokenBucket } from "../../../daemon/diode/pacing.js";

describe("token bucket", () => {
  it("starts full, then admits exactly the rate over time", () => {
    const b = new TokenBucket(1000, 100, 0);
    assert.equal(b.tryTake(100, 0), true);
    assert.equal(b.tryTake(1, 0), false);
    assert.equal(b.tryTake(50, 49), false); // 49 tokens after 49 ms
    assert.equal(b.tryTake(50, 50), true);
    let sent = 0;
    for (let t = 50; t <= 10_050; t++) if (b.tryTake(10, t)) sent += 10;
    assert.ok(sent >= 9_990 && sent <= 10_010, `sent ${sent} bytes in 10 s at 1000 B/s`);
  });

  it("never holds more than its depth, however long it idles", () => {
    const b = new TokenBucket(1000, 100, 0);
    assert.equal(b.available(1_000_000), 100);
  });

  it("lets a frame larger than the bucket go when full, then charges the debt", () => {
    const b = new TokenBucket(1000, 100, 0);
    assert.equal(b.tryTake(300, 0), true);
    assert.equal(b.available(0), -200);
    assert.equal(b.tryTake(1, 100), false);
    assert.equal(b.waitMs(50, 100), 150);
    assert.equal(b.tryTake(50, 250), true);
  });

  it("says how long to wait", () => {
    const b = new TokenBucket(2000, 100, 0);
    b.tryTake(100, 0);
    assert.equal(b.waitMs(40, 0), 20);
    assert.equal(b.waitMs(40, 20), 0);
  });

  it("ignores a clock that steps back", () => {
    const b = new TokenBucket(1000, 100, 1000);
    b.tryTake(100, 1000);
    assert.equal(b.available(500), 0);
    assert.equal(b.available(1010), 10);
  });

  it("refuses nonsense rates", () => {
    assert.throws(() => new TokenBucket(0, 100, 0), RangeError);
    assert.throws(() => new TokenBucket(10, 0, 0), RangeError);
  });
});
