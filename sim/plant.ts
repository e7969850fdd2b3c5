/**
 * Site physics shared by every simulated device: grid frequency, generation, base load, and the
 * boards' power and temperature. Devices read and write it; scenarios drive it over time.
 * The grid meter sees  W = base load + boards + network miners − generation  (positive = import).
 */
import type { SimMachine } from './miners/machine';
export interface SimBoard {
  id: string;
  chips: number;
  /** power-enable line from the I/O board */
  enabled: boolean;
  /** chain active (hashing); chain-inactive or a reset clears it */
  active: boolean;
  /** chip PLL frequency (MHz) as last written */
  mhz: number;
  /** watts per chip at a frequency: the simulated silicon's own curve */
  wattsPerChip(mhz: number): number;
  tempC: number;
}

export interface SimFan {
  id: string;
  duty: number;
  rpm: number;
  /** a failed fan: duty has no effect, rpm falls to zero */
  failed: boolean;
}

export const AMBIENT_C = 25;
const FAN_MAX_RPM = 6000;
const THERMAL_TAU_S = 20;

export class Plant {
  hz = 60;
  generationKw = 0;
  baseLoadKw = 0;
  /** grid operator's hard-wired relay contact (true = signalling a trip) */
  relayActive = false;
  readonly boards = new Map<string, SimBoard>();
  readonly fans = new Map<string, SimFan>();
  /** stock and aftermarket miners on the LAN (sim/miners/), whichever firmware they speak */
  readonly machines = new Map<string, SimMachine>();
  /** cumulative meter counters (kWh) */
  importKwh = 0;
  exportKwh = 0;

  boardKw(b: SimBoard): number {
    if (!b.enabled) return 0;
    // an enabled but idle chain still draws a little (controller, fans on the board)
    const idle = 0.01 * b.chips;
    return b.active && b.mhz > 0 ? (idle + b.chips * b.wattsPerChip(b.mhz)) / 1000 : idle / 1000;
  }

  minersKw(): number {
    let kw = 0;
    for (const b of this.boards.values()) kw += this.boardKw(b);
    for (const m of this.machines.values()) kw += m.kw;
    return kw;
  }

  gridKw(): number {
    return this.baseLoadKw + this.minersKw() - this.generationKw;
  }

  /** advance thermal, fan and energy state by dtMs */
  tick(dtMs: number): void {
    const dtS = dtMs / 1000;
    for (const m of this.machines.values()) m.tick(dtMs);
    const grid = this.gridKw();
    if (grid > 0) this.importKwh += (grid * dtS) / 3600;
    else this.exportKwh += (-grid * dtS) / 3600;
    let airflow = 0;
    for (const f of this.fans.values()) {
      const target = f.failed ? 0 : f.duty * FAN_MAX_RPM;
      f.rpm += (target - f.rpm) * Math.min(1, dtS / 2); // fans spin up in about 2 s
      airflow += f.rpm / FAN_MAX_RPM;
    }
    const cooling = this.fans.size ? 0.15 + airflow / this.fans.size : 1;
    for (const b of this.boards.values()) {
      const steady = AMBIENT_C + (this.boardKw(b) * 1000 / Math.max(1, b.chips)) * 2.5 / cooling;
      b.tempC += (steady - b.tempC) * Math.min(1, dtS / THERMAL_TAU_S);
    }
  }
}
