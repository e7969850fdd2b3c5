import type { LuxosProfile } from './api';

/**
 * LuxOS profiles as control's power steps (MinerSettings, unit `level`): setting 1 is the profile
 * that draws least, n the one that draws most, 0 is curtail sleep. kW at a setting is the
 * firmware's own estimate for that profile (PROFILES[].Watts), so surplus mode trims a LuxOS miner
 * a profile at a time instead of switching it. The profile is set by name: the firmware's power
 * selector (`profileset <sid>,3000W`, the profile nearest 3 kW) would pick a neighbour of the one
 * whose watts control was promised.
 *
 * Over-clocked profiles (Step > 0, or above the default profile's watts where no Step is given)
 * are left off the scale unless asked for: the default is the machine's nameplate, and Luxor
 * warns that over-clocking raises the failure rate (docs.luxor.tech/firmware/features).
 * Until the firmware has listed its profiles the scale is on/off at `fallbackKw`.
 */
export class ProfileScale {
  private steps: LuxosProfile[] = [];

  constructor(private readonly overclock: boolean, private readonly fallbackKw: number, private readonly standbyKw: number) {}

  /** the profiles offered, from least power up */
  get profiles(): readonly LuxosProfile[] {
    return this.steps;
  }

  get max(): number {
    return Math.max(1, this.steps.length);
  }

  update(all: readonly LuxosProfile[]): void {
    const def = all.find((p) => p.name === 'default' || p.step === 0);
    const over = (p: LuxosProfile) => (p.step !== undefined ? p.step > 0 : def !== undefined && p.watts > def.watts);
    this.steps = all.filter((p) => this.overclock || !over(p)).sort((a, b) => a.watts - b.watts);
  }

  /** the profile at a setting (1..max); undefined on an on/off scale */
  at(setting: number): LuxosProfile | undefined {
    return this.steps[setting - 1];
  }

  /** the setting of a profile in force: by name, else the step nearest its watts; undefined if unknown */
  settingOf(name: string | undefined, watts?: number): number | undefined {
    if (this.steps.length === 0) return name === undefined && watts === undefined ? undefined : 1;
    const i = this.steps.findIndex((p) => p.name === name);
    if (i >= 0) return i + 1;
    if (watts === undefined) return undefined;
    let best = 0;
    for (let k = 1; k < this.steps.length; k++) if (Math.abs(this.steps[k].watts - watts) < Math.abs(this.steps[best].watts - watts)) best = k;
    return best + 1;
  }

  kwAt(setting: number): number {
    if (setting <= 0) return this.standbyKw;
    const p = this.steps[Math.min(this.steps.length, Math.max(1, Math.round(setting))) - 1];
    return p ? p.watts / 1000 : this.fallbackKw;
  }

  /** the hashrate the firmware expects at a setting (TH/s), NaN if it did not say */
  thsAt(setting: number): number {
    return this.at(setting)?.ths ?? NaN;
  }
}
