// Forward error correction: RaptorQ (RFC 6330) through the raptorq crate's
// WebAssembly build. One object (a diode block) is one source block (Z = 1,
// N = 1, Al = 8, see frame.ts); a packet is the 4-byte FEC payload ID
// (RFC 6330 §3.2: SBN u8, ESI u24) followed by one T-byte symbol.
//
// The WebAssembly instance is shared by every encoder and decoder in the
// process. Frames are length- and parameter-checked before they get here, so
// the crate's assertions are never reached by hostile input; should a call
// trap anyway, the instance is replaced (its memory is suspect) and every
// coder made before is retired: it reports nothing more.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Decoder, Encoder, initSync } from "raptorq/raptorq.js";
import { SealboxError } from "../errors.js";

let generation = 0;
let loaded = false;
let traps = 0;

function load(): void {
  const wasmUrl = new URL("raptorq_bg.wasm", import.meta.resolve("raptorq/raptorq.js"));
  initSync(readFileSync(fileURLToPath(wasmUrl)));
  generation++;
  loaded = true;
}

function ensureLoaded(): void {
  if (!loaded) load();
}

function onTrap(e: unknown, what: string): SealboxError {
  traps++;
  load();
  return new SealboxError("DIODE_ERROR", `RaptorQ ${what} failed; the FEC instance was reset`, { cause: e });
}

/** How many times a coder trapped and the instance was replaced (a health figure). */
export function fecTrapCount(): number {
  return traps;
}

/** Source symbols K of an object of transferBytes in symbols of symbolBytes. */
export function sourceSymbolCount(transferBytes: number, symbolBytes: number): number {
  return Math.ceil(transferBytes / symbolBytes);
}

/**
 * Encodes one object: K source packets (ESI 0…K−1) followed by repairCount
 * repair packets (ESI K…). Each packet is 4 + symbolBytes long.
 */
export function encodeObject(data: Uint8Array, symbolBytes: number, repairCount: number): Uint8Array[] {
  ensureLoaded();
  let encoder: Encoder | undefined;
  try {
    encoder = Encoder.with_defaults(data, symbolBytes);
    return encoder.encode(repairCount);
  } catch (e) {
    encoder = undefined;
    throw onTrap(e, "encoding");
  } finally {
    encoder?.free();
  }
}

/** Collects packets of one object until it decodes. free() it when done. */
export class BlockDecoder {
  private decoder: Decoder | undefined;
  private readonly generation: number;
  private packets = 0;

  constructor(
    readonly transferBytes: number,
    readonly symbolBytes: number,
  ) {
    ensureLoaded();
    this.generation = generation;
    try {
      this.decoder = Decoder.with_defaults(BigInt(transferBytes), symbolBytes);
    } catch (e) {
      throw onTrap(e, "decoder setup");
    }
  }

  /** Packets added so far. */
  get packetCount(): number {
    return this.packets;
  }

  /** False once freed, or once a trap retired the instance it lived in. */
  get alive(): boolean {
    return this.decoder !== undefined && this.generation === generation;
  }

  /** Adds one packet (4 + T bytes); returns the object once it decodes. */
  add(packet: Uint8Array): Uint8Array | undefined {
    if (!this.alive) return undefined;
    if (packet.length !== 4 + this.symbolBytes) throw new RangeError(`packet is ${packet.length} bytes, expected ${4 + this.symbolBytes}`);
    this.packets++;
    try {
      return this.decoder!.decode(packet);
    } catch (e) {
      this.decoder = undefined;
      throw onTrap(e, "decoding");
    }
  }

  /** Idempotent. */
  free(): void {
    const d = this.decoder;
    this.decoder = undefined;
    // A decoder from a retired instance points into memory that no longer exists.
    if (d && this.generation === generation) d.free();
  }
}
