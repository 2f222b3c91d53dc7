// The carousel's catch-up bound: how long a receiver that starts listening
// now needs, at most, to hold every retained entry (when no symbol is lost
// beyond what FEC repairs). Shown by `sealbox diode status` and sent in every
// heartbeat, so a technician knows how long to keep a receiver listening. Pure.
//
// A receiver that joins mid-pass gets every block opened after it joined
// within the rest of that pass. The blocks already open when it joined (at
// most the interleave depth of them) it has only in part; their next
// transmissions come one pass later, in the same order, and complete them.
// So: one pass, plus one interleave window, plus the wait before a short pass
// may start again, plus one heartbeat (entries are written once a signed
// checkpoint that covers them has arrived).

export interface CatchupInputs {
  /** Wire bytes of one full carousel pass over the retained range. */
  retainedWireBytes: number;
  /** Wire bytes of one full block (source and repair symbols). */
  blockWireBytes: number;
  interleaveDepth: number;
  /** The carousel's rate, bytes per second. */
  rateBytesPerS: number;
  heartbeatIntervalMs: number;
  /** A pass starts no sooner than this after the previous one started. */
  carouselMinPassMs: number;
}

export interface CatchupBound {
  passS: number;
  /** Wire bytes of the blocks that may be open when a receiver joins. */
  inFlightWireBytes: number;
  boundS: number;
}

export function catchupBound(i: CatchupInputs): CatchupBound {
  const passS = i.retainedWireBytes / i.rateBytesPerS;
  const inFlightWireBytes = Math.min(i.retainedWireBytes, i.interleaveDepth * i.blockWireBytes);
  const gapS = Math.max(0, i.carouselMinPassMs / 1000 - passS);
  return { passS, inFlightWireBytes, boundS: passS + inFlightWireBytes / i.rateBytesPerS + gapS + i.heartbeatIntervalMs / 1000 };
}
