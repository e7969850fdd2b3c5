import type { Scenario } from '../scenarios/types';

/**
 * Finds the moments trips are measured from: the frequency falling through a threshold, the
 * relay contact closing. Fed at the rig's step (leap) or sampling period (wire), it narrows each
 * edge down to 1 ms by bisection on the scenario itself, so latencies do not depend on the step.
 */
export class SignalWatch {
  /** threshold (Hz) -> times (s) the frequency fell through it */
  readonly falls = new Map<number, number[]>();
  /** times (s) the relay contact closed */
  readonly relayCloses: number[] = [];
  private last?: { tS: number; hz: number; relay: boolean };

  constructor(private readonly scenario: Scenario, thresholds: number[]) {
    for (const h of thresholds) this.falls.set(h, []);
  }

  /** the plant's frequency and relay at rig time tS (= scenario time) */
  feed(tS: number, hz: number, relay: boolean): void {
    const prev = this.last;
    this.last = { tS, hz, relay };
    if (!prev) return;
    for (const [h, list] of this.falls) {
      if (prev.hz >= h && hz < h) list.push(this.edge(prev.tS, tS, (t) => this.scenario.at(t).hz < h));
    }
    if (!prev.relay && relay) this.relayCloses.push(this.edge(prev.tS, tS, (t) => this.scenario.at(t).relay));
  }

  /** first time in (a, b] where `after` holds, to 1 ms */
  private edge(a: number, b: number, after: (t: number) => boolean): number {
    if (!after(b)) return b; // the plant saw it but the scenario moved on: keep the step time
    let lo = a, hi = b;
    while (hi - lo > 0.001) {
      const mid = (lo + hi) / 2;
      if (after(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  }
}
