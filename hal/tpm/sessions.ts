// Authorization sessions (Part 1 §19): the password pseudo-session and real
// HMAC / policy sessions, optionally salted to a TPM key and used for
// parameter encryption (Part 1 §21). A session is a plain object holding its
// nonces and key; the command executor (tpm.ts) drives it.

import { randomBytes } from "node:crypto";
import { SealboxError } from "../../daemon/errors.js";
import { TPMA_SESSION, TPM_RS_PW, TPM_SE, digestSize } from "./constants.js";
import { cfbTransform, cpHash, equalBytes, rpHash, sessionHmac, trimAuthValue } from "./session-crypto.js";
import { type SymDef, SYM_NULL } from "./structures/public.js";

/** TPMS_AUTH_COMMAND (Part 2 §10.13.2). */
export interface AuthCommand {
  sessionHandle: number;
  nonce: Uint8Array;
  attributes: number;
  hmac: Uint8Array;
}

/** TPMS_AUTH_RESPONSE (Part 2 §10.13.3). */
export interface AuthResponse {
  nonce: Uint8Array;
  attributes: number;
  hmac: Uint8Array;
}

/** What the executor tells a session about the command it is authorizing. */
export interface AuthorizeInput {
  commandCode: number;
  names: readonly Uint8Array[];
  /** The parameter area as sent (already encrypted where a decrypt session applies). */
  parameters: Uint8Array;
  /** The authValue of the handle this session authorizes; undefined when the session authorizes none. */
  authValue: Uint8Array | undefined;
  /** nonceTPM of the decrypt and encrypt sessions when they differ from this one (Part 1 §19.6.5). */
  extraNonces: Uint8Array;
}

export interface VerifyInput {
  commandCode: number;
  parameters: Uint8Array;
  authValue: Uint8Array | undefined;
  auth: AuthResponse;
}

export interface Session {
  readonly handle: number;
  /** The authValue of the entity this session authorizes (empty for most sealbox objects). */
  authValue: Uint8Array;
  /** Attributes for the next command (continueSession, decrypt, encrypt). */
  attributes: number;
  /** The session's current nonceTPM (empty for the password session). */
  readonly nonceTPM: Uint8Array;
  /** False once the TPM has closed it (continueSession clear) or it was flushed. */
  readonly active: boolean;
  /** Fresh nonceCaller for the next command. */
  beginCommand(): void;
  authorize(input: AuthorizeInput): AuthCommand;
  verify(input: VerifyInput): void;
  /** Encrypts a command's first parameter (the bytes of a TPM2B, without its size). */
  encryptParameter(data: Uint8Array, authValue: Uint8Array | undefined): Uint8Array;
  /** Decrypts a response's first parameter. */
  decryptParameter(data: Uint8Array, authValue: Uint8Array | undefined): Uint8Array;
  /** Marks the session gone without telling the TPM (after FlushContext). */
  markClosed(): void;
}

function authFailure(message: string): SealboxError {
  return new SealboxError("TPM_PROTOCOL", `TPM response failed its session check: ${message}`);
}

/** TPM_RS_PW: the password goes in the HMAC field in the clear (Part 1 §19.8.4). */
export class PasswordSession implements Session {
  readonly handle = TPM_RS_PW;
  attributes = 0;
  authValue: Uint8Array;
  readonly nonceTPM = new Uint8Array(0);
  readonly active = true;

  constructor(password: Uint8Array = new Uint8Array(0)) {
    this.authValue = password;
  }

  beginCommand(): void {}

  authorize(): AuthCommand {
    return { sessionHandle: TPM_RS_PW, nonce: new Uint8Array(0), attributes: this.attributes, hmac: this.authValue };
  }

  verify(input: VerifyInput): void {
    // Part 1 §19.8.4: the TPM answers with an empty nonce, continueSession set, and an empty HMAC.
    const a = input.auth;
    if (a.nonce.length !== 0 || a.hmac.length !== 0 || a.attributes !== TPMA_SESSION.continueSession) {
      throw authFailure(`password session answered with nonce ${a.nonce.length} bytes, hmac ${a.hmac.length} bytes, attributes 0x${a.attributes.toString(16)}`);
    }
  }

  encryptParameter(): Uint8Array {
    throw new RangeError("a password session cannot encrypt parameters");
  }

  decryptParameter(): Uint8Array {
    throw new RangeError("a password session cannot encrypt parameters");
  }

  markClosed(): void {}
}

export interface AuthSessionState {
  handle: number;
  sessionType: number;
  authHash: number;
  symmetric: SymDef;
  sessionKey: Uint8Array;
  nonceCaller: Uint8Array;
  nonceTPM: Uint8Array;
}

/**
 * An HMAC, policy or trial session (Part 1 §19.6). Created by startAuthSession
 * in tpm.ts; this object only does the per-command cryptography.
 */
export class AuthSession implements Session {
  readonly handle: number;
  readonly sessionType: number;
  readonly authHash: number;
  readonly symmetric: SymDef;
  attributes: number;
  authValue: Uint8Array = new Uint8Array(0);
  private readonly sessionKey: Uint8Array;
  private nonceCaller: Uint8Array;
  private nonceTpm: Uint8Array;
  private closed = false;
  /** For a policy session: TPM2_PolicyAuthValue was run, so the object's authValue keys the HMAC. */
  policyAuthValueNeeded = false;

  constructor(state: AuthSessionState, attributes = TPMA_SESSION.continueSession) {
    this.handle = state.handle;
    this.sessionType = state.sessionType;
    this.authHash = state.authHash;
    this.symmetric = state.symmetric;
    this.sessionKey = state.sessionKey;
    this.nonceCaller = state.nonceCaller;
    this.nonceTpm = state.nonceTPM;
    this.attributes = attributes;
  }

  get nonceTPM(): Uint8Array {
    return this.nonceTpm;
  }

  get active(): boolean {
    return !this.closed;
  }

  get isPolicy(): boolean {
    return this.sessionType === TPM_SE.POLICY || this.sessionType === TPM_SE.TRIAL;
  }

  beginCommand(): void {
    if (this.closed) throw new SealboxError("TPM_ERROR", `session 0x${this.handle.toString(16)} is closed`);
    this.nonceCaller = new Uint8Array(randomBytes(this.nonceCaller.length || digestSize(this.authHash)));
  }

  /** HMAC key: sessionKey ‖ authValue, the authValue only where the TPM includes it (Part 1 §19.6.5). */
  private hmacKey(authValue: Uint8Array | undefined): Uint8Array {
    const include = authValue !== undefined && (!this.isPolicy || this.policyAuthValueNeeded);
    if (!include || authValue.length === 0) return this.sessionKey;
    return new Uint8Array(Buffer.concat([this.sessionKey, trimAuthValue(authValue)]));
  }

  /** Parameter encryption uses the authValue of the authorized entity whatever the session type (Part 1 §21.3). */
  private sessionValue(authValue: Uint8Array | undefined): Uint8Array {
    if (authValue === undefined || authValue.length === 0) return this.sessionKey;
    return new Uint8Array(Buffer.concat([this.sessionKey, authValue]));
  }

  authorize(input: AuthorizeInput): AuthCommand {
    const cp = cpHash(this.authHash, input.commandCode, input.names, input.parameters);
    const hmac = sessionHmac(this.authHash, this.hmacKey(input.authValue), cp, this.nonceCaller, this.nonceTpm, input.extraNonces, this.attributes);
    return { sessionHandle: this.handle, nonce: this.nonceCaller, attributes: this.attributes, hmac };
  }

  verify(input: VerifyInput): void {
    const a = input.auth;
    if (a.nonce.length < 16) throw authFailure(`nonceTPM of ${a.nonce.length} bytes (at least 16 expected)`);
    this.nonceTpm = a.nonce;
    if (!(a.attributes & TPMA_SESSION.continueSession)) this.closed = true;
    const rp = rpHash(this.authHash, 0, input.commandCode, input.parameters);
    const expected = sessionHmac(this.authHash, this.hmacKey(input.authValue), rp, a.nonce, this.nonceCaller, new Uint8Array(0), a.attributes);
    if (!equalBytes(expected, a.hmac)) throw authFailure(`response HMAC of session 0x${this.handle.toString(16)} does not match`);
  }

  private cfb(direction: "encrypt" | "decrypt", data: Uint8Array, authValue: Uint8Array | undefined, newer: Uint8Array, older: Uint8Array): Uint8Array {
    if (this.symmetric.algorithm !== 0x0006 /* TPM_ALG_AES */ || this.symmetric.mode !== 0x0043 /* TPM_ALG_CFB */) {
      throw new RangeError("parameter encryption needs a session started with AES-CFB");
    }
    return cfbTransform(direction, this.authHash, this.symmetric.keyBits ?? 128, this.sessionValue(authValue), newer, older, data);
  }

  encryptParameter(data: Uint8Array, authValue: Uint8Array | undefined): Uint8Array {
    return this.cfb("encrypt", data, authValue, this.nonceCaller, this.nonceTpm);
  }

  decryptParameter(data: Uint8Array, authValue: Uint8Array | undefined): Uint8Array {
    return this.cfb("decrypt", data, authValue, this.nonceTpm, this.nonceCaller);
  }

  markClosed(): void {
    this.closed = true;
  }
}

export const NO_SYMMETRIC = SYM_NULL;
