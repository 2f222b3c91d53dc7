// Token-bucket pacing: the diode's one defence against overrunning the
// receiver, which can never say "slow down". Pure: the caller passes the clock.

export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  /**
   * @param rateBytesPerS sustained rate.
   * @param burstBytes the most that may go out back to back (the bucket's depth).
   * @param nowMs the clock at creation; the bucket starts full.
   */
  constructor(
    readonly rateBytesPerS: number,
    readonly burstBytes: number,
    nowMs: number,
  ) {
    if (!(rateBytesPerS > 0)) throw new RangeError("rateBytesPerS must be > 0");
    if (!(burstBytes > 0)) throw new RangeError("burstBytes must be > 0");
    this.tokens = burstBytes;
    this.lastMs = nowMs;
  }

  private refill(nowMs: number): void {
    if (nowMs > this.lastMs) {
      this.tokens = Math.min(this.burstBytes, this.tokens + ((nowMs - this.lastMs) * this.rateBytesPerS) / 1000);
      this.lastMs = nowMs;
    }
  }

  /** Tokens available now. */
  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }

  /**
   * Takes `bytes` if the bucket holds them and returns true; otherwise takes
   * nothing and returns false. A frame larger than the bucket may go when the
   * bucket is full (it then runs into debt), so no frame waits forever.
   */
  tryTake(bytes: number, nowMs: number): boolean {
    this.refill(nowMs);
    if (this.tokens >= bytes || this.tokens >= this.burstBytes) {
      this.tokens -= bytes;
      return true;
    }
    return false;
  }

  /** Takes `bytes` whatever the bucket holds (it may run into debt, paid off before anything else passes). */
  charge(bytes: number, nowMs: number): void {
    this.refill(nowMs);
    this.tokens -= bytes;
  }

  /** Milliseconds until `bytes` could be taken (0 when it can now). */
  waitMs(bytes: number, nowMs: number): number {
    this.refill(nowMs);
    const need = Math.min(bytes, this.burstBytes) - this.tokens;
    return need <= 0 ? 0 : (need * 1000) / this.rateBytesPerS;
  }
}
