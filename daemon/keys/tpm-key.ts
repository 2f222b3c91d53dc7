// The box's signing key, sealed in the TPM.
//
// provisionTpmKey: an Ed25519 seed from TPM randomness (read through an
// encrypted session) mixed with the OS's, sealed under the storage primary
// key (recreated from its template each time) to a PolicyPCR policy, the
// blobs and key.json written to DIR/keys/, and the anti-rollback NV counter
// defined (or kept: a counter never goes back) and incremented once.
//
// openTpmSigner: unseal at start (salted policy session, encrypted response),
// build a Node KeyObject, wipe the buffers, return a Signer. Refuses with
// PCR_MISMATCH naming the PCR that changed, KEY_UNAVAILABLE when the TPM is
// not the one the key was sealed in; the transport's own errors
// (TPM_UNAVAILABLE / TPM_TIMEOUT / TPM_PROTOCOL) pass through.

import { randomBytes, sign as cryptoSign } from "node:crypto";
import { hostname } from "node:os";
import { SealboxError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AuditLog, JsonValue } from "../ledger/types.js";
import type { Signer } from "./signer.js";
import type { TpmTransport } from "../../hal/index.js";
import { GetRandom } from "../../hal/tpm/commands/basic.js";
import { TPMA_SESSION, TPM_ALG, TPM_SE } from "../../hal/tpm/constants.js";
import { startAuthSession } from "../../hal/tpm/auth-session.js";
import { hex } from "../../hal/tpm/marshal.js";
import { DEFAULT_NV_INDEX, checkOwnerNvIndex, defineCounter, incrementCounter, isSealboxCounter, readCounter, readNvPublic } from "../../hal/tpm/nv-counter.js";
import { readPcrs } from "../../hal/tpm/pcrs.js";
import { pcrCompositeDigest, policyPcrDigest } from "../../hal/tpm/policy.js";
import { createAttestationKey, createSrk } from "../../hal/tpm/primary.js";
import { isTpmRc } from "../../hal/tpm/rc.js";
import { sealSecret, trialPcrPolicy, unsealWithPcrPolicy } from "../../hal/tpm/seal.js";
import { Tpm } from "../../hal/tpm/tpm.js";
import { isValidKeyName, keyFromSeed, mixSeed, noteKeyId, noteVkey } from "./ed25519-seed.js";
import { SEALED_PRIVATE_FILE, SEALED_PUBLIC_FILE, type TpmKeyMetadata, keyJsonExists, readTpmKey, writeTpmKey } from "./tpm-key-file.js";

export const DEFAULT_PCRS: readonly number[] = [7];

export interface ProvisionTpmKeyOptions {
  /** PCRs (SHA-256 bank) the seed is sealed to. Defaults to [7] (Secure Boot state). */
  pcrs?: readonly number[];
  /** Replace an existing key. Without it an existing key.json is KEY_EXISTS. */
  force?: boolean;
  /** NV index of the anti-rollback counter. Defaults to 0x01005ea1. */
  nvIndex?: number;
  /** C2SP key name. Defaults to "sealbox/<hostname>". */
  name?: string;
  /** Owner hierarchy authValue; empty on a freshly cleared TPM. */
  ownerAuth?: Uint8Array;
  /** When given, the provisioning is recorded (write-ahead, then outcome) — no audit, no action. */
  audit?: AuditLog;
  log?: Logger;
}

export interface ProvisionTpmKeyResult {
  meta: TpmKeyMetadata;
  vkey: string;
  keyId: string;
  counter: bigint;
  replaced: boolean;
}

const ACTOR = { role: "admin", transport: "cli", peer: "-" };

function pcrList(pcrs: readonly number[]): number[] {
  const list = [...new Set(pcrs)].sort((a, b) => a - b);
  if (list.length === 0 || list.some((p) => !Number.isInteger(p) || p < 0 || p > 23)) {
    throw new SealboxError("BAD_ARGUMENT", `PCRs must be indices 0–23, got ${pcrs.join(",")}`);
  }
  return list;
}

export async function provisionTpmKey(stateDir: string, transport: TpmTransport, options: ProvisionTpmKeyOptions = {}): Promise<ProvisionTpmKeyResult> {
  const pcrs = pcrList(options.pcrs ?? DEFAULT_PCRS);
  const nvIndex = options.nvIndex ?? DEFAULT_NV_INDEX;
  checkOwnerNvIndex(nvIndex);
  const existing = await keyJsonExists(stateDir);
  if (existing && !options.force) {
    throw new SealboxError("KEY_EXISTS", `a ${String(existing.origin ?? "unknown")} key is already provisioned in ${stateDir}/keys (use --force to replace it)`);
  }
  const tpm = new Tpm(transport, { log: options.log });
  await tpm.startup();
  const bank = TPM_ALG.SHA256;
  const selection = [{ hash: bank, pcrs }];

  const seed = await tpm.scoped(async (scope) => {
    const srk = await createSrk(tpm, scope, { ownerAuth: options.ownerAuth });
    // GetRandom's answer comes back encrypted under a session salted to the SRK.
    const session = await startAuthSession(tpm, scope, { sessionType: TPM_SE.HMAC, saltKey: { handle: srk.handle, public: srk.public } });
    session.attributes = TPMA_SESSION.continueSession | TPMA_SESSION.encrypt;
    const tpmRandom = await tpm.run(GetRandom(32), [session]);
    if (tpmRandom.length !== 32) throw new SealboxError("TPM_PROTOCOL", `TPM2_GetRandom(32) returned ${tpmRandom.length} bytes`);
    const osRandom = new Uint8Array(randomBytes(32));
    try {
      return mixSeed(tpmRandom, osRandom);
    } finally {
      tpmRandom.fill(0);
      osRandom.fill(0);
    }
  });

  try {
    const key = keyFromSeed(seed);
    const name = options.name ?? `sealbox/${hostname() || "box"}`;
    if (!isValidKeyName(name)) throw new SealboxError("BAD_ARGUMENT", `key name '${name}' is not a valid signed-note key name (no spaces or '+')`);
    const keyId = hex(noteKeyId(name, key.publicKey));
    const vkey = noteVkey(name, key.publicKey);
    const values = await readPcrs(tpm, bank, pcrs);
    const policy = policyPcrDigest(bank, selection, pcrCompositeDigest(bank, pcrs.map((p) => values.get(p)!)));

    const audit = async (outcome: "requested" | "success" | "failure", details: Record<string, JsonValue>) => {
      await options.audit?.append({ actor: ACTOR, category: "key", action: "key.provision", target: keyId, outcome, details: { origin: "tpm", vkey, pcrs, nv_index: nvIndex, replaces: existing ? String(existing.origin ?? "unknown") : null, ...details } });
    };
    await audit("requested", {});

    try {
      const made = await tpm.scoped(async (scope) => {
        // The TPM must agree with our offline policy (same bank, same values) before we trust it with the seed.
        const trial = await trialPcrPolicy(tpm, scope, selection);
        if (hex(trial) !== hex(policy)) throw new SealboxError("TPM_ERROR", "the PCRs changed while provisioning (the TPM's policy digest differs); try again");
        const srk = await createSrk(tpm, scope, { ownerAuth: options.ownerAuth });
        const blob = await sealSecret(tpm, scope, srk, seed, policy);
        // Prove the blob unseals to the same seed before anything is written.
        const back = await unsealWithPcrPolicy(tpm, scope, srk, blob, selection);
        const same = hex(back) === hex(seed);
        back.fill(0);
        if (!same) throw new SealboxError("TPM_ERROR", "the sealed seed did not unseal to the same value");
        const ak = await createAttestationKey(tpm, scope, { ownerAuth: options.ownerAuth });
        return { blob, srkName: srk.name, ak };
      });

      // The anti-rollback counter: keep ours if it exists (it can never go back anyway).
      let defined = false;
      try {
        const pub = await readNvPublic(tpm, nvIndex);
        if (!isSealboxCounter(pub.nvPublic)) {
          throw new SealboxError("BAD_CONFIG", `NV index 0x${nvIndex.toString(16)} is in use by something that is not a sealbox counter (attributes 0x${pub.nvPublic.attributes.toString(16)}); choose another --nv-index`);
        }
      } catch (e) {
        if (!isTpmRc(e, "TPM_RC_HANDLE")) throw e;
        await defineCounter(tpm, nvIndex, { ownerAuth: options.ownerAuth });
        defined = true;
      }
      await incrementCounter(tpm, nvIndex);
      const counter = await readCounter(tpm, nvIndex);

      const akPub = made.ak.public.type === TPM_ALG.ECC ? made.ak.public.unique : undefined;
      const meta: TpmKeyMetadata = {
        origin: "tpm",
        name,
        public_key: Buffer.from(key.publicKey).toString("base64"),
        key_id: keyId,
        vkey,
        pcr_bank: "sha256",
        pcrs,
        pcr_values: Object.fromEntries(pcrs.map((p) => [String(p), hex(values.get(p)!)])),
        policy_digest: hex(policy),
        srk_name: hex(made.srkName),
        nv_index: nvIndex,
        nv_baseline: counter.toString(),
        sealed_public: SEALED_PUBLIC_FILE,
        sealed_private: SEALED_PRIVATE_FILE,
        ...(akPub ? { attestation_key: { name: hex(made.ak.name), x: hex(akPub.x), y: hex(akPub.y) } } : {}),
        created: new Date().toISOString(),
      };
      await writeTpmKey(stateDir, meta, made.blob);
      await audit("success", { counter: counter.toString(), counter_defined: defined, ...(meta.attestation_key ? { attestation_key: { ...meta.attestation_key } } : {}) });
      options.log?.notice("TPM key provisioned", { key_id: keyId, pcrs: pcrs.join(","), nv_index: `0x${nvIndex.toString(16)}`, counter: counter.toString() });
      return { meta, vkey, keyId, counter, replaced: existing !== undefined };
    } catch (e) {
      // Record the failure if we can; the original error is what the caller sees.
      await audit("failure", { error: e instanceof Error ? e.message : String(e) }).catch((auditError: unknown) =>
        options.log?.error("could not record the failed provisioning", { error: auditError instanceof Error ? auditError : String(auditError) }),
      );
      throw e;
    }
  } finally {
    seed.fill(0);
  }
}

export interface TpmSigner extends Signer {
  readonly origin: "tpm";
  readonly meta: TpmKeyMetadata;
}

export interface OpenTpmSignerOptions {
  ownerAuth?: Uint8Array;
  log?: Logger;
}

/** Explains a failed unseal: which PCRs differ from their sealed values. */
async function pcrMismatch(tpm: Tpm, meta: TpmKeyMetadata, cause: unknown): Promise<SealboxError> {
  const now = await readPcrs(tpm, TPM_ALG.SHA256, meta.pcrs);
  const changed = meta.pcrs.filter((p) => hex(now.get(p)!) !== meta.pcr_values[String(p)]);
  const detail = changed.map((p) => `PCR ${p} was ${meta.pcr_values[String(p)]!.slice(0, 16)}…, is now ${hex(now.get(p)!).slice(0, 16)}…`).join("; ");
  const message =
    changed.length > 0
      ? `the signing key is sealed to PCRs ${meta.pcrs.join(",")} and ${changed.length === 1 ? "PCR " + changed[0] + " has" : "PCRs " + changed.join(",") + " have"} changed (${detail}): the box's firmware, boot chain or Secure Boot state was changed. The daemon will not run unsigned; restore the boot state or re-provision the key (docs/operations.md)`
      : `the TPM refused the sealing policy for PCRs ${meta.pcrs.join(",")} although their values look unchanged`;
  return new SealboxError("PCR_MISMATCH", message, { cause, details: { changed, pcrs: meta.pcrs } });
}

export async function openTpmSigner(stateDir: string, transport: TpmTransport, options: OpenTpmSignerOptions = {}): Promise<TpmSigner> {
  const { meta, blob } = await readTpmKey(stateDir);
  const tpm = new Tpm(transport, { log: options.log });
  await tpm.startup();
  const selection = [{ hash: TPM_ALG.SHA256, pcrs: meta.pcrs }];
  let seed: Uint8Array;
  try {
    seed = await tpm.scoped(async (scope) => {
      const srk = await createSrk(tpm, scope, { ownerAuth: options.ownerAuth });
      if (hex(srk.name) !== meta.srk_name) {
        throw new SealboxError("KEY_UNAVAILABLE", "this TPM's storage key is not the one the signing key was sealed under: the TPM was cleared or is another TPM. Re-provision the key (sealbox keys provision --force)", {
          details: { expected: meta.srk_name, found: hex(srk.name) },
        });
      }
      return unsealWithPcrPolicy(tpm, scope, srk, blob, selection);
    });
  } catch (e) {
    if (isTpmRc(e, "TPM_RC_POLICY_FAIL") || isTpmRc(e, "TPM_RC_PCR_CHANGED")) throw await pcrMismatch(tpm, meta, e);
    if (isTpmRc(e)) {
      throw new SealboxError("KEY_UNAVAILABLE", `the sealed signing key could not be loaded or unsealed (${e.message}): the blobs in ${stateDir}/keys are damaged or belong to another TPM`, { cause: e });
    }
    throw e;
  }
  let key;
  try {
    key = keyFromSeed(seed);
  } finally {
    seed.fill(0);
  }
  if (Buffer.from(key.publicKey).toString("base64") !== meta.public_key) {
    throw new SealboxError("KEY_UNAVAILABLE", "the unsealed key does not match the public key in keys/key.json");
  }
  let privateKey: typeof key.privateKey | undefined = key.privateKey;
  options.log?.info("TPM signing key unsealed", { key_id: meta.key_id, pcrs: meta.pcrs.join(",") });
  return {
    name: meta.name,
    origin: "tpm",
    publicKey: key.publicKey,
    meta,
    sign(message: Uint8Array): Uint8Array {
      if (!privateKey) throw new SealboxError("KEY_UNAVAILABLE", "the signing key was closed");
      return new Uint8Array(cryptoSign(null, message, privateKey));
    },
    close(): void {
      privateKey = undefined;
    },
  };
}

export interface TpmKeyStatus {
  origin: "tpm";
  name: string;
  key_id: string;
  vkey: string;
  pcr_bank: string;
  pcrs: number[];
  policy_digest: string;
  nv_index: number;
  nv_baseline: string;
  /** The counter's value now; absent when no TPM was given. */
  counter?: string;
  created: string;
}

/** What `sealbox keys show` prints for a TPM key; reads the counter when a transport is given. */
export async function showTpmKey(stateDir: string, transport?: TpmTransport): Promise<TpmKeyStatus> {
  const { meta } = await readTpmKey(stateDir);
  const status: TpmKeyStatus = {
    origin: "tpm",
    name: meta.name,
    key_id: meta.key_id,
    vkey: meta.vkey,
    pcr_bank: meta.pcr_bank,
    pcrs: meta.pcrs,
    policy_digest: meta.policy_digest,
    nv_index: meta.nv_index,
    nv_baseline: meta.nv_baseline,
    created: meta.created,
  };
  if (transport) {
    const tpm = new Tpm(transport);
    await tpm.startup();
    status.counter = (await readCounter(tpm, meta.nv_index)).toString();
  }
  return status;
}
