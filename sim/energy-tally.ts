import type { Plant } from './plant';

/**
 * The surplus-following tally shared by the time-leap rig (agent/leap.ts) and the baseline
 * policies' rig (scripts/bench/surplus.ts): per plant step, the surplus (generation less base
 * load), the miners' energy, the part of it that came out of the surplus, the import they
 * caused (their draw beyond the surplus), and board switchings (off -> on).
 */
export interface EnergyTotals {
  surplusKwh: number;
  usedKwh: number;
  minerKwh: number;
  minerImportKwh: number;
  /** times a board went from off to on */
  switchings: number;
}

export class EnergyTally implements EnergyTotals {
  surplusKwh = 0;
  usedKwh = 0;
  minerKwh = 0;
  minerImportKwh = 0;
  switchings = 0;
  private readonly wasOn = new Map<string, boolean>();

  constructor(private readonly plant: Plant) {
    for (const id of plant.boards.keys()) this.wasOn.set(id, false);
  }

  /** account one plant step of `stepMs`; returns the miners' kW over it */
  step(stepMs: number): number {
    const p = this.plant;
    const h = stepMs / 3_600_000;
    const surplus = Math.max(0, p.generationKw - p.baseLoadKw);
    const miners = p.minersKw();
    this.surplusKwh += surplus * h;
    this.minerKwh += miners * h;
    this.usedKwh += Math.min(miners, surplus) * h;
    this.minerImportKwh += Math.max(0, miners - surplus) * h;
    for (const [id, b] of p.boards) {
      if (b.enabled && !this.wasOn.get(id)) this.switchings++;
      this.wasOn.set(id, b.enabled);
    }
    return miners;
  }

  totals(): EnergyTotals {
    const { surplusKwh, usedKwh, minerKwh, minerImportKwh, switchings } = this;
    return { surplusKwh, usedKwh, minerKwh, minerImportKwh, switchings };
  }
}
