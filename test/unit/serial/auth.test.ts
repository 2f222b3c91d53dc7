import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { isSealboxError } from "../../../daemon/errors.js";
import { createMemoryLogger } from "../../../daemon/log.js";
import { AuthGate, clientProof, loadPskFile, parsePsk, proofsEqual, serverProof, authTranscript } from "../../../daemon/transports/serial-auth.js";
import { createMemoryAuditLog, TEST_PSK } from "../../helpers/serial-fakes.js";

const enc = new TextEncoder();
const hello = enc.encode('{"versions":[1],"maxPayloadBytes":1024,"nonce":"' + "07".repeat(32) + '"}');
const challenge = enc.encode('{"version":1,"nonce":"' + "09".repeat(32) + '"}');

test("client and server proofs differ (distinct labels) and bind both payloads", () => {
  const c = clientProof(TEST_PSK, hello, challenge);
  const s = serverProof(TEST_PSK, hello, challenge);
  assert.equal(c.length, 32);
  assert.ok(!proofsEqual(c, s));
  assert.ok(!proofsEqual(c, clientProof(TEST_PSK, hello, enc.encode('{"version":1,"nonce":"' + "08".repeat(32) + '"}'))));
  assert.ok(!proofsEqual(c, clientProof(TEST_PSK, enc.encode("{}"), challenge)));
  assert.ok(!proofsEqual(c, clientProof(new Uint8Array(32), hello, challenge)));
  assert.ok(proofsEqual(c, clientProof(TEST_PSK, hello, challenge)));
  assert.ok(!proofsEqual(c, c.subarray(0, 31)), "length mismatch is unequal, not an exception");
});

test("the proof equals HMAC-SHA-256 as computed by openssl (an independent implementation)", () => {
  const transcript = authTranscript(hello, challenge);
  assert.deepEqual(transcript.subarray(0, 32), new Uint8Array(createHash("sha256").update(hello).digest()));
  const msg = Buffer.concat([Buffer.from("sealbox-serial-v1 client"), Buffer.of(0), transcript]);
  const out = execFileSync("openssl", ["dgst", "-sha256", "-mac", "HMAC", "-macopt", `hexkey:${Buffer.from(TEST_PSK).toString("hex")}`, "-hex"], { input: msg }).toString();
  assert.equal(out.trim().split(/\s+/).pop(), Buffer.from(clientProof(TEST_PSK, hello, challenge)).toString("hex"));
});

test("parsePsk: hex with whitespace, 16–64 bytes", () => {
  assert.deepEqual(parsePsk("00 01\n02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f\n"), Uint8Array.from({ length: 16 }, (_, i) => i));
  for (const bad of ["", "abc", "zz".repeat(16), "00".repeat(15), "00".repeat(65)]) assert.throws(() => parsePsk(bad), (e) => isSealboxError(e, "BAD_CONFIG"), bad);
});

test("loadPskFile refuses a key file other users can read, and a missing one", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sealbox-psk-"));
  try {
    const f = join(dir, "psk");
    await writeFile(f, Buffer.from(TEST_PSK).toString("hex") + "\n", { mode: 0o600 });
    assert.deepEqual(await loadPskFile(f), TEST_PSK);
    await chmod(f, 0o644);
    await assert.rejects(loadPskFile(f), (e) => isSealboxError(e, "BAD_CONFIG") && /other users/.test(e.message));
    assert.deepEqual(await loadPskFile(f, { allowOtherAccess: true }), TEST_PSK);
    await assert.rejects(loadPskFile(join(dir, "nope")), (e) => isSealboxError(e, "BAD_CONFIG"));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("AuthGate: backoff doubles per consecutive failure up to the cap, each failure audited, success resets", async () => {
  let now = 1_000_000;
  const audit = createMemoryAuditLog();
  const logger = createMemoryLogger();
  const gate = new AuthGate({ auditLog: audit, peer: "/dev/ttyS9", logger, initialBackoffMs: 1000, maxBackoffMs: 5000, now: () => now });
  assert.equal(gate.retryAfterMs(), 0);
  assert.equal(await gate.fail("bad-mac"), 1000);
  assert.equal(gate.retryAfterMs(), 1000);
  assert.equal(gate.retryAfterMs(), 1000);
  now += 1000;
  assert.equal(gate.retryAfterMs(), 0);
  assert.equal(await gate.fail("bad-mac"), 2000);
  now += 2000;
  assert.equal(await gate.fail("malformed-auth"), 4000);
  now += 4000;
  assert.equal(await gate.fail("bad-mac"), 5000, "capped");
  assert.equal(audit.events.length, 4);
  const e = audit.events[1]!;
  assert.equal(e.outcome, "refused");
  assert.equal(e.action, "serial.auth");
  assert.deepEqual(e.actor, { role: "integrator", transport: "serial", peer: "/dev/ttyS9" });
  assert.equal(e.details!.rejectedDuringBackoff, 2, "refusals during the backoff are reported in the next record");
  assert.equal(e.details!.consecutiveFailures, 2);
  assert.ok(logger.lines.some((l) => l.includes("warn") && l.includes("serial authentication failed")));
  now += 5000;
  await gate.succeed({ version: 1 });
  assert.equal(audit.events[4]!.outcome, "success");
  assert.equal(audit.events[4]!.details!.previousFailures, 4);
  assert.equal(await gate.fail("bad-mac"), 1000, "a success resets the backoff");
});

test("AuthGate: a failure is refused even when the audit log is down (logged), a success is not allowed then", async () => {
  const audit = createMemoryAuditLog();
  audit.failWith = "LEDGER_WRITE_FAILED";
  const logger = createMemoryLogger();
  const gate = new AuthGate({ auditLog: audit, peer: "p", logger });
  assert.equal(await gate.fail("bad-mac"), 1000);
  assert.ok(logger.lines.some((l) => l.includes("error") && l.includes("could not audit")));
  await assert.rejects(gate.succeed({}), (e) => isSealboxError(e, "LEDGER_WRITE_FAILED"));
  assert.equal(gate.successes, 0);
});
