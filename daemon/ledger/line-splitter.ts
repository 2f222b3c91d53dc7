// Splits a byte stream into newline-terminated lines, whatever the chunk
// boundaries. Pure and bounded: a line longer than maxLineBytes is refused as
// soon as it is seen, so /dev/zero or a file with no newline cannot grow
// memory without limit.

import { SealboxError } from "../errors.js";

export class LineSplitter {
  private carry: Uint8Array[] = [];
  private carryBytes = 0;
  /** 0-based number of the next line to be emitted. */
  lineNo = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly what = "line",
  ) {}

  private tooLong(): SealboxError {
    return new SealboxError("BAD_FORMAT", `${this.what} ${this.lineNo + 1} is longer than ${this.maxLineBytes} bytes (or is missing its newline)`, {
      details: { line: this.lineNo, maxBytes: this.maxLineBytes },
    });
  }

  /** Feeds a chunk; calls onLine for every complete line (without its "\n"). */
  push(chunk: Uint8Array, onLine: (line: Uint8Array, lineNo: number) => void): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      let line: Uint8Array;
      if (this.carryBytes > 0) {
        if (this.carryBytes + (nl - start) > this.maxLineBytes) throw this.tooLong();
        line = Buffer.concat([...this.carry, chunk.subarray(start, nl)]);
        this.carry = [];
        this.carryBytes = 0;
      } else {
        if (nl - start > this.maxLineBytes) throw this.tooLong();
        line = chunk.subarray(start, nl);
      }
      onLine(line, this.lineNo++);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.carryBytes + rest.length > this.maxLineBytes) throw this.tooLong();
      // Copy: the caller may reuse its buffer for the next chunk.
      this.carry.push(Uint8Array.from(rest));
      this.carryBytes += rest.length;
    }
  }

  /** Ends the stream; throws when bytes follow the last newline (a truncated last line). */
  end(): void {
    if (this.carryBytes > 0) {
      throw new SealboxError("BAD_FORMAT", `${this.what} ${this.lineNo + 1} is cut off: the file ends without its newline`, {
        details: { line: this.lineNo, bytes: this.carryBytes },
      });
    }
  }
}
