import type { MeterWindow } from './devices';

/**
 * Does an enable line switch its board? Judged from the meter, on a site whose own load moves
 * while the doctor watches (a cloud over the panels, a gust, a pump). One cycle reads the meter
 * four times: `off` (board off), `on` (its line high, hashing), `low` (only its line dropped:
 * the chain still has work), `offAfter` (the chain stopped as well, so the board is off whatever
 * its line does). The two off readings say how far the site moved meanwhile; the site's load at
 * the `on` and `low` readings is interpolated between them and subtracted, which removes any
 * steady drift. What a straight line cannot remove is bounded from one more off reading before
 * (`trend`: an extra reading ahead of the first cycle, the previous cycle's off readings after
 * it): the site's curvature, seen as where it went against that trend extended. A cycle counts
 * only when that bound plus three standard errors of the four window means is under a quarter
 * of the board's expected power; otherwise the doctor runs another, and says it cannot tell
 * when none counted.
 */

export interface Cycle {
  off: MeterWindow;
  on: MeterWindow;
  low: MeterWindow;
  offAfter: MeterWindow;
}

/** two off readings before a cycle: the site's trend coming into it */
export interface Trend {
  from: MeterWindow;
  to: MeterWindow;
}

export interface CycleFigures {
  /** the board's power seen with its line high: on minus the site's interpolated load (kW) */
  came_kw: number;
  /** power still there with only its line dropped (kW): about 0 if the line cuts the board */
  stayed_kw: number;
  /** the site's own move between the cycle's two off readings (kW) */
  moved_kw: number;
  /** where the site went against the trend coming into the cycle (kW) */
  trend_miss_kw: number;
  /** three standard errors of the four window means together (kW) */
  noise_kw: number;
  /** bound on the site's move that the interpolation leaves in came and stayed (kW) */
  wobble_kw: number;
  uncertainty_kw: number;
}

/** pass; stuck: the power did not go with the line; unseen: no power came */
export type StepVerdict = 'pass' | 'stuck' | 'unseen';

const se = (w: MeterWindow) => (w.n > 0 ? w.sd / Math.sqrt(w.n) : Number.POSITIVE_INFINITY);

export function cycleFigures(c: Cycle, trend: Trend): CycleFigures {
  const t0 = c.off.t;
  const t1 = c.offAfter.t;
  const span = t1 - t0;
  const moved = c.offAfter.kw - c.off.kw;
  const site = (t: number) => (span > 0 ? c.off.kw + (moved * (t - t0)) / span : (c.off.kw + c.offAfter.kw) / 2);
  const noise = 3 * Math.sqrt(se(c.on) ** 2 + se(c.low) ** 2 + se(c.off) ** 2 + se(c.offAfter) ** 2);
  const tp = trend.from.t;
  const lead = trend.to.t - tp;
  const rate = lead > 0 ? (trend.to.kw - trend.from.kw) / lead : 0;
  // where the trend says the site would be at t1, from the cycle's first off reading
  const miss = c.offAfter.kw - (c.off.kw + rate * span);
  let wobble = Math.abs(moved) / 2; // no usable trend: a move need not be a straight line
  if (lead > 0 && span > 0) {
    // a load curving as k*t^2 misses the trend line through tp at t1 by about k*(t1-t0)*(t1-tp),
    // and the chord of [t0, t1] at t by k*(t-t0)*(t1-t): so much at the on and low readings, twice
    const k = Math.abs(miss) / (span * (t1 - tp));
    wobble = 2 * k * Math.max(...[c.on.t, c.low.t].map((t) => Math.max(0, (t - t0) * (t1 - t))));
  }
  return {
    came_kw: c.on.kw - site(c.on.t),
    stayed_kw: c.low.kw - site(c.low.t),
    moved_kw: moved,
    trend_miss_kw: miss,
    noise_kw: noise,
    wobble_kw: wobble,
    uncertainty_kw: noise + wobble,
  };
}

/** the verdict of one cycle for a board expected to draw `expectedKw`, or undefined: cannot tell yet */
export function cycleVerdict(f: CycleFigures, expectedKw: number): StepVerdict | undefined {
  if (!(f.uncertainty_kw < expectedKw / 4)) return undefined;
  if (f.came_kw < expectedKw / 2) return 'unseen';
  return f.came_kw - f.stayed_kw >= expectedKw / 2 ? 'pass' : 'stuck';
}

/** how far the site's load moved in the cycles that did not count (kW): the largest move seen */
export function unsteadyKw(all: CycleFigures[]): number {
  return Math.max(0, ...all.map((f) => Math.max(Math.abs(f.moved_kw), Math.abs(f.trend_miss_kw), f.noise_kw)));
}
