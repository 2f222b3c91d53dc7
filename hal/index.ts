// The hardware seams. Each is one small interface; constructors never touch
// hardware, open…() factories do, and only daemon/main.ts calls them. Tests wire
// real peers into the same seams (swtpm, socat ptys, a recorded nvidia-smi).

/** TPM 2.0 command transport: one command in, its whole response out (TCG TPM 2.0 Part 1 §18). */
export interface TpmTransport {
  transmit(command: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A byte link (a serial port, a pty): bytes out, bytes in by callback. */
export interface ByteLink {
  write(bytes: Uint8Array): Promise<void>;
  onData(listener: (chunk: Uint8Array) => void): void;
  onClose(listener: (error?: Error) => void): void;
  close(): Promise<void>;
}
