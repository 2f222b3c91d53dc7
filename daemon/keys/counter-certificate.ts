// Hardware evidence for auditors: the TPM's attestation key (P-256, a
// primary under the owner hierarchy, its public point recorded in key.json at
// provisioning) signs TPM2_NV_Certify over the anti-rollback counter with
// qualifyingData = SHA-256(the current signed checkpoint). The certificate
// says, in the TPM's own words, "when this checkpoint existed, the counter
// was V". `sealbox verify` can check it offline with only the AK's public key.
//
// Trust: the AK is trusted on first use (its point is in key.json and in the
// key.provision ledger record); no EK certificate chain is checked.

import { createHash, createPublicKey, verify as cryptoVerify } from "node:crypto";
import { readFile, writeFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { SealboxError } from "../errors.js";
import { NV_Certify } from "../../hal/tpm/commands/attest.js";
import { TPM_ST } from "../../hal/tpm/constants.js";
import { hex } from "../../hal/tpm/marshal.js";
import { readNvPublic } from "../../hal/tpm/nv-counter.js";
import { createAttestationKey } from "../../hal/tpm/primary.js";
import { PasswordSession } from "../../hal/tpm/sessions.js";
import { decodeAttest } from "../../hal/tpm/structures/attest.js";
import type { Tpm } from "../../hal/tpm/tpm.js";
import { keysDir, type TpmKeyMetadata } from "./tpm-key-file.js";

export const COUNTER_CERT_FORMAT = "sealbox-counter-certificate-v1";
export const COUNTER_CERT_FILE = "counter-certificate.json";

export interface CounterCertificate {
  format: typeof COUNTER_CERT_FORMAT;
  nv_index: number;
  /** hex Name of the NV index (nameAlg ‖ H(TPMS_NV_PUBLIC)). */
  nv_name: string;
  /** The counter value the TPM certified (decimal). */
  counter: string;
  /** hex SHA-256 of the checkpoint note the certificate is bound to. */
  checkpoint_sha256: string;
  /** That checkpoint note itself (C2SP signed note), so the certificate stands alone: check its signature with the box's vkey. */
  checkpoint: string;
  /** base64 TPMS_ATTEST, exactly as signed. */
  attest: string;
  /** ECDSA P-256 / SHA-256 signature, r and s in hex. */
  signature: { r: string; s: string };
  /** The attestation key's public point (hex). */
  attestation_key: { x: string; y: string };
}

function fail(message: string, details: Record<string, unknown> = {}): SealboxError {
  return new SealboxError("VERIFY_FAILED", `counter certificate: ${message}`, { details });
}

const sha256 = (b: Uint8Array | string) => new Uint8Array(createHash("sha256").update(b).digest());

/** Asks the TPM to certify the counter, bound to the checkpoint note. */
export async function certifyCounter(tpm: Tpm, meta: TpmKeyMetadata, checkpointNote: string): Promise<CounterCertificate> {
  if (!meta.attestation_key) throw new SealboxError("UNSUPPORTED", "this key was provisioned without an attestation key");
  const expectedAk = meta.attestation_key;
  const { nvName } = await readNvPublic(tpm, meta.nv_index);
  const digest = sha256(checkpointNote);
  const result = await tpm.scoped(async (scope) => {
    const ak = await createAttestationKey(tpm, scope);
    if (hex(ak.name) !== expectedAk.name) throw new SealboxError("KEY_UNAVAILABLE", "the TPM's attestation key differs from the one in key.json (the TPM was cleared or replaced)");
    const nvh = { handle: meta.nv_index, name: nvName };
    return tpm.run(NV_Certify({ handle: ak.handle, name: ak.name }, nvh, nvh, digest, 8, 0), [new PasswordSession(), new PasswordSession()]);
  });
  const attest = decodeAttest(result.attest);
  if (attest.attested.type !== TPM_ST.ATTEST_NV) throw new SealboxError("TPM_PROTOCOL", "NV_Certify returned a non-NV attestation");
  const counter = new DataView(attest.attested.nvContents.buffer, attest.attested.nvContents.byteOffset).getBigUint64(0);
  return {
    format: COUNTER_CERT_FORMAT,
    nv_index: meta.nv_index,
    nv_name: hex(nvName),
    counter: counter.toString(),
    checkpoint_sha256: hex(digest),
    checkpoint: checkpointNote,
    attest: Buffer.from(result.attest).toString("base64"),
    signature: { r: hex(result.signature.r), s: hex(result.signature.s) },
    attestation_key: { x: expectedAk.x, y: expectedAk.y },
  };
}

function pad32(h: string): Buffer {
  const b = Buffer.from(h, "hex");
  if (b.length > 32) throw fail("signature component longer than 32 bytes");
  return Buffer.concat([Buffer.alloc(32 - b.length), b]);
}

/**
 * Verifies a certificate offline: the AK signature over TPMS_ATTEST, that the
 * attestation binds this checkpoint, names this NV index, and holds the
 * counter value claimed. `trustedAk` is the AK point the auditor trusts
 * (from key.json / the provisioning record); when given it must match.
 * Returns the certified counter value.
 */
export function verifyCounterCertificate(cert: unknown, checkpointNote: string, trustedAk?: { x: string; y: string }): bigint {
  if (typeof cert !== "object" || cert === null) throw fail("not an object");
  const c = cert as Partial<CounterCertificate>;
  if (c.format !== COUNTER_CERT_FORMAT) throw fail(`format is ${JSON.stringify(c.format)}`);
  const hexField = (v: unknown, what: string, len?: number): string => {
    if (typeof v !== "string" || !/^(?:[0-9a-f]{2})+$/.test(v) || (len !== undefined && v.length !== len * 2)) throw fail(`${what} is not ${len ?? "some"} bytes of hex`);
    return v;
  };
  const ak = { x: hexField(c.attestation_key?.x, "attestation_key.x", 32), y: hexField(c.attestation_key?.y, "attestation_key.y", 32) };
  if (trustedAk && (trustedAk.x !== ak.x || trustedAk.y !== ak.y)) throw fail("signed by an attestation key other than the trusted one");
  if (typeof c.attest !== "string" || c.attest.length > 4096) throw fail("attest is missing or too long");
  const attestBytes = new Uint8Array(Buffer.from(c.attest, "base64"));
  const sig = Buffer.concat([pad32(hexField(c.signature?.r, "signature.r")), pad32(hexField(c.signature?.s, "signature.s"))]);
  const key = createPublicKey({ key: { kty: "EC", crv: "P-256", x: Buffer.from(ak.x, "hex").toString("base64url"), y: Buffer.from(ak.y, "hex").toString("base64url") }, format: "jwk" });
  if (!cryptoVerify("sha256", attestBytes, { key, dsaEncoding: "ieee-p1363" }, sig)) throw fail("the attestation key's signature does not verify");
  let attest;
  try {
    attest = decodeAttest(attestBytes);
  } catch (e) {
    throw fail(`TPMS_ATTEST does not decode: ${(e as Error).message}`);
  }
  if (attest.attested.type !== TPM_ST.ATTEST_NV) throw fail("not an NV certification");
  const want = hex(sha256(checkpointNote));
  if (hex(attest.extraData) !== want) throw fail("bound to another checkpoint", { expected: want, found: hex(attest.extraData) });
  if (c.checkpoint_sha256 !== want) throw fail("checkpoint_sha256 does not match the checkpoint");
  if (hex(attest.attested.indexName) !== hexField(c.nv_name, "nv_name")) throw fail("certifies another NV index");
  if (attest.attested.nvContents.length !== 8 || attest.attested.offset !== 0) throw fail("does not certify the whole 8-byte counter");
  const value = new DataView(attest.attested.nvContents.buffer, attest.attested.nvContents.byteOffset).getBigUint64(0);
  if (c.counter !== value.toString()) throw fail(`claims counter ${String(c.counter)} but the TPM certified ${value}`);
  return value;
}

export async function writeCounterCertificate(stateDir: string, cert: CounterCertificate): Promise<void> {
  const path = join(keysDir(stateDir), COUNTER_CERT_FILE);
  await writeFile(`${path}.tmp`, JSON.stringify(cert, null, 2) + "\n", { mode: 0o644 });
  await rename(`${path}.tmp`, path);
}

export async function readCounterCertificate(stateDir: string): Promise<unknown | undefined> {
  try {
    const text = await readFile(join(keysDir(stateDir), COUNTER_CERT_FILE), "utf8");
    if (text.length > 64 * 1024) throw fail("file larger than 64 KiB");
    return JSON.parse(text) as unknown;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (e instanceof SyntaxError) throw fail(`not JSON: ${e.message}`);
    throw e;
  }
}
