/**
 * What each setting draws, for control's kwAt(): learnt from the miner's own readings once it has
 * settled at a setting (and at soft-off), estimated before that. The estimate's top is config's
 * rated_kw, else the firmware's MPO (its power limit at the present mode), else a typical A-series
 * figure; the lowest level is taken at LOW_LEVEL_SHARE of it, the others in between.
 */
const DEFAULT_RATED_KW = 3.3;
/** soft-off: control board and fans only, until measured (kW) */
const DEFAULT_STANDBY_KW = 0.05;
/** the lowest level's share of the top level's power, until measured */
const LOW_LEVEL_SHARE = 0.75;

export class LevelPower {
  private measured = new Map<number, number>();
  private standby?: number;
  /** MPO from the last estats (W) */
  mpoW?: number;

  constructor(private readonly ratedKw?: number) {}

  /** kW at setting s of n (0: soft-off) */
  kwAt(s: number, n: number): number {
    if (s <= 0) return this.standby ?? DEFAULT_STANDBY_KW;
    const seen = this.measured.get(s);
    if (seen !== undefined) return seen;
    const top = this.ratedKw ?? (this.mpoW ? this.mpoW / 1000 : DEFAULT_RATED_KW);
    const share = n <= 1 ? 1 : LOW_LEVEL_SHARE + ((1 - LOW_LEVEL_SHARE) * (Math.min(s, n) - 1)) / (n - 1);
    return top * share;
  }

  learn(s: number, kw: number): void {
    if (s <= 0) this.standby = ewma(this.standby, kw);
    else this.measured.set(s, ewma(this.measured.get(s), kw));
  }
}

function ewma(prev: number | undefined, x: number): number {
  return prev === undefined ? x : prev * 0.7 + x * 0.3;
}
