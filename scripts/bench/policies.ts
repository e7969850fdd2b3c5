import type { LoadModel } from '../../agent/control/types';

/**
 * Baseline surplus policies for `hashflex bench surplus`: plain reference controllers written
 * the way the tools they stand for behave by default, so hashflex is compared with something
 * real rather than a straw man. Each one sees a meter sample (grid kW, + = import) and the
 * miners' present draw, and answers a miners' power target (kW); the rig splits it across the
 * boards with the same splitter and drives them through the same board runners as the agent,
 * so only the policy differs.
 */
export interface Policy {
  name: string;
  about: string;
  /** how often the policy runs (ms): it reads the meter and decides once per period */
  periodMs: number;
  decide(at: number, gridKw: number, minersKw: number): number;
}

/**
 * OpenEMS-like: a 1 s cycle that sets the controllable load to the measured surplus
 * (its grid-balancing controllers aim at 0 W at the grid meter every cycle). OpenEMS's Core
 * Cycle is 1000 ms by default (`io.openems.edge.core.cycle`, `cycleTime`).
 */
export function openemsPolicy(maxKw: number): Policy {
  return {
    name: 'openems-1s',
    about: 'every 1 s: miners = measured surplus',
    periodMs: 1000,
    decide: (_at, gridKw, minersKw) => clamp(minersKw - gridKw, 0, maxKw),
  };
}

/**
 * evcc-like PV mode with evcc's defaults (docs.evcc.io, `interval: 30s`; loadpoint `enable`
 * delay 1m and `disable` delay 3m, threshold 0): every 30 s the surplus is measured; below the
 * minimum power the load keeps running at its minimum until the surplus has been short for
 * the disable delay, and it starts only after the surplus has covered the minimum for the
 * enable delay. While running, it follows the surplus (as evcc adjusts charge current).
 */
export function evccPolicy(maxKw: number, minKw: number): Policy {
  let enabled = false;
  let since: number | undefined;
  return {
    name: 'evcc-30s',
    about: 'every 30 s: follow surplus; enable after 1 min above minimum, disable after 3 min below',
    periodMs: 30_000,
    decide(at, gridKw, minersKw) {
      const avail = minersKw - gridKw;
      const enough = avail >= minKw;
      if (enabled === enough) since = undefined;
      else {
        since ??= at;
        if (at - since >= (enabled ? 180_000 : 60_000)) {
          enabled = !enabled;
          since = undefined;
        }
      }
      return enabled ? clamp(avail, minKw, maxKw) : 0;
    },
  };
}

/** The site's smallest running power: one board at its lowest frequency. */
export function minimumKw(boards: LoadModel[]): number {
  return Math.min(...boards.map((b) => b.kwAt(b.min)));
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, x));
}
