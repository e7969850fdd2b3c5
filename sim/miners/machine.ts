/**
 * The physics of one simulated network miner, shared by every firmware family's simulator
 * (sim/miners/*): the family's API decides what a command means, this decides what the machine
 * then draws. Stopping and waking take seconds, with power falling and ramping as real machines
 * do (a stock S19 takes about 5 s to stop hashing and the better part of a minute to come back).
 * The plant (sim/plant.ts) adds every machine's kW to the grid meter and advances it each tick.
 */
export type MachineState = 'hashing' | 'sleeping' | 'waking' | 'stopping';

export interface MachineSpec {
  /** nameplate power at full setting (kW) */
  ratedKw: number;
  /** the control board and PSU asleep (kW) */
  standbyKw: number;
  /** hashrate at ratedKw (TH/s) */
  ratedThs: number;
  /** from a stop command to hashboards off (ms) */
  stopMs: number;
  /** from a wake command to hashing at the setting (ms) */
  wakeMs: number;
  /** a setting change while hashing settles in this long (ms) */
  rampMs: number;
}

export const STOCK_SPEC: MachineSpec = { ratedKw: 3.25, standbyKw: 0.02, ratedThs: 110, stopMs: 5000, wakeMs: 30_000, rampMs: 10_000 };

/** Fault switches a test flips; the family's API server reads them. */
export interface MachineFaults {
  /** the API accepts connections and never answers */
  hang: boolean;
  /** the API refuses connections (the machine is off the LAN) */
  down: boolean;
  /** replies are cut short or garbled */
  garbage: boolean;
}

export class SimMachine {
  state: MachineState = 'hashing';
  /** what it draws now (kW) */
  kw: number;
  /** what it draws once settled at its setting (kW) */
  private goalKw: number;
  private fromKw: number;
  private elapsedMs = 0;
  private phaseMs = 0;
  tempC = 65;
  readonly faults: MachineFaults = { hang: false, down: false, garbage: false };
  /** every command the API took, with the machine's state then (tests read it) */
  readonly log: { at: number; what: string }[] = [];

  constructor(readonly id: string, readonly spec: MachineSpec = STOCK_SPEC, startKw = spec.ratedKw) {
    this.kw = startKw;
    this.goalKw = startKw;
    this.fromKw = startKw;
  }

  get hashing(): boolean {
    return this.state === 'hashing' || (this.state === 'stopping' && this.kw > this.spec.standbyKw);
  }

  get ths(): number {
    return this.state === 'hashing' || this.state === 'stopping' ? (this.spec.ratedThs * Math.max(0, this.kw - this.spec.standbyKw)) / this.spec.ratedKw : 0;
  }

  /** stop hashing: power falls to standby over stopMs */
  sleep(what = 'sleep'): void {
    this.note(what);
    if (this.state === 'sleeping' || this.state === 'stopping') return;
    this.begin('stopping', this.spec.standbyKw, this.spec.stopMs);
  }

  /** hash at `kw` (kW the family's setting means): from sleep it wakes over wakeMs, else it ramps */
  run(kw: number, what = `run ${kw}`): void {
    this.note(what);
    const goal = Math.max(this.spec.standbyKw, Math.min(kw, this.spec.ratedKw * 1.2));
    if (this.state === 'sleeping' || this.state === 'stopping') this.begin('waking', goal, this.spec.wakeMs);
    else this.begin(this.state, goal, this.spec.rampMs);
  }

  /** the firmware restarts: off for `ms`, then hashing at its setting again */
  reboot(ms: number): void {
    this.note('reboot');
    const goal = this.goalKw;
    this.kw = this.spec.standbyKw;
    this.begin('waking', goal, ms + this.spec.wakeMs);
  }

  tick(dtMs: number): void {
    if (this.phaseMs <= 0) return;
    this.elapsedMs = Math.min(this.phaseMs, this.elapsedMs + dtMs);
    const f = this.elapsedMs / this.phaseMs;
    this.kw = this.fromKw + (this.goalKw - this.fromKw) * f;
    this.tempC += ((40 + 25 * (this.kw / this.spec.ratedKw)) - this.tempC) * Math.min(1, dtMs / 20_000);
    if (f >= 1) {
      this.phaseMs = 0;
      this.state = this.state === 'stopping' ? 'sleeping' : 'hashing';
    }
  }

  private begin(state: MachineState, goalKw: number, ms: number): void {
    this.state = state;
    this.fromKw = this.kw;
    this.goalKw = goalKw;
    this.elapsedMs = 0;
    this.phaseMs = Math.max(1, ms);
  }

  private note(what: string): void {
    this.log.push({ at: Date.now(), what });
    if (this.log.length > 1000) this.log.shift();
  }
}
