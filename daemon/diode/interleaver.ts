// Interleaving across blocks: the sender keeps up to `depth` encoded blocks
// open and takes one frame from each in turn, so the symbols of one block
// are spread over depth × (K + r) frames on the wire. A burst of B lost
// frames then costs each block about B / depth symbols, which its repair
// symbols cover. Pure (the frames come from nextFrame()).

import { nextFrame, type OutgoingBlock } from "./block-builder.js";

export class Interleaver {
  private readonly blocks: OutgoingBlock[] = [];
  private cursor = 0;

  get size(): number {
    return this.blocks.length;
  }

  /** Open blocks that match. */
  count(pred: (b: OutgoingBlock) => boolean): number {
    let n = 0;
    for (const b of this.blocks) if (pred(b)) n++;
    return n;
  }

  /** Packets still to send, over all open blocks. */
  get pendingPackets(): number {
    let n = 0;
    for (const b of this.blocks) n += b.packets.length - b.next;
    return n;
  }

  add(block: OutgoingBlock): void {
    this.blocks.push(block);
  }

  /** The next frame in round-robin order, or undefined when every block has gone out. */
  next(): Uint8Array | undefined {
    while (this.blocks.length > 0) {
      if (this.cursor >= this.blocks.length) this.cursor = 0;
      const b = this.blocks[this.cursor]!;
      const f = nextFrame(b);
      if (f === undefined) {
        this.blocks.splice(this.cursor, 1);
        continue;
      }
      if (b.next >= b.packets.length) this.blocks.splice(this.cursor, 1);
      else this.cursor++;
      return f;
    }
    return undefined;
  }

  clear(): void {
    this.blocks.length = 0;
    this.cursor = 0;
  }
}
