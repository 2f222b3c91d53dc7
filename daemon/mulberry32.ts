// mulberry32: a small seeded 32-bit PRNG from integer operations only, so its
// sequence is the same on every machine. For reproducible data (the demo
// model's weights) and replayable loss patterns (tests, the receiver's
// simulated drops) — never for anything secret.

/** Returns a function yielding uniform floats in [0, 1), determined by seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
