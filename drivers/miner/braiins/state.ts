import type { MinerState, MinerStatus } from '../../../agent/hardware';
import { MinerStatusCode } from './proto';
import type { BosDetails, BosStats } from './replies';

/**
 * What one poll's replies say the miner is doing, as status() reports it: pure, from the
 * firmware's own MinerStatus (paused, stopped and DPS-suspended miners are asleep; NORMAL is
 * mining) and its readings.
 */
export type Reading = Omit<MinerStatus, 'id' | 'counters' | 'fault'>;

/** control board and fans with the hashboards paused (kW) */
export const STANDBY_KW = 0.03;
/** below this share of the nominal hashrate a mining miner is still coming up */
const WAKING_SHARE = 0.5;
/** above this share of the top target a paused miner is still ramping down */
const STOPPING_SHARE = 0.1;

export interface ReadingContext {
  /** the power target in force (W), if known */
  targetW?: number;
  /** the scale's top (W): the setting of a mining miner whose target is unknown */
  maxW: number;
  /**
   * no write went out since the poll began; otherwise the write knows better than the poll what
   * the miner is doing: on, state and setting stay as the write left them
   */
  fresh: boolean;
}

export function readingOf(d: BosDetails, s: BosStats, tempC: number, prev: Reading, c: ReadingContext): Reading {
  const measured = Number.isFinite(s.watts);
  const ths = s.ths;
  let { on, state, setting } = prev;
  if (c.fresh) {
    if (d.status === MinerStatusCode.paused || d.status === MinerStatusCode.notStarted || d.status === MinerStatusCode.suspended) {
      on = false;
      setting = 0;
      const drawing = measured && s.watts > (STANDBY_KW + STOPPING_SHARE * (c.maxW / 1000)) * 1000;
      state = ths > 0 || drawing ? 'stopping' : 'sleeping';
    } else if (d.status === MinerStatusCode.normal) {
      on = true;
      setting = c.targetW ?? c.maxW;
      const expected = s.nominalThs > 0 ? s.nominalThs * WAKING_SHARE : 0;
      state = ths > 0 && ths >= expected ? 'hashing' : 'waking';
    } else {
      // RESTRICTED (licence), or a status this driver does not know: not a state to act on
      state = 'unknown' satisfies MinerState;
    }
  }
  const kw = measured ? s.watts / 1000 : setting > 0 ? setting / 1000 : STANDBY_KW;
  return { on, kw, kwMeasured: measured, ths, tempC, state, setting };
}
