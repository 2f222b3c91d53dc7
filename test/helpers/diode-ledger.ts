// An in-memory ledger for diode tests: a plain object implementing the
// diode's reader seam and AuditLog with the ledger's own pure code — RFC 8785
// records, an RFC 9162 tree (compact range + node map), proofs from proof.ts,
// C2SP checkpoints signed with a real Ed25519 key. Same bytes as the LMDB
// ledger would produce, without the storage; the LMDB ledger is used where
// a test is about the real daemon.

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import type { DiodeLedgerReader } from "../../daemon/diode/block-builder.js";
import type { Signer } from "../../daemon/keys/signer.js";
import { formatCheckpoint } from "../../daemon/ledger/checkpoint.js";
import { CompactRange } from "../../daemon/ledger/compact-range.js";
import { leafHash } from "../../daemon/ledger/merkle.js";
import { formatVkey, signNote } from "../../daemon/ledger/note.js";
import { inclusionProof } from "../../daemon/ledger/proof.js";
import { encodeRecord } from "../../daemon/ledger/record.js";
import type { AppendReceipt, AuditEvent, AuditLog, AuditRecord } from "../../daemon/ledger/types.js";

/** A software Ed25519 signer; the same seed gives the same key (to build a fork signed by the same box). */
export function testSigner(name = "sealbox.test/box-1", seed?: Uint8Array): Signer {
  let key: KeyObject;
  if (seed) {
    // RFC 8410 PKCS#8 wrapping of a raw 32-byte Ed25519 seed.
    const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(seed)]);
    key = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } else {
    key = generateKeyPairSync("ed25519").privateKey;
  }
  const spki = createPublicKeyRaw(key);
  return {
    name,
    origin: "software",
    publicKey: spki,
    sign: (message) => new Uint8Array(sign(null, message, key)),
    close: () => undefined,
  };
}

function createPublicKeyRaw(priv: KeyObject): Uint8Array {
  const der = createPublicKey(priv).export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 32));
}

export interface MemoryDiodeLedger extends DiodeLedgerReader, AuditLog {
  readonly signer: Signer;
  readonly vkey: string;
  readonly origin: string;
  /** Appends n synthetic records (about recordBytes each) under one checkpoint. */
  appendMany(n: number, recordBytes?: number): void;
  /** Every record's bytes, in order. */
  readonly records: readonly Uint8Array[];
  /** Checkpoints published so far (size → note). */
  readonly checkpoints: Map<number, string>;
  /** Records whose action is `action`. */
  byAction(action: string): AuditRecord[];
  /** From now on append() rejects with this error (undefined: appends work again), for events matching `which` (default: all). */
  failAppends(error: Error | undefined, which?: (e: AuditEvent) => boolean): void;
}

export function createMemoryDiodeLedger(options: { signer?: Signer; origin?: string; boxId?: string } = {}): MemoryDiodeLedger {
  const signer = options.signer ?? testSigner();
  const origin = options.origin ?? signer.name;
  const boxId = options.boxId ?? "box-1";
  const records: Uint8Array[] = [];
  const decoded: AuditRecord[] = [];
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  const listeners = new Set<(size: number, note: string) => void>();
  const checkpoints = new Map<number, string>();
  let note: string | undefined;
  let failWith: Error | undefined;
  let failWhich: (e: AuditEvent) => boolean = () => true;
  const read = (level: number, index: number): Uint8Array => {
    const h = nodes.get(`${level}/${index}`);
    if (!h) throw new Error(`missing node ${level}/${index}`);
    return h;
  };

  const push = (event: AuditEvent): AuditRecord => {
    const rec: AuditRecord = { v: 1, seq: records.length, time: new Date().toISOString(), box: boxId, ...structuredClone(event) };
    const bytes = encodeRecord(rec);
    records.push(bytes);
    decoded.push(rec);
    range.append(leafHash(bytes), (level, index, hash) => nodes.set(`${level}/${index}`, hash));
    return rec;
  };
  const publish = (): void => {
    note = signNote(formatCheckpoint({ origin, size: records.length, rootHash: range.root() }), signer);
    checkpoints.set(records.length, note);
    for (const l of listeners) l(records.length, note);
  };

  return {
    signer,
    origin,
    vkey: formatVkey(signer.name, signer.publicKey),
    records,
    checkpoints,
    appendMany(n, recordBytes = 300) {
      const pad = "x".repeat(Math.max(0, recordBytes - 200));
      for (let i = 0; i < n; i++) {
        push({ actor: { role: "operator", transport: "test", peer: "-" }, category: "inference", action: "chat", target: "model-sha256", outcome: "success", details: { pad, i } });
      }
      publish();
    },
    byAction: (action) => decoded.filter((r) => r.action === action),
    failAppends(error, which) {
      failWith = error;
      failWhich = which ?? (() => true);
    },
    async append(event: AuditEvent): Promise<AppendReceipt> {
      await new Promise((r) => setImmediate(r));
      if (failWith && failWhich(event)) throw failWith;
      const rec = push(event);
      publish();
      return { seq: rec.seq, treeSize: records.length, checkpoint: note! };
    },
    size: () => records.length,
    latestCheckpoint: () => note,
    recordBytes: (seq) => records[seq],
    inclusionProof: (seq, treeSize) => inclusionProof(read, seq, treeSize),
    onCheckpoint(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
