import type { SimMachine } from '../miners/machine';

/**
 * Each network miner's response to the scenario's curtails, as the simulated machines saw it
 * (the same in both rigs): when its firmware carried out the stop, counted from the moment the
 * controller sent the curtail, and when its power was gone (the machine asleep, drawing standby
 * only). Fed by the rig: curtail() when a curtail goes out, release() when one ends, sample()
 * every recording step.
 */
export interface WatchedMiner {
  id: string;
  family: string;
  host?: string;
  machine: SimMachine;
  /** the first stop the firmware carried out at or after `tS` (run seconds), in run seconds */
  stopAfter(tS: number): number | undefined;
}

export interface MinerCurtail {
  /** when the curtail was sent (run seconds) */
  tS: number;
  /** what the machine drew then (kW) */
  kwBefore: number;
  /** asleep (or stopping) already: nothing to stop */
  asleep: boolean;
  /** curtail sent → the firmware carried out the stop (ms); null: not seen */
  stopMs: number | null;
  /** curtail sent → the machine asleep (s); null: not seen */
  goneS: number | null;
}

export interface MinerLog {
  id: string;
  family: string;
  host?: string;
  ratedKw: number;
  curtails: MinerCurtail[];
}

/** a curtail's miners are watched this long at most (the agent's own settle timeout) */
const WATCH_S = 300;

export class MinerWatch {
  private readonly logs: MinerLog[];
  private open?: { tS: number; pending: Set<number> };

  constructor(private readonly miners: WatchedMiner[]) {
    this.logs = miners.map((m) => ({ id: m.id, family: m.family, ...(m.host ? { host: m.host } : {}), ratedKw: m.machine.spec.ratedKw, curtails: [] }));
  }

  get size(): number {
    return this.miners.length;
  }

  /** a curtail went out at tS */
  curtail(tS: number): void {
    this.open = { tS, pending: new Set() };
    this.miners.forEach((m, i) => {
      const st = m.machine.state;
      this.logs[i].curtails.push({ tS, kwBefore: Math.round(m.machine.kw * 1000) / 1000, asleep: st === 'sleeping' || st === 'stopping', stopMs: null, goneS: null });
      this.open!.pending.add(i);
    });
    this.sample(tS);
  }

  /** the curtailment ended: what was not seen by now is not seen */
  release(): void {
    this.open = undefined;
  }

  sample(tS: number): void {
    const o = this.open;
    if (!o) return;
    if (tS - o.tS > WATCH_S) { this.open = undefined; return; }
    for (const i of o.pending) {
      const c = this.logs[i].curtails.at(-1)!;
      const m = this.miners[i];
      if (c.stopMs === null) {
        const s = m.stopAfter(o.tS);
        if (s !== undefined) c.stopMs = Math.round(Math.max(0, s - o.tS) * 1e4) / 10;
      }
      if (c.goneS === null && m.machine.state === 'sleeping') c.goneS = Math.round(Math.max(0, tS - o.tS) * 1000) / 1000;
      if (c.stopMs !== null && c.goneS !== null) o.pending.delete(i);
    }
  }

  /** every miner's curtails */
  result(): MinerLog[] {
    return this.logs;
  }
}

/** the machine's share of its rated power, for the report's strip (0 asleep) */
export function minerShare(m: SimMachine): number {
  return m.state === 'sleeping' ? 0 : Math.max(0, Math.min(1, (m.kw - m.spec.standbyKw) / Math.max(1e-9, m.spec.ratedKw - m.spec.standbyKw)));
}
