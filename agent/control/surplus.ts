/**
 * Surplus following: turns noisy meter samples into a miners' power target.
 * Pure: it sees (time, available kW) pairs and answers a target; no clock, no I/O.
 *
 * `available` is what the miners could draw without importing: their present draw less the grid
 * meter's reading (positive = import). Over a short window (the last `windowMs`, stretched to
 * hold at least `minSamples` samples so that a 1 s meter still has a spread to measure) the
 * follower fits a straight line to it:
 *
 *  - the margin kept in hand is the scatter around that line (one standard deviation: meter
 *    noise and load flicker) plus, while the surplus is falling, the fall expected before the
 *    next sample; never below `floorKw`, never above the configured `control.margin_kw`, which is
 *    thus the most the site ever holds back. A steady surplus costs a few tens of watts.
 *  - the level followed is the fitted line's present value, or the latest sample where that is
 *    lower: a single sample that reads high cannot raise the target, one that reads low lowers
 *    it at once. The controller reduces at once and raises only by more than its band or the
 *    scatter, whichever is larger, so a noisy meter does not make the boards hunt.
 */
export interface SurplusFollowerOptions {
  /** control.margin_kw: the most export ever held in hand (kW) */
  maxMarginKw: number;
  /** the least export held in hand (kW); capped at maxMarginKw (so margin_kw 0 means none) */
  floorKw?: number;
  windowMs?: number;
  minSamples?: number;
}

export const SURPLUS_DEFAULTS = { floorKw: 0.03, windowMs: 1000, minSamples: 2 } as const;

export class SurplusFollower {
  private readonly at: number[] = [];
  private readonly kw: number[] = [];
  private lastMargin: number;
  private lastScatter = 0;

  constructor(private readonly o: SurplusFollowerOptions) {
    this.lastMargin = Math.max(0, o.maxMarginKw);
  }

  /** the margin the last update held back (kW) */
  get marginKw(): number {
    return this.lastMargin;
  }

  /** the scatter of the window about its fitted line (kW): a rise smaller than this is noise */
  get scatterKw(): number {
    return this.lastScatter;
  }

  /** a fresh sample of the available power (kW); returns the miners' target before caps */
  update(at: number, availableKw: number): number {
    const windowMs = this.o.windowMs ?? SURPLUS_DEFAULTS.windowMs;
    const minSamples = Math.max(2, this.o.minSamples ?? SURPLUS_DEFAULTS.minSamples);
    const maxMargin = Math.max(0, this.o.maxMarginKw);
    const floor = Math.min(maxMargin, this.o.floorKw ?? SURPLUS_DEFAULTS.floorKw);
    // a sample out of order (the clock stepped back) starts the window over
    if (this.at.length && at < this.at[this.at.length - 1]) this.reset();
    this.at.push(at);
    this.kw.push(availableKw);
    let drop = 0;
    while (this.at.length - drop > minSamples && at - this.at[drop] > windowMs) drop++;
    if (drop) { this.at.splice(0, drop); this.kw.splice(0, drop); }

    const n = this.kw.length;
    if (n < 2) {
      // nothing to measure the spread with yet: hold the configured margin
      this.lastMargin = maxMargin;
      return availableKw - maxMargin;
    }
    // least-squares line through the window (time relative to now, in seconds)
    let st = 0, sk = 0;
    for (let i = 0; i < n; i++) { st += (this.at[i] - at) / 1000; sk += this.kw[i]; }
    const mt = st / n, mk = sk / n;
    let stt = 0, stk = 0;
    for (let i = 0; i < n; i++) {
      const dt = (this.at[i] - at) / 1000 - mt;
      stt += dt * dt;
      stk += dt * (this.kw[i] - mk);
    }
    const slope = stt > 0 ? stk / stt : 0; // kW per second
    const now = mk - slope * mt; // the line's value at `at`
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (this.kw[i] - (now + slope * ((this.at[i] - at) / 1000))) ** 2;
    const scatter = n > 2 ? Math.sqrt(ss / (n - 2)) : 0;
    this.lastScatter = scatter;
    const periodS = (at - this.at[n - 2]) / 1000;
    const fall = Math.max(0, -slope) * periodS;
    this.lastMargin = Math.min(maxMargin, Math.max(floor, scatter + fall));
    return Math.min(availableKw, now) - this.lastMargin;
  }

  reset(): void {
    this.at.length = 0;
    this.kw.length = 0;
  }
}
