// Commands as data (after go-tpm's tpm2 package): each command is an object
// naming its code, its handles (with their Names, for cpHash), how many of
// them need authorization, and explicit encoders/decoders for its parameters.
// This file frames commands and parses responses (Part 1 §18, Part 3 §4
// "Command/Response Structures"); it is pure: bytes in, values out.

import { SealboxError } from "../../daemon/errors.js";
import { TPM_HEADER_BYTES, TPM_ST, commandName } from "./constants.js";
import { TpmReader, TpmWriter, tpmDecodeError } from "./marshal.js";
import { TpmRcError } from "./rc.js";
import type { AuthCommand, AuthResponse } from "./sessions.js";

export interface CommandHandle {
  handle: number;
  /** The entity's Name (Part 1 §16); for permanent, PCR and session handles the handle itself, big-endian. */
  name: Uint8Array;
}

export interface TpmCommand<R> {
  readonly code: number;
  readonly handles: readonly CommandHandle[];
  /** The first authHandles handles need an authorization session each (Part 3 "Auth Index"). */
  readonly authHandles: number;
  /** How many handles the response carries before its parameters. */
  readonly responseHandles: number;
  /** Whether the first command / response parameter is a TPM2B that a session may encrypt (Part 1 §21.1). */
  readonly encryptable?: { command?: boolean; response?: boolean };
  encodeParameters(w: TpmWriter): void;
  decodeResponse(handles: readonly number[], r: TpmReader): R;
}

/** The Name of a handle that is its own name: PCRs, sessions, permanent handles (Part 1 §16). */
export function handleName(handle: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, handle >>> 0);
  return b;
}

export function plainHandle(handle: number): CommandHandle {
  return { handle, name: handleName(handle) };
}

export function encodeParameters(cmd: TpmCommand<unknown>): Uint8Array {
  const w = new TpmWriter();
  cmd.encodeParameters(w);
  return w.finish();
}

/** Frames a command: tag ‖ commandSize ‖ commandCode ‖ handles ‖ [authorizationSize ‖ TPMS_AUTH_COMMAND…] ‖ parameters. */
export function frameCommand(code: number, handles: readonly number[], auths: readonly AuthCommand[], parameters: Uint8Array): Uint8Array {
  const w = new TpmWriter(TPM_HEADER_BYTES + 4 * handles.length + parameters.length + 64);
  w.u16(auths.length > 0 ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS).u32(0).u32(code);
  for (const h of handles) w.u32(h);
  if (auths.length > 0) {
    const aw = new TpmWriter();
    for (const a of auths) aw.u32(a.sessionHandle).tpm2b(a.nonce).u8(a.attributes).tpm2b(a.hmac);
    const area = aw.finish();
    w.u32(area.length).bytes(area);
  }
  w.bytes(parameters);
  const out = w.finish();
  new DataView(out.buffer).setUint32(2, out.length);
  return out;
}

export interface ParsedResponse {
  handles: number[];
  parameters: Uint8Array;
  auths: AuthResponse[];
}

/** Reads the 10-byte header; throws TPM_PROTOCOL when it cannot be a TPM response. */
export function readResponseHeader(bytes: Uint8Array, commandCode: number): { tag: number; size: number; rc: number } {
  const what = `${commandName(commandCode)} response`;
  if (bytes.length < TPM_HEADER_BYTES) throw tpmDecodeError(what, `${bytes.length} bytes is shorter than the 10-byte header`);
  const r = new TpmReader(bytes, what);
  const tag = r.u16("tag");
  const size = r.u32("responseSize");
  const rc = r.u32("responseCode");
  if (tag !== TPM_ST.NO_SESSIONS && tag !== TPM_ST.SESSIONS) throw tpmDecodeError(what, `tag 0x${tag.toString(16)} is neither TPM_ST_NO_SESSIONS nor TPM_ST_SESSIONS`);
  if (size !== bytes.length) throw tpmDecodeError(what, `responseSize says ${size} bytes but ${bytes.length} arrived`);
  return { tag, size, rc };
}

/**
 * Parses a complete response. A non-zero response code throws TpmRcError
 * (Part 1 §18.4: an error response is the header alone).
 */
export function parseResponse(bytes: Uint8Array, commandCode: number, responseHandles: number, sessionCount: number): ParsedResponse {
  const { tag, rc } = readResponseHeader(bytes, commandCode);
  const what = `${commandName(commandCode)} response`;
  if (rc !== 0) {
    if (bytes.length !== TPM_HEADER_BYTES) throw tpmDecodeError(what, `error response 0x${rc.toString(16)} carries ${bytes.length - TPM_HEADER_BYTES} extra bytes`);
    throw new TpmRcError(commandCode, rc);
  }
  const r = new TpmReader(bytes.subarray(TPM_HEADER_BYTES), what);
  const handles: number[] = [];
  for (let i = 0; i < responseHandles; i++) handles.push(r.u32("handle"));
  if (sessionCount === 0) {
    if (tag !== TPM_ST.NO_SESSIONS) throw tpmDecodeError(what, "sessions in the response to a command that had none");
    return { handles, parameters: r.bytes(r.remaining, "parameters"), auths: [] };
  }
  if (tag !== TPM_ST.SESSIONS) throw tpmDecodeError(what, "no session area in the response to a command with sessions");
  const parameterSize = r.u32("parameterSize");
  if (parameterSize > r.remaining) throw tpmDecodeError(what, `parameterSize ${parameterSize} exceeds the ${r.remaining} bytes left`);
  const parameters = r.bytes(parameterSize, "parameters");
  const auths: AuthResponse[] = [];
  for (let i = 0; i < sessionCount; i++) {
    const nonce = r.tpm2b("TPMS_AUTH_RESPONSE.nonce", 64);
    const attributes = r.u8("TPMS_AUTH_RESPONSE.sessionAttributes");
    const hmac = r.tpm2b("TPMS_AUTH_RESPONSE.hmac", 64);
    auths.push({ nonce, attributes, hmac });
  }
  r.end();
  return { handles, parameters, auths };
}

/** Applies f to the data of the TPM2B at the start of a parameter area, keeping its size. */
export function transformFirstTpm2b(parameters: Uint8Array, f: (data: Uint8Array) => Uint8Array, what: string): Uint8Array {
  if (parameters.length < 2) throw tpmDecodeError(what, "no first parameter to encrypt");
  const size = (parameters[0]! << 8) | parameters[1]!;
  if (2 + size > parameters.length) throw tpmDecodeError(what, `first parameter of ${size} bytes overruns the parameter area`);
  const out = parameters.slice();
  out.set(f(parameters.subarray(2, 2 + size)), 2);
  return out;
}

export function decodeParameters<R>(cmd: TpmCommand<R>, handles: readonly number[], parameters: Uint8Array): R {
  const r = new TpmReader(parameters, `${commandName(cmd.code)} response`);
  const v = cmd.decodeResponse(handles, r);
  r.end();
  return v;
}

export function assertSessionsFit(cmd: TpmCommand<unknown>, sessionCount: number): void {
  if (sessionCount < cmd.authHandles) {
    throw new SealboxError("INTERNAL", `${commandName(cmd.code)} needs ${cmd.authHandles} authorization session(s), got ${sessionCount}`);
  }
  if (sessionCount > 3) throw new SealboxError("INTERNAL", "a command carries at most 3 sessions");
}

export interface ParsedCommand {
  tag: number;
  code: number;
  handles: number[];
  auths: AuthCommand[];
  parameters: Uint8Array;
}

/**
 * Parses a framed command (the TPM's side of frameCommand). The number of
 * handles is not in the bytes: it comes from the command's definition.
 * Used to check golden recordings and by test peers.
 */
export function parseCommand(bytes: Uint8Array, handleCount: number): ParsedCommand {
  const r = new TpmReader(bytes, "TPM command");
  const tag = r.u16("tag");
  const size = r.u32("commandSize");
  const code = r.u32("commandCode");
  if (size !== bytes.length) throw tpmDecodeError("TPM command", `commandSize says ${size} bytes but the command has ${bytes.length}`);
  if (tag !== TPM_ST.NO_SESSIONS && tag !== TPM_ST.SESSIONS) throw tpmDecodeError("TPM command", `tag 0x${tag.toString(16)}`);
  const handles: number[] = [];
  for (let i = 0; i < handleCount; i++) handles.push(r.u32("handle"));
  const auths: AuthCommand[] = [];
  if (tag === TPM_ST.SESSIONS) {
    const area = new TpmReader(r.bytes(r.u32("authorizationSize"), "authorization area"), "TPM command authorization area");
    while (area.remaining > 0) {
      auths.push({ sessionHandle: area.u32("sessionHandle"), nonce: area.tpm2b("nonce", 64), attributes: area.u8("sessionAttributes"), hmac: area.tpm2b("hmac", 64) });
    }
    if (auths.length === 0 || auths.length > 3) throw tpmDecodeError("TPM command", `${auths.length} sessions (1–3 allowed)`);
  }
  return { tag, code, handles, auths, parameters: r.bytes(r.remaining, "parameters") };
}
