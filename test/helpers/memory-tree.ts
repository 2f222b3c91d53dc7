// An in-memory node store for proof.ts: every complete subtree, keyed by
// level and index, filled by CompactRange as leaves are appended.

import { CompactRange } from "../../daemon/ledger/compact-range.js";
import { leafHash } from "../../daemon/ledger/merkle.js";
import type { NodeReader } from "../../daemon/ledger/proof.js";

export interface MemoryTree {
  range: CompactRange;
  nodes: Map<string, Uint8Array>;
  read: NodeReader;
  reads: { count: number };
}

export function memoryTree(entries: Uint8Array[]): MemoryTree {
  const nodes = new Map<string, Uint8Array>();
  const range = new CompactRange();
  for (const e of entries) range.append(leafHash(e), (level, index, hash) => nodes.set(`${level}/${index}`, hash));
  const reads = { count: 0 };
  const read: NodeReader = (level, index) => {
    reads.count++;
    const h = nodes.get(`${level}/${index}`);
    if (!h) throw new Error(`missing node ${level}/${index}`);
    return h;
  };
  return { range, nodes, read, reads };
}
