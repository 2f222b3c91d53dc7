// The TPM client: runs typed commands over a TpmTransport with sessions,
// parameter encryption and response checks, and keeps track of transient
// handles so every one is flushed on every path (swtpm has 3 object slots
// and no resource manager; a real TPM without /dev/tpmrm0 has few more).

import { SealboxError } from "../../daemon/errors.js";
import type { Logger } from "../../daemon/log.js";
import type { TpmTransport } from "../index.js";
import { type TpmCommand, assertSessionsFit, decodeParameters, encodeParameters, frameCommand, parseResponse, transformFirstTpm2b } from "./command.js";
import { TPMA_SESSION, TPM_HT, TPM_SU, commandName, handleType } from "./constants.js";
import { concatBytes } from "./marshal.js";
import { RESEND_NAMES, TpmRcError, isTpmRc } from "./rc.js";
import type { Session } from "./sessions.js";
import { FlushContext } from "./commands/session.js";
import { Startup } from "./commands/basic.js";

export interface TpmOptions {
  log?: Logger;
  /** How many times a command answered TPM_RC_RETRY / YIELDED / TESTING is resent. Defaults to 5. */
  resendLimit?: number;
  /** Pause before the first resend, doubled each time. Defaults to 20 ms. */
  resendDelayMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Tpm {
  private readonly log: Logger | undefined;
  private readonly resendLimit: number;
  private readonly resendDelayMs: number;
  /** Commands sent; for tests and benchmarks. */
  commandsSent = 0;

  constructor(
    readonly transport: TpmTransport,
    options: TpmOptions = {},
  ) {
    this.log = options.log;
    this.resendLimit = options.resendLimit ?? 5;
    this.resendDelayMs = options.resendDelayMs ?? 20;
  }

  /** Runs one command. Sessions authorize the command's auth handles in order; extra sessions may encrypt. */
  async run<R>(cmd: TpmCommand<R>, sessions: readonly Session[] = []): Promise<R> {
    assertSessionsFit(cmd, sessions.length);
    const decryptIdx = sessions.findIndex((s) => (s.attributes & TPMA_SESSION.decrypt) !== 0);
    const encryptIdx = sessions.findIndex((s) => (s.attributes & TPMA_SESSION.encrypt) !== 0);
    if (decryptIdx >= 0 && !cmd.encryptable?.command) throw new SealboxError("INTERNAL", `${commandName(cmd.code)} has no command parameter a session can encrypt`);
    if (encryptIdx >= 0 && !cmd.encryptable?.response) throw new SealboxError("INTERNAL", `${commandName(cmd.code)} has no response parameter a session can encrypt`);
    const authValueOf = (i: number): Uint8Array | undefined => (i < cmd.authHandles ? sessions[i]!.authValue : undefined);
    const plainParams = encodeParameters(cmd);
    try {
      for (let attempt = 0; ; attempt++) {
        for (const s of sessions) s.beginCommand();
        let params = plainParams;
        if (decryptIdx >= 0) params = transformFirstTpm2b(plainParams, (d) => sessions[decryptIdx]!.encryptParameter(d, authValueOf(decryptIdx)), commandName(cmd.code));
        // Part 1 §19.6.5: the first session's HMAC also covers the nonceTPM of a separate decrypt/encrypt session.
        const extra: Uint8Array[] = [];
        if (decryptIdx > 0) extra.push(sessions[decryptIdx]!.nonceTPM);
        if (encryptIdx > 0 && encryptIdx !== decryptIdx) extra.push(sessions[encryptIdx]!.nonceTPM);
        const extraNonces = concatBytes(...extra);
        const names = cmd.handles.map((h) => h.name);
        const auths = sessions.map((s, i) =>
          s.authorize({ commandCode: cmd.code, names, parameters: params, authValue: authValueOf(i), extraNonces: i === 0 ? extraNonces : new Uint8Array(0) }),
        );
        const frame = frameCommand(
          cmd.code,
          cmd.handles.map((h) => h.handle),
          auths,
          params,
        );
        this.commandsSent++;
        let response: Uint8Array;
        try {
          response = await this.transport.transmit(frame);
        } finally {
          frame.fill(0);
          if (params !== plainParams) params.fill(0);
        }
        let parsed;
        try {
          parsed = parseResponse(response, cmd.code, cmd.responseHandles, sessions.length);
        } catch (e) {
          if (isTpmRc(e) && RESEND_NAMES.has(e.rcName) && attempt < this.resendLimit) {
            this.log?.debug("TPM asked to resend", { command: commandName(cmd.code), rc: e.rcName, attempt });
            await sleep(this.resendDelayMs * 2 ** attempt);
            continue;
          }
          throw e;
        }
        sessions.forEach((s, i) => s.verify({ commandCode: cmd.code, parameters: parsed.parameters, authValue: authValueOf(i), auth: parsed.auths[i]! }));
        let outParams = parsed.parameters;
        if (encryptIdx >= 0) outParams = transformFirstTpm2b(parsed.parameters, (d) => sessions[encryptIdx]!.decryptParameter(d, authValueOf(encryptIdx)), commandName(cmd.code));
        try {
          return decodeParameters(cmd, parsed.handles, outParams);
        } finally {
          outParams.fill(0);
          response.fill(0);
        }
      }
    } finally {
      plainParams.fill(0);
    }
  }

  /** TPM2_Startup(CLEAR); a TPM already started (TPM_RC_INITIALIZE) is fine. */
  async startup(): Promise<void> {
    try {
      await this.run(Startup(TPM_SU.CLEAR));
    } catch (e) {
      if (!isTpmRc(e, "TPM_RC_INITIALIZE")) throw e;
    }
  }

  async flush(handle: number): Promise<void> {
    await this.run(FlushContext(handle));
  }

  /** Opens a scope whose transient handles and sessions are flushed when it closes, whatever happened. */
  async scoped<T>(fn: (scope: HandleScope) => Promise<T>): Promise<T> {
    const scope = new HandleScope(this, this.log);
    let result: T;
    try {
      result = await fn(scope);
    } catch (e) {
      await scope.closeAfterError(e);
      throw e;
    }
    await scope.close();
    return result;
  }

  async close(): Promise<void> {
    await this.transport.close();
  }
}

/** Transient objects and sessions to flush, newest first, when a unit of work ends. */
export class HandleScope {
  private readonly entries: { handle: number; session?: Session }[] = [];

  constructor(
    private readonly tpm: Tpm,
    private readonly log: Logger | undefined,
  ) {}

  /** Tracks a transient object handle. Returns it. */
  object(handle: number): number {
    if (handleType(handle) !== TPM_HT.TRANSIENT) throw new SealboxError("INTERNAL", `0x${handle.toString(16)} is not a transient object handle`);
    this.entries.push({ handle });
    return handle;
  }

  /** Tracks a session; a session the TPM already closed (continueSession clear) is skipped. */
  session<S extends Session>(session: S): S {
    this.entries.push({ handle: session.handle, session });
    return session;
  }

  /** Flushes now instead of at scope end (frees a slot early). */
  async release(handle: number): Promise<void> {
    const i = this.entries.findIndex((e) => e.handle === handle);
    if (i < 0) return;
    const [entry] = this.entries.splice(i, 1);
    await this.flushEntry(entry!);
  }

  private async flushEntry(entry: { handle: number; session?: Session }): Promise<void> {
    if (entry.session && !entry.session.active) return;
    await this.tpm.flush(entry.handle);
    entry.session?.markClosed();
  }

  /** Flushes everything; the first failure is thrown after trying all (a leaked handle must not pass silently). */
  async close(): Promise<void> {
    let first: unknown;
    while (this.entries.length > 0) {
      const entry = this.entries.pop()!;
      try {
        await this.flushEntry(entry);
      } catch (e) {
        first ??= e;
        this.log?.warn("could not flush a TPM handle", { handle: `0x${entry.handle.toString(16)}`, error: e instanceof Error ? e : String(e) });
      }
    }
    if (first !== undefined) throw first;
  }

  /** Flushes after the unit of work failed: the original error wins; flush failures are logged at warn. */
  async closeAfterError(original: unknown): Promise<void> {
    try {
      await this.close();
    } catch {
      // close() already logged each failed flush at warn; the original error is what the caller must see.
      this.log?.warn("flush after a failed TPM operation also failed", { original: original instanceof Error ? original : String(original) });
    }
  }
}

export { TpmRcError };
