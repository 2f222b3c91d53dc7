import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { RequestQueue, type Lease } from "../../../daemon/inference/queue.js";

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe("RequestQueue", () => {
  it("grants at once while slots are free, then queues in arrival order", async () => {
    const q = new RequestQueue({ slots: 2, maxQueued: 4 });
    const a = q.enter("a", "normal");
    const b = q.enter("b", "normal");
    const c = q.enter("c", "normal");
    const d = q.enter("d", "normal");
    assert.deepEqual([a.position(), b.position(), c.position(), d.position()], [0, 0, 1, 2]);
    const order: string[] = [];
    for (const t of [c, d]) void t.granted.then(() => order.push(t.id));
    (await a.granted).release();
    await tick();
    assert.deepEqual(order, ["c"]);
    assert.equal(d.position(), 1);
    (await b.granted).release();
    await tick();
    assert.deepEqual(order, ["c", "d"]);
    assert.deepEqual(q.stats().running, 2);
  });

  it("serves higher priority first, first come first served within one", async () => {
    const q = new RequestQueue({ slots: 1, maxQueued: 10 });
    const running = q.enter("run", "low");
    const order: string[] = [];
    const ids: [string, "high" | "normal" | "low"][] = [["n1", "normal"], ["l1", "low"], ["h1", "high"], ["n2", "normal"], ["h2", "high"]];
    for (const [id, p] of ids) {
      const t = q.enter(id, p);
      void t.granted.then((lease) => {
        order.push(id);
        setImmediate(() => lease.release());
      });
    }
    assert.deepEqual(["h1", "h2", "n1", "n2", "l1"].map((id) => q.position(id)), [1, 2, 3, 4, 5]);
    (await running.granted).release();
    for (let i = 0; i < 20 && order.length < 5; i++) await tick();
    assert.deepEqual(order, ["h1", "h2", "n1", "n2", "l1"]);
  });

  it("refuses with BUSY and a retry hint when full, never waiting", () => {
    const q = new RequestQueue({ slots: 1, maxQueued: 2, initialServiceMs: 1000 });
    q.enter("a", "normal");
    q.enter("b", "normal");
    q.enter("c", "normal");
    assert.throws(
      () => q.enter("d", "normal"),
      (e: unknown) => isSealboxError(e, "BUSY") && (e.details?.retryAfterMs as number) >= 1000 && e.details?.maxQueued === 2,
    );
    assert.equal(q.stats().queued, 2);
  });

  it("lets a higher priority displace the newest lowest-priority waiter, which gets BUSY", async () => {
    const q = new RequestQueue({ slots: 1, maxQueued: 2 });
    q.enter("run", "normal");
    const low1 = q.enter("low1", "low");
    const low2 = q.enter("low2", "low");
    const high = q.enter("high", "high");
    await assert.rejects(low2.granted, (e: unknown) => isSealboxError(e, "BUSY") && /displaced/.test(e.message));
    assert.equal(low2.position(), undefined);
    assert.equal(high.position(), 1);
    assert.equal(low1.position(), 2);
    // Equal priority never displaces.
    assert.throws(() => q.enter("low3", "low"), (e: unknown) => isSealboxError(e, "BUSY"));
    // low1 is still below high: it goes next. Then only highs wait, and a third high is refused.
    const high2 = q.enter("high2", "high");
    await assert.rejects(low1.granted, (e: unknown) => isSealboxError(e, "BUSY"));
    assert.deepEqual([high.position(), high2.position()], [1, 2]);
    assert.throws(() => q.enter("high3", "high"), (e: unknown) => isSealboxError(e, "BUSY"));
  });

  it("cancel() leaves the line (CANCELLED) and lets the next in", async () => {
    const q = new RequestQueue({ slots: 1, maxQueued: 3 });
    const a = q.enter("a", "normal");
    const b = q.enter("b", "normal");
    const c = q.enter("c", "normal");
    b.cancel();
    await assert.rejects(b.granted, (e: unknown) => isSealboxError(e, "CANCELLED"));
    assert.equal(c.position(), 1);
    b.cancel(); // idempotent
    (await a.granted).release();
    const lc = await c.granted;
    assert.equal(c.position(), 0);
    lc.release();
    lc.release(); // idempotent: must not free a second slot
    assert.equal(q.stats().running, 0);
  });

  it("release() twice frees one slot only", async () => {
    const q = new RequestQueue({ slots: 1, maxQueued: 3 });
    const a = await q.enter("a", "normal").granted;
    const b = q.enter("b", "normal");
    const c = q.enter("c", "normal");
    a.release();
    a.release();
    await tick();
    assert.deepEqual([b.position(), c.position()], [0, 1]);
  });

  it("refuses a duplicate id", () => {
    const q = new RequestQueue({ slots: 1 });
    q.enter("x", "normal");
    assert.throws(() => q.enter("x", "normal"), (e: unknown) => isSealboxError(e, "BAD_REQUEST"));
  });

  it("stays bounded under a flood: at most slots running and maxQueued waiting", () => {
    const q = new RequestQueue({ slots: 4, maxQueued: 16 });
    let busy = 0;
    for (let i = 0; i < 10_000; i++) {
      try {
        q.enter(`r${i}`, i % 3 === 0 ? "high" : "normal");
      } catch (e) {
        assert.ok(isSealboxError(e, "BUSY"));
        busy++;
      }
      const s = q.stats();
      assert.ok(s.running <= 4 && s.queued <= 16);
    }
    assert.ok(busy > 9000);
  });

  it("close() refuses the waiting and every later request; leases already granted stay valid", async () => {
    const q = new RequestQueue({ slots: 1, maxQueued: 2 });
    const a = q.enter("a", "normal");
    const b = q.enter("b", "normal");
    q.close();
    q.close();
    await assert.rejects(b.granted, (e: unknown) => isSealboxError(e, "MODEL_UNAVAILABLE"));
    assert.throws(() => q.enter("c", "normal"), (e: unknown) => isSealboxError(e, "MODEL_UNAVAILABLE"));
    const lease: Lease = await a.granted;
    lease.release();
    assert.equal(q.stats().running, 0);
  });

  it("estimates the retry hint from measured service times", async () => {
    let now = 0;
    const q = new RequestQueue({ slots: 1, maxQueued: 1, initialServiceMs: 100, now: () => now });
    for (let i = 0; i < 40; i++) {
      const l = await q.enter(`r${i}`, "normal").granted;
      now += 5000;
      l.release();
    }
    assert.ok(q.stats().serviceMs > 4500, `serviceMs ${q.stats().serviceMs}`);
    assert.ok(q.retryAfterMs() >= 4500);
    assert.ok(q.retryAfterMs() <= 60_000);
  });

  it("refuses nonsense sizes", () => {
    assert.throws(() => new RequestQueue({ slots: 0 }), RangeError);
    assert.throws(() => new RequestQueue({ slots: 1.5 }), RangeError);
    assert.throws(() => new RequestQueue({ slots: 1, maxQueued: -1 }), RangeError);
  });
});
