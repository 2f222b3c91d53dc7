// Pure framers for the two byte streams a TPM is reached over:
//  - raw: commands and responses as they are (Part 1 §18: the response's own
//    header says how long it is) — /dev/tpmrm0, swtpm chardev, swtpm unixio;
//  - mssim: the TCP protocol of the Microsoft/IBM simulator that swtpm's data
//    port speaks: u32 TPM_SEND_COMMAND (8) ‖ u8 locality ‖ u32 length ‖ command;
//    answered by u32 length ‖ response ‖ u32 acknowledgement (0).
// Assemblers take chunks as they arrive (split anywhere) and yield one
// response; anything else — a short or huge size, bytes after the response, a
// non-zero acknowledgement — is TPM_PROTOCOL, never silently dropped.

import { SealboxError } from "../../../daemon/errors.js";
import { MAX_TPM_MESSAGE_BYTES, TPM_HEADER_BYTES } from "../constants.js";

export const MSSIM_TPM_SEND_COMMAND = 8;
/** Ends a session with the simulator politely (the server closes the connection). */
export const MSSIM_SESSION_END = 20;

function protocol(message: string, details: Record<string, unknown> = {}): SealboxError {
  return new SealboxError("TPM_PROTOCOL", `the TPM's answer is malformed: ${message}`, { details });
}

export interface ResponseAssembler {
  /** Feeds a chunk; returns the complete response once it has arrived. Throws TPM_PROTOCOL on garbage. */
  push(chunk: Uint8Array): Uint8Array | undefined;
  /** Bytes received toward the current response (0 when idle). */
  readonly pending: number;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Buffers a response's chunks until the framing says it is complete. Each
 * framing states only how many bytes its frame needs once `prefixBytes` have
 * arrived, and how to take the response out of a complete frame; bytes beyond
 * the frame and chunks after it are protocol errors (one command in flight).
 */
abstract class FramedResponseAssembler implements ResponseAssembler {
  private buf: Uint8Array = new Uint8Array(0);
  private done = false;

  constructor(protected readonly maxBytes = MAX_TPM_MESSAGE_BYTES) {}

  get pending(): number {
    return this.buf.length;
  }

  /** Bytes needed before frameBytes() can be read. */
  protected abstract readonly prefixBytes: number;
  /** The whole frame's size, read from its prefix; throws on an impossible size. */
  protected abstract frameBytes(prefix: DataView): number;
  /** The response inside a complete frame; throws when the frame is inconsistent. */
  protected abstract response(frame: Uint8Array): Uint8Array;

  push(chunk: Uint8Array): Uint8Array | undefined {
    if (chunk.length === 0) return undefined;
    if (this.done) throw protocol(`${chunk.length} bytes arrived after the complete response`);
    this.buf = concat(this.buf, chunk);
    if (this.buf.length < this.prefixBytes) return undefined;
    const total = this.frameBytes(new DataView(this.buf.buffer, this.buf.byteOffset));
    if (this.buf.length < total) return undefined;
    if (this.buf.length > total) throw protocol(`${this.buf.length - total} bytes arrived after the ${total}-byte response frame`);
    const response = this.response(this.buf);
    this.done = true;
    return response;
  }
}

/** Raw TPM responses: the u32 at offset 2 is the total size. */
export class RawResponseAssembler extends FramedResponseAssembler {
  protected readonly prefixBytes = 6;

  protected frameBytes(prefix: DataView): number {
    const size = prefix.getUint32(2);
    if (size < TPM_HEADER_BYTES) throw protocol(`response size ${size} is below the 10-byte header`, { size });
    if (size > this.maxBytes) throw protocol(`response size ${size} exceeds ${this.maxBytes} bytes`, { size });
    return size;
  }

  protected response(frame: Uint8Array): Uint8Array {
    return frame;
  }
}

export function encodeMssimCommand(command: Uint8Array, locality = 0): Uint8Array {
  const out = new Uint8Array(9 + command.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, MSSIM_TPM_SEND_COMMAND);
  v.setUint8(4, locality);
  v.setUint32(5, command.length);
  out.set(command, 9);
  return out;
}

/** mssim responses: u32 length ‖ response ‖ u32 0. */
export class MssimResponseAssembler extends FramedResponseAssembler {
  protected readonly prefixBytes = 4;

  protected frameBytes(prefix: DataView): number {
    const len = prefix.getUint32(0);
    if (len < TPM_HEADER_BYTES) throw protocol(`framed length ${len} is below the 10-byte header`, { len });
    if (len > this.maxBytes) throw protocol(`framed length ${len} exceeds ${this.maxBytes} bytes`, { len });
    return 4 + len + 4;
  }

  protected response(frame: Uint8Array): Uint8Array {
    const len = frame.length - 8;
    const ack = new DataView(frame.buffer, frame.byteOffset).getUint32(4 + len);
    if (ack !== 0) throw protocol(`acknowledgement is 0x${ack.toString(16)}, not 0`, { ack });
    const response = frame.slice(4, 4 + len);
    const inner = new DataView(response.buffer).getUint32(2);
    if (inner !== len) throw protocol(`framed length ${len} disagrees with the response's own size ${inner}`);
    return response;
  }
}
