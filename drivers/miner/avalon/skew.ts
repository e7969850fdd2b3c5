/**
 * The miner's clock, as seen from ours. Avalon's softoff/softon act when the miner's own clock
 * reaches a Unix timestamp, so a trip stamped with our clock waits out any skew between the two
 * (a miner 30 s behind would stop 30 s late), and open clients add 5 s on top. Every reply's
 * STATUS `When` is the miner's Unix time in whole seconds (current firmware; old A10 firmware
 * counts from boot, which this ignores): a reply sent at our `sent` and received at `recv` with
 * `When = w` bounds the offset (miner − ours) to [w·1000 − recv, (w + 1)·1000 − sent]. Intersecting
 * the bounds of the last WINDOW replies narrows it to about the request's round trip; a bound that
 * contradicts the others (a clock stepped on either side) drops the older ones.
 *
 * stamp() is the miner's present second, rounded up from the upper bound: never a second the
 * miner's clock has left behind, half a second ahead of it on average, 2 s at most (the rounding
 * plus what the bounds have not narrowed yet).
 */
const WINDOW = 16;
/** `When` below this is seconds since boot, not Unix time (2001-09-09) */
const UNIX_FROM_S = 1_000_000_000;

interface Bound {
  lo: number;
  hi: number;
}

export class MinerClock {
  private bounds: Bound[] = [];

  /** one reply's `When` (s) and our wall clock (ms) when the request went out and the reply came in */
  observe(whenS: number | undefined, sentMs: number, recvMs: number): void {
    if (whenS === undefined || !Number.isFinite(whenS) || whenS < UNIX_FROM_S) return;
    const b = { lo: whenS * 1000 - recvMs, hi: (whenS + 1) * 1000 - sentMs };
    const keep = this.bounds.filter((o) => o.lo <= b.hi && b.lo <= o.hi);
    // a contradiction means a clock stepped: the newest reply is the truth from here on
    this.bounds = keep.length === this.bounds.length ? [...keep, b].slice(-WINDOW) : [b];
  }

  /** the offset's bounds (ms, miner − ours), undefined before any Unix-time reply */
  offset(): Bound | undefined {
    if (this.bounds.length === 0) return undefined;
    return { lo: Math.max(...this.bounds.map((b) => b.lo)), hi: Math.min(...this.bounds.map((b) => b.hi)) };
  }

  /** the timestamp (Unix s) that is "now" on the miner: our clock when it has told us nothing */
  stamp(ourNowMs: number): number {
    const off = this.offset();
    return Math.ceil((ourNowMs + (off ? off.hi : 0)) / 1000);
  }
}
