import type { MinerSettings } from '../../../agent/hardware';
import type { Preset } from './reply';

/**
 * VNish's power presets as the MinerSettings scale, in watts. Presets are not evenly spaced
 * (an S19 offers 1100, 1300, …, 2350, 2620, 2950 W), while control moves a load from `min` in
 * equal `step`s. So the scale's step is the smallest gap between two presets, and a setting runs
 * the highest preset not above it (pyasic's set_power_limit picks the same): every preset then
 * has at least one setting that lands on it, and a surplus trims the miner preset by preset.
 * `max` is the first step at or above the top preset, so stepping up reaches it.
 *
 * Which presets: those tuned on this machine and needing no modified PSU. Choosing an untuned
 * preset starts an autotune (minutes at a reduced hashrate), which a grid-following load cannot
 * afford; where none is tuned yet (a fresh install) every stock-PSU preset is offered.
 */
export interface PresetScale {
  min: number;
  max: number;
  step: number;
  /** the presets on the scale, by power, lowest first */
  presets: Preset[];
}

export function usablePresets(all: Preset[]): Preset[] {
  const stock = all.filter((p) => !p.moddedPsu);
  const tuned = stock.filter((p) => p.tuned);
  const chosen = tuned.length > 0 ? tuned : stock;
  // one preset per power (a build listing "2350" twice must not make a zero gap)
  const byWatts = new Map<number, Preset>();
  for (const p of chosen) if (!byWatts.has(p.watts) || p.tuned) byWatts.set(p.watts, p);
  return [...byWatts.values()].sort((a, b) => a.watts - b.watts);
}

/** the scale over `presets` (usablePresets' order); a single point at `fallbackWatts` when there are none */
export function scaleOf(presets: Preset[], fallbackWatts: number): PresetScale {
  if (presets.length === 0) return { min: fallbackWatts, max: fallbackWatts, step: 1, presets };
  const w = presets.map((p) => p.watts);
  const min = w[0];
  const top = w[w.length - 1];
  if (w.length === 1) return { min, max: min, step: 1, presets };
  let step = Infinity;
  for (let i = 1; i < w.length; i++) step = Math.min(step, w[i] - w[i - 1]);
  return { min, max: min + Math.ceil((top - min) / step) * step, step, presets };
}

/** the preset a setting (> 0) runs: the highest not above it, the lowest for a setting under all */
export function presetAt(scale: PresetScale, setting: number): Preset | undefined {
  const list = scale.presets;
  let pick = list[0];
  for (const p of list) if (p.watts <= setting + 1e-9) pick = p;
  return pick;
}

/**
 * The MinerSettings a VNish miner offers, read through at every use: the scale changes when the
 * preset list is read (at start, then now and then), and control holds this one object.
 */
export class PresetSettings implements MinerSettings {
  readonly unit = 'watts' as const;

  constructor(public scale: PresetScale, private readonly standbyKw: number) {}

  get min(): number {
    return this.scale.min;
  }

  get max(): number {
    return this.scale.max;
  }

  get step(): number {
    return this.scale.step;
  }

  /** the preset's own power at a setting; with no presets known, the one point the scale has */
  kwAt(setting: number): number {
    if (!(setting > 0)) return this.standbyKw;
    return (presetAt(this.scale, setting)?.watts ?? this.scale.max) / 1000;
  }
}
