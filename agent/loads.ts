import type { LoadModel } from './control/types';
import type { Hashboard, NetworkMiner } from './hardware';

/**
 * How control sees each kind of load (agent/control/types.ts LoadModel). A new kind of load
 * joins the site here and with a runner (agent/runner.ts): the control core never names one.
 */

/**
 * the PLL step control splits a power target in (MHz): the hashboard driver's own ramp step
 * (about 29 W on a 110-chip BM1366 board); at 12.5 MHz the split left about half a point more
 * of the surplus unused
 */
export const SPLIT_STEP_MHZ = 6.25;

export function hashboardLoad(b: Hashboard): LoadModel {
  return { id: b.id, source: `board:${b.id}`, min: b.minMhz, max: b.maxMhz, step: SPLIT_STEP_MHZ, kwAt: (mhz) => b.kwAt(mhz) };
}

/**
 * Minimum on and off times of a network miner under control (trips always shed at once): a
 * stock machine takes the better part of a minute to wake and its PSU and fans suffer from
 * cycling, so one switched off stays off for minOffMs and one switched on stays on (at its
 * lowest setting at least) for minOnMs.
 */
export const MINER_TIMING = { minOnMs: 60_000, minOffMs: 120_000 } as const;

export function minerLoad(m: NetworkMiner, timing: { minOnMs: number; minOffMs: number } = MINER_TIMING): LoadModel {
  // read through at every use: a `driver: auto` miner's scale is its family's, known only once
  // start() has identified it (drivers/miner/auto.ts), after the site has built this model
  const s = m.settings;
  return {
    id: m.id,
    source: `miner:${m.id}`,
    get min() { return s.min; },
    get max() { return s.max; },
    get step() { return s.step; },
    kwAt: (x) => s.kwAt(x),
    ...timing,
  };
}
