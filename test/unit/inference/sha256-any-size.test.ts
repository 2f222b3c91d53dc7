import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256HexAnySize } from "../../../daemon/inference/sha256-any-size.js";

describe("sha256HexAnySize", () => {
  it("hashes in pieces to the same digest as one update, whatever the piece size", () => {
    const bytes = new Uint8Array(10_007).map((_, i) => (i * 131) & 0xff);
    const whole = createHash("sha256").update(bytes).digest("hex");
    for (const chunk of [1, 7, 64, 4096, 10_006, 10_007, 1 << 20]) assert.equal(sha256HexAnySize(bytes, chunk), whole, `chunk ${chunk}`);
    assert.equal(sha256HexAnySize(new Uint8Array(0)), createHash("sha256").digest("hex"));
  });

  it("hashes a buffer past node:crypto's 2 GiB limit for one update (a 3.3 GB generated model hit it)", () => {
    const bytes = Buffer.alloc(2 ** 31 + 1); // zeros: calloc'd, cheap to make
    assert.throws(() => createHash("sha256").update(bytes), /too long/);
    // `head -c 2147483649 /dev/zero | sha256sum`
    assert.equal(sha256HexAnySize(bytes), "b8030a8ab89280935633d8d991da3d9907c0f12e8b6fc3bfc515f4d440872b6e");
  });
});
