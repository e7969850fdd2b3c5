/** A token bucket on the injected clock's monotonic milliseconds: `burst` at once, `perS` a second after. */
export class TokenBucket {
  private tokens: number;
  constructor(private readonly perS: number, private readonly burst: number, private at: number) {
    this.tokens = burst;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perS) / 1000);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
