import { WorkMode } from './conf';

/**
 * Stock Antminer firmware reports no power, so the driver estimates it (kwMeasured false):
 *  - nameplate kW from config `rated_kw`, else from the model (Bitmain's published specs at the
 *    stock setting), else DEFAULT_RATED_KW (an S19 / S19 Pro: 3,250 W);
 *  - by work mode: normal = rated; low power = LOW_POWER_SHARE of rated; sleep = STANDBY_KW.
 *    Bitmain publishes no figure for its low-power mode; 0.7 is an estimate from field reports
 *    of X19 low-power mode (hashrate and power both down by roughly a third). Measure a site's
 *    own miners with the grid meter and set rated_kw accordingly; the shares are constants here.
 *  - while hashing, scaled by the hashrate against the firmware's own ideal (total_rateideal),
 *    which follows a stop or a wake as the boards go down or come up, and a board that is out.
 */
export const DEFAULT_RATED_KW = 3.25;
export const LOW_POWER_SHARE = 0.7;
/** control board and PSU with the hashboards off (sleep mode), kW */
export const STANDBY_KW = 0.02;

/** model (as `version` Type, without "Antminer ") -> nameplate kW; the longest matching name wins */
const RATED_KW: Record<string, number> = {
  S19: 3.25,
  'S19 Pro': 3.25,
  'S19j Pro': 3.068,
  'S19j Pro+': 3.355,
  'S19 XP': 3.01,
  'S19k Pro': 2.76,
  S21: 3.5,
  'S21 Pro': 3.51,
  'S21+': 3.564,
  'S21 XP': 3.645,
  T21: 3.61,
};

export function ratedKwOf(model: string | undefined, configured?: number): number {
  if (configured !== undefined && configured > 0) return configured;
  if (!model) return DEFAULT_RATED_KW;
  const m = model.toLowerCase().replace(/\s+/g, ' ').trim();
  let best: { len: number; kw: number } | undefined;
  for (const [name, kw] of Object.entries(RATED_KW)) {
    const n = name.toLowerCase();
    // "S19j Pro" must not match "S19j Pro+" nor "S19" match "S19j Pro": whole name or name + space
    if ((m === n || m.startsWith(`${n} `)) && (!best || n.length > best.len)) best = { len: n.length, kw };
  }
  return best?.kw ?? DEFAULT_RATED_KW;
}

/** the kW a work mode means once settled */
export function kwOfMode(mode: WorkMode, ratedKw: number): number {
  if (mode === WorkMode.Sleep) return STANDBY_KW;
  if (mode === WorkMode.LowPower) return ratedKw * LOW_POWER_SHARE;
  return ratedKw;
}

/**
 * The estimate for status(): from the hashrate where the firmware says what it expects, never
 * above the mode's own figure (some builds may report the low-power ideal in low-power mode);
 * else the mode's nominal figure (standby once nothing hashes).
 */
export function estimateKw(mode: WorkMode, ratedKw: number, ths: number, idealThs: number): number {
  if (Number.isFinite(ths) && Number.isFinite(idealThs) && idealThs > 0) {
    const share = Math.min(1, Math.max(0, ths / idealThs));
    const cap = mode === WorkMode.Sleep ? ratedKw : kwOfMode(mode, ratedKw);
    return Math.min(cap, STANDBY_KW + (ratedKw - STANDBY_KW) * share);
  }
  if (Number.isFinite(ths) && ths <= 0) return STANDBY_KW;
  return kwOfMode(mode, ratedKw);
}
