// Object commands: TPM2_CreatePrimary (Part 3 §24.1), TPM2_Create (§12.1),
// TPM2_Load (§12.2), TPM2_Unseal (§12.7), TPM2_ReadPublic (§12.4).

import { TPM_CC } from "../constants.js";
import { TpmReader, TpmWriter } from "../marshal.js";
import type { CommandHandle, TpmCommand } from "../command.js";
import { type PcrSelection, writePcrSelectionList } from "../structures/pcr-selection.js";
import { type TpmtPublic, readPublic, writePublic } from "../structures/public.js";
import { type SensitiveCreate, MAX_SYM_DATA_BYTES, writeSensitiveCreate } from "../structures/sensitive.js";

/** TPMT_TK_CREATION (Part 2 §10.7.3). */
export interface CreationTicket {
  tag: number;
  hierarchy: number;
  digest: Uint8Array;
}

export interface CreatedObject {
  /** TPM2B_PUBLIC's content, exactly as the TPM returned it (hash it for the Name). */
  outPublicBytes: Uint8Array;
  outPublic: TpmtPublic;
  creationData: Uint8Array;
  creationHash: Uint8Array;
  creationTicket: CreationTicket;
}

export interface CreatePrimaryResult extends CreatedObject {
  objectHandle: number;
  name: Uint8Array;
}

export interface CreateResult extends CreatedObject {
  /** TPM2B_PRIVATE's content: the object's sensitive area, wrapped by the parent. */
  outPrivate: Uint8Array;
}

/** Part 2: sizes bound by the largest TPMT_PUBLIC/TPM2B_PRIVATE a TPM produces. */
const MAX_PUBLIC_BYTES = 1024;
const MAX_PRIVATE_BYTES = 1024;
const MAX_NAME_BYTES = 2 + 64;

function writeCreateParams(w: TpmWriter, sensitive: SensitiveCreate, template: TpmtPublic, outsideInfo: Uint8Array, creationPcr: readonly PcrSelection[]): void {
  writeSensitiveCreate(w, sensitive);
  w.sized((inner) => writePublic(inner, template));
  w.tpm2b(outsideInfo);
  writePcrSelectionList(w, creationPcr);
}

function readPublic2b(r: TpmReader): { bytes: Uint8Array; pub: TpmtPublic } {
  const bytes = r.tpm2b("outPublic", MAX_PUBLIC_BYTES);
  const inner = new TpmReader(bytes, `${r.context} outPublic`);
  const pub = readPublic(inner);
  inner.end();
  return { bytes, pub };
}

function readCreated(r: TpmReader, outPublic: { bytes: Uint8Array; pub: TpmtPublic }): CreatedObject {
  const creationData = r.tpm2b("creationData", 2048);
  const creationHash = r.tpm2b("creationHash", 64);
  const creationTicket = { tag: r.u16("creationTicket.tag"), hierarchy: r.u32("creationTicket.hierarchy"), digest: r.tpm2b("creationTicket.digest", 64) };
  return { outPublicBytes: outPublic.bytes, outPublic: outPublic.pub, creationData, creationHash, creationTicket };
}

export interface CreateParams {
  sensitive?: SensitiveCreate;
  template: TpmtPublic;
  outsideInfo?: Uint8Array;
  creationPcr?: readonly PcrSelection[];
}

const EMPTY = new Uint8Array(0);
const EMPTY_SENSITIVE: SensitiveCreate = { userAuth: EMPTY, data: EMPTY };

export function CreatePrimary(primaryHandle: CommandHandle, p: CreateParams): TpmCommand<CreatePrimaryResult> {
  return {
    code: TPM_CC.CreatePrimary,
    handles: [primaryHandle],
    authHandles: 1,
    responseHandles: 1,
    encryptable: { command: true, response: true },
    encodeParameters: (w) => writeCreateParams(w, p.sensitive ?? EMPTY_SENSITIVE, p.template, p.outsideInfo ?? EMPTY, p.creationPcr ?? []),
    decodeResponse: (handles, r) => {
      const outPublic = readPublic2b(r);
      const created = readCreated(r, outPublic);
      return { objectHandle: handles[0]!, ...created, name: r.tpm2b("name", MAX_NAME_BYTES) };
    },
  };
}

export function Create(parentHandle: CommandHandle, p: CreateParams): TpmCommand<CreateResult> {
  return {
    code: TPM_CC.Create,
    handles: [parentHandle],
    authHandles: 1,
    responseHandles: 0,
    encryptable: { command: true, response: true },
    encodeParameters: (w) => writeCreateParams(w, p.sensitive ?? EMPTY_SENSITIVE, p.template, p.outsideInfo ?? EMPTY, p.creationPcr ?? []),
    decodeResponse: (_h, r) => {
      const outPrivate = r.tpm2b("outPrivate", MAX_PRIVATE_BYTES);
      const outPublic = readPublic2b(r);
      return { outPrivate, ...readCreated(r, outPublic) };
    },
  };
}

export interface LoadResult {
  objectHandle: number;
  name: Uint8Array;
}

/** inPrivate and inPublic are the contents of TPM2B_PRIVATE and TPM2B_PUBLIC (without their size). */
export function Load(parentHandle: CommandHandle, inPrivate: Uint8Array, inPublic: Uint8Array): TpmCommand<LoadResult> {
  return {
    code: TPM_CC.Load,
    handles: [parentHandle],
    authHandles: 1,
    responseHandles: 1,
    encryptable: { command: true, response: true },
    encodeParameters: (w) => void w.tpm2b(inPrivate).tpm2b(inPublic),
    decodeResponse: (handles, r) => ({ objectHandle: handles[0]!, name: r.tpm2b("name", MAX_NAME_BYTES) }),
  };
}

export function Unseal(itemHandle: CommandHandle): TpmCommand<Uint8Array> {
  return {
    code: TPM_CC.Unseal,
    handles: [itemHandle],
    authHandles: 1,
    responseHandles: 0,
    encryptable: { response: true },
    encodeParameters: () => undefined,
    decodeResponse: (_h, r) => r.tpm2b("outData", MAX_SYM_DATA_BYTES),
  };
}

export interface ReadPublicResult {
  outPublicBytes: Uint8Array;
  outPublic: TpmtPublic;
  name: Uint8Array;
  qualifiedName: Uint8Array;
}

export function ReadPublic(objectHandle: CommandHandle): TpmCommand<ReadPublicResult> {
  return {
    code: TPM_CC.ReadPublic,
    handles: [objectHandle],
    authHandles: 0,
    responseHandles: 0,
    encryptable: { response: true },
    encodeParameters: () => undefined,
    decodeResponse: (_h, r) => {
      const p = readPublic2b(r);
      return { outPublicBytes: p.bytes, outPublic: p.pub, name: r.tpm2b("name", MAX_NAME_BYTES), qualifiedName: r.tpm2b("qualifiedName", MAX_NAME_BYTES) };
    },
  };
}
