// Response parsing and structure decoding against hostile input: every
// recorded response truncated at every offset (with its size field patched so
// the body parser is reached), seeded random mutations, oversized fields. A
// decoder may accept or refuse, but it refuses only with TPM_PROTOCOL (or a
// TPM_ERROR when the mutation made a valid error code) — never a RangeError,
// a TypeError or a hang.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { isSealboxError } from "../../../daemon/errors.js";
import { GetCapability, GetRandom } from "../../../hal/tpm/commands/basic.js";
import { NV_Certify, Quote } from "../../../hal/tpm/commands/attest.js";
import { CreatePrimary, Create, Load, Unseal } from "../../../hal/tpm/commands/object.js";
import { NV_Read, NV_ReadPublic } from "../../../hal/tpm/commands/nv.js";
import { PCR_Read } from "../../../hal/tpm/commands/pcr.js";
import { PolicyGetDigest, StartAuthSession } from "../../../hal/tpm/commands/session.js";
import { type TpmCommand, decodeParameters, parseCommand, parseResponse, plainHandle } from "../../../hal/tpm/command.js";
import { TPM_ALG, TPM_CAP, TPM_CC, TPM_RH } from "../../../hal/tpm/constants.js";
import { fromHex } from "../../../hal/tpm/marshal.js";
import { decodeAttest, decodeSignature } from "../../../hal/tpm/structures/attest.js";
import { decodePublic2b } from "../../../hal/tpm/structures/public.js";
import { srkTemplate } from "../../../hal/tpm/templates.js";
import { SYM_NULL } from "../../../hal/tpm/structures/public.js";

const fixture = JSON.parse(readFileSync(new URL("../../../../test/fixtures/tpm/tpm2-tools-traffic.json", import.meta.url), "utf8")) as {
  steps: { name: string; exchanges: { command: string; response: string }[] }[];
};

const h = plainHandle(0x80000000);
const commands: Record<number, TpmCommand<unknown>> = {
  [TPM_CC.GetRandom]: GetRandom(16),
  [TPM_CC.GetCapability]: GetCapability(TPM_CAP.TPM_PROPERTIES, 0x100, 127),
  [TPM_CC.PCR_Read]: PCR_Read([{ hash: TPM_ALG.SHA256, pcrs: [7] }]),
  [TPM_CC.CreatePrimary]: CreatePrimary(plainHandle(TPM_RH.OWNER), { template: srkTemplate() }),
  [TPM_CC.Create]: Create(h, { template: srkTemplate() }),
  [TPM_CC.Load]: Load(h, new Uint8Array(0), new Uint8Array(0)),
  [TPM_CC.Unseal]: Unseal(h),
  [TPM_CC.StartAuthSession]: StartAuthSession({ tpmKey: TPM_RH.NULL, bind: TPM_RH.NULL, nonceCaller: new Uint8Array(32), encryptedSalt: new Uint8Array(0), sessionType: 0, symmetric: SYM_NULL, authHash: TPM_ALG.SHA256 }),
  [TPM_CC.PolicyGetDigest]: PolicyGetDigest(0x03000000),
  [TPM_CC.NV_ReadPublic]: NV_ReadPublic(plainHandle(0x01005ea1)),
  [TPM_CC.NV_Read]: NV_Read(plainHandle(0x01005ea1), plainHandle(0x01005ea1), 8, 0),
  [TPM_CC.NV_Certify]: NV_Certify(h, h, h, new Uint8Array(0), 8, 0),
  [TPM_CC.Quote]: Quote(h, new Uint8Array(0), []),
};

interface Sample {
  name: string;
  cmd: TpmCommand<unknown>;
  sessions: number;
  response: Uint8Array;
}

const samples: Sample[] = [];
for (const step of fixture.steps) {
  for (const e of step.exchanges) {
    const code = parseInt(e.command.slice(12, 20), 16);
    let cmd = commands[code];
    if (code === TPM_CC.GetCapability) {
      const p = new DataView(fromHex(e.command.slice(20)).buffer);
      cmd = GetCapability(p.getUint32(0), p.getUint32(4), p.getUint32(8));
    }
    const response = fromHex(e.response);
    if (!cmd || parseInt(e.response.slice(12, 20), 16) !== 0) continue;
    const sessions = parseCommand(fromHex(e.command), cmd.handles.length).auths.length;
    samples.push({ name: `${step.name}/0x${code.toString(16)}`, cmd, sessions, response });
  }
}

function decode(s: Sample, bytes: Uint8Array): void {
  const r = parseResponse(bytes, s.cmd.code, s.cmd.responseHandles, s.sessions);
  decodeParameters(s.cmd, r.handles, r.parameters);
}

function allowed(e: unknown): boolean {
  return isSealboxError(e, "TPM_PROTOCOL") || isSealboxError(e, "TPM_ERROR");
}

function withSize(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  if (out.length >= 6) new DataView(out.buffer).setUint32(2, out.length);
  return out;
}

test("the recorded responses decode (the baseline the mutations start from)", () => {
  assert.ok(samples.length >= 12, `${samples.length} samples`);
  for (const s of samples) decode(s, s.response);
});

test("every response truncated at every offset is refused with TPM_PROTOCOL (size field as sent, and patched to match)", () => {
  for (const s of samples) {
    for (let cut = 0; cut < s.response.length; cut++) {
      const truncated = s.response.subarray(0, cut);
      assert.throws(() => decode(s, truncated), (e) => isSealboxError(e, "TPM_PROTOCOL"), `${s.name} cut at ${cut}`);
      if (cut >= 10) assert.throws(() => decode(s, withSize(truncated)), (e) => allowed(e), `${s.name} cut at ${cut}, size patched`);
    }
  }
});

test("bytes appended to a response are refused", () => {
  for (const s of samples) assert.throws(() => decode(s, withSize(new Uint8Array([...s.response, 0]))), (e) => isSealboxError(e, "TPM_PROTOCOL"), s.name);
});

test("seeded random mutations never escape as anything but a SealboxError", () => {
  let seed = 0x5eab0c5;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const s of samples) {
    for (let i = 0; i < 300; i++) {
      const m = s.response.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) {
        const at = 10 + Math.floor(rand() * Math.max(1, m.length - 10));
        if (at < m.length) m[at] = rand() < 0.3 ? 0xff : Math.floor(rand() * 256);
      }
      try {
        decode(s, m);
      } catch (e) {
        assert.ok(allowed(e), `${s.name} mutation ${i}: ${(e as Error).stack}`);
      }
    }
  }
});

test("an error response carrying a body, a wrong tag and a missing session area are refused", () => {
  const s = samples[0]!;
  assert.throws(() => parseResponse(fromHex("80010000000c0000099d0000"), s.cmd.code, 0, 0), (e) => isSealboxError(e, "TPM_PROTOCOL") && /extra bytes/.test((e as Error).message));
  assert.throws(() => parseResponse(fromHex("c0010000000a00000000"), s.cmd.code, 0, 0), (e) => isSealboxError(e, "TPM_PROTOCOL") && /tag/.test((e as Error).message));
  assert.throws(() => parseResponse(fromHex("80010000000a00000000"), s.cmd.code, 0, 1), (e) => isSealboxError(e, "TPM_PROTOCOL") && /no session area/.test((e as Error).message));
  assert.throws(() => parseResponse(fromHex("8002000000120000000000000004aabbccdd"), s.cmd.code, 0, 0), (e) => isSealboxError(e, "TPM_PROTOCOL") && /sessions in the response/.test((e as Error).message));
  assert.throws(() => parseResponse(fromHex("800200000012000000000000ffff00000000"), s.cmd.code, 0, 1), (e) => isSealboxError(e, "TPM_PROTOCOL") && /parameterSize/.test((e as Error).message));
});

test("TPMS_ATTEST, TPMT_SIGNATURE and TPM2B_PUBLIC decoders refuse truncation, bad magic and unknown types", () => {
  const certify = samples.find((s) => s.cmd.code === TPM_CC.NV_Certify)!;
  const r = parseResponse(certify.response, certify.cmd.code, 0, certify.sessions);
  const { attest, signature } = decodeParameters(certify.cmd, r.handles, r.parameters) as { attest: Uint8Array; signature: unknown };
  assert.ok(signature);
  decodeAttest(attest);
  for (let cut = 0; cut < attest.length; cut++) assert.throws(() => decodeAttest(attest.subarray(0, cut)), (e) => isSealboxError(e, "TPM_PROTOCOL"));
  const badMagic = attest.slice();
  badMagic[0] = 0;
  assert.throws(() => decodeAttest(badMagic), (e) => isSealboxError(e, "TPM_PROTOCOL") && /magic/.test((e as Error).message));
  const badType = attest.slice();
  badType[5] = 0x99;
  assert.throws(() => decodeAttest(badType), (e) => isSealboxError(e, "TPM_PROTOCOL") && /attestation type/.test((e as Error).message));
  assert.throws(() => decodeSignature(fromHex("0001000b0000")), (e) => isSealboxError(e, "TPM_PROTOCOL") && /not ECDSA/.test((e as Error).message));
  assert.throws(() => decodePublic2b(fromHex("0006000100000000")), (e) => isSealboxError(e, "TPM_PROTOCOL"));
  assert.throws(() => decodePublic2b(fromHex("ffff")), (e) => isSealboxError(e, "TPM_PROTOCOL"));
});
