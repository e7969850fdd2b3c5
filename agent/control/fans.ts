/**
 * Fan control, pure: a temperature -> duty curve with a minimum duty, and fan-failure detection.
 * No I/O and no clock of its own: the caller passes `now` (the injected clock's ms) and the
 * latest readings, and applies the returned duties with IoBoard.setFanDuty.
 *
 * Policy:
 *  - duty follows a piecewise-linear curve of the hottest temperature; below the first point the
 *    first point's duty, above the last the last's; never below `min_duty`, so fans keep turning
 *    (airflow over idle boards, and a tach that can prove the fan alive);
 *  - "up at once, down slowly": duty rises immediately but falls at most `fall_per_s`, so fans
 *    do not hunt when a board throttles for a few seconds (evcc users ask the same of power);
 *  - an unknown temperature (no thermistor reading, I/O board lost) means full duty;
 *  - a fan is failed when it has been commanded at least `failure.duty` and its tach has read
 *    below `failure.rpm` for `failure.after_ms` (long enough for a stopped fan to spin up: a
 *    120 mm server fan reaches speed in 2-5 s). Unknown rpm (NaN) neither fails nor clears it.
 *    While any fan is failed, the others are driven at full duty.
 */
export interface FanCurveSettings {
  /** [°C, duty 0..1] points, temperature ascending. Default 35 °C 0.3, 60 °C 0.6, 75 °C 1.0 */
  points: [number, number][];
  /** floor of the duty (0..1), default 0.2 */
  min_duty: number;
  /** fastest fall of the duty (duty per second), default 0.05 (full to minimum in 16 s) */
  fall_per_s: number;
  failure: {
    /** commanded duty at or above which a fan must turn (0..1), default 0.5 */
    duty: number;
    /** rpm below which it counts as stopped, default 300 */
    rpm: number;
    /** how long that must last (ms), default 10000 */
    after_ms: number;
  };
}

export const FAN_DEFAULTS: FanCurveSettings = {
  points: [[35, 0.3], [60, 0.6], [75, 1]],
  min_duty: 0.2,
  fall_per_s: 0.05,
  failure: { duty: 0.5, rpm: 300, after_ms: 10_000 },
};

export interface FanReading {
  id: string;
  /** duty last commanded (0..1) */
  duty: number;
  /** measured speed; NaN when unknown */
  rpm: number;
}

export interface FanDecision {
  /** duty to command, per fan id */
  duty: Record<string, number>;
  /** every fan now considered failed */
  failed: string[];
  /** fans that failed on this update (raise a fault once) */
  newlyFailed: string[];
  /** fans that turn again on this update */
  recovered: string[];
}

/** duty from the curve alone (clamped, floored at min_duty); NaN temperature -> 1 */
export function curveDuty(tempC: number, s: FanCurveSettings = FAN_DEFAULTS): number {
  if (!Number.isFinite(tempC) || s.points.length === 0) return 1;
  const pts = s.points;
  let d: number;
  if (tempC <= pts[0][0]) d = pts[0][1];
  else if (tempC >= pts[pts.length - 1][0]) d = pts[pts.length - 1][1];
  else {
    const i = pts.findIndex(([t]) => t > tempC);
    const [t0, d0] = pts[i - 1];
    const [t1, d1] = pts[i];
    d = d0 + ((d1 - d0) * (tempC - t0)) / (t1 - t0);
  }
  return Math.min(1, Math.max(s.min_duty, d));
}

export class FanController {
  private duty?: number;
  private lastAt?: number;
  /** when each fan started looking stopped while commanded high */
  private readonly stoppedSince = new Map<string, number>();
  private readonly failedSet = new Set<string>();

  constructor(private readonly s: FanCurveSettings = FAN_DEFAULTS) {}

  /**
   * @param now      clock ms
   * @param hottestC hottest board/thermistor temperature (°C), NaN when unknown
   * @param fans     the fans' latest readings (IoBoard.fans())
   */
  update(now: number, hottestC: number, fans: FanReading[]): FanDecision {
    const target = curveDuty(hottestC, this.s);
    const dtS = this.lastAt === undefined ? 0 : Math.max(0, now - this.lastAt) / 1000;
    this.lastAt = now;
    this.duty = this.duty === undefined || target >= this.duty ? target : Math.max(target, this.duty - this.s.fall_per_s * dtS);

    const newlyFailed: string[] = [];
    const recovered: string[] = [];
    const f = this.s.failure;
    for (const fan of fans) {
      if (Number.isNaN(fan.rpm)) continue; // no tach reading: no evidence either way
      const stopped = fan.rpm < f.rpm;
      if (stopped && fan.duty >= f.duty) {
        const since = this.stoppedSince.get(fan.id) ?? now;
        this.stoppedSince.set(fan.id, since);
        if (now - since >= f.after_ms && !this.failedSet.has(fan.id)) {
          this.failedSet.add(fan.id);
          newlyFailed.push(fan.id);
        }
      } else {
        this.stoppedSince.delete(fan.id);
        if (!stopped && this.failedSet.delete(fan.id)) recovered.push(fan.id);
      }
    }

    // a failed fan is driven at full duty too: a stalled fan may restart, and its tach is then seen
    const d = this.failedSet.size > 0 ? 1 : this.duty;
    return {
      duty: Object.fromEntries(fans.map((x) => [x.id, d])),
      failed: [...this.failedSet],
      newlyFailed,
      recovered,
    };
  }
}
