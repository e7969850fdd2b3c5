/**
 * Records a simulation run for its report, in bounded memory: plant and agent values go into
 * time buckets (mean, min, max); when there are too many buckets, neighbours merge and the bucket
 * width doubles, so a 48-hour run keeps about the same few thousand points as a 10-minute one.
 * Energy is integrated at full rate, before any downsampling. Rig-neutral: the time-leap rig and
 * the real-wire rig both feed it.
 */

/** One look at the site, fed every step (leap) or every sampling period (wire). */
export interface Frame {
  tS: number;
  /** meter's view: positive = import */
  gridKw: number;
  minersKw: number;
  generationKw: number;
  loadKw: number;
  hz: number;
  /** the grid operator's relay contact, an input of the agent: true = closed (trip signalled) */
  relay?: boolean;
  /**
   * per board: chip frequency as a share of its maximum (0 = off); then, for the report's strip,
   * each network miner of RunLog.minerStrip: its power as a share of its nameplate (0 = asleep)
   */
  boards: number[];
  state: string;
  targetKw?: number;
}

export interface Stat {
  mean: number;
  min: number;
  max: number;
}

export interface Bucket {
  tS: number;
  n: number;
  grid: Stat;
  miners: Stat;
  surplus: Stat;
  hz: Stat;
  /** relay contact closed: mean = share of the bucket's samples, max = 1 if closed at all */
  relay: Stat;
  /** per board: mean of (on ? share of max frequency : 0) */
  boards: number[];
  /** the most serious state seen in the bucket */
  state: string;
}

export interface Energy {
  surplusKwh: number;
  /** surplus the miners could have taken: capped by their capacity */
  usableKwh: number;
  usedKwh: number;
  minerKwh: number;
  minerImportKwh: number;
}

/** site states, least to most serious: a bucket shows its worst */
const SEVERITY = ['running', 'ramping', 'fault', 'curtailed', 'tripped'];

export class Recorder {
  readonly energy: Energy = { surplusKwh: 0, usableKwh: 0, usedKwh: 0, minerKwh: 0, minerImportKwh: 0 };
  readonly buckets: Bucket[] = [];
  /** every change of site state (bounded: a hunting site still keeps the first 20,000) */
  readonly states: { tS: number; state: string }[] = [];
  private widthS: number;
  private acc?: { b: Bucket; sums: number[] };
  private lastT?: number;

  /**
   * @param capacityKw the most the miners can draw (sum of boards at full frequency, capped by max_kw)
   * @param maxBuckets memory bound: about this many points per series (default 1500)
   * @param widthS starting bucket width (s)
   */
  constructor(readonly capacityKw: number, private readonly maxBuckets = 1500, widthS = 0.5) {
    this.widthS = widthS;
  }

  /** feed one frame; dtS is the time it stands for (energy) */
  add(f: Frame, dtS: number): void {
    const surplus = Math.max(0, f.generationKw - f.loadKw);
    const relay = f.relay ? 1 : 0;
    const h = dtS / 3600;
    this.energy.surplusKwh += surplus * h;
    this.energy.usableKwh += Math.min(surplus, this.capacityKw) * h;
    this.energy.minerKwh += f.minersKw * h;
    this.energy.usedKwh += Math.min(f.minersKw, surplus) * h;
    this.energy.minerImportKwh += Math.max(0, f.minersKw - surplus) * h;
    if (this.states.at(-1)?.state !== f.state && this.states.length < 20_000) this.states.push({ tS: f.tS, state: f.state });
    this.lastT = f.tS;

    const start = Math.floor(f.tS / this.widthS) * this.widthS;
    if (!this.acc || this.acc.b.tS !== start) {
      this.flush();
      const stat = (v: number): Stat => ({ mean: 0, min: v, max: v });
      this.acc = {
        b: { tS: start, n: 0, grid: stat(f.gridKw), miners: stat(f.minersKw), surplus: stat(surplus), hz: stat(f.hz), relay: stat(relay), boards: f.boards.map(() => 0), state: f.state },
        sums: [0, 0, 0, 0, 0],
      };
    }
    const { b, sums } = this.acc;
    b.n++;
    const vals = [f.gridKw, f.minersKw, surplus, f.hz, relay];
    const stats = [b.grid, b.miners, b.surplus, b.hz, b.relay];
    vals.forEach((v, i) => {
      sums[i] += v;
      stats[i].min = Math.min(stats[i].min, v);
      stats[i].max = Math.max(stats[i].max, v);
    });
    f.boards.forEach((v, i) => { b.boards[i] = (b.boards[i] ?? 0) + v; });
    if (SEVERITY.indexOf(f.state) > SEVERITY.indexOf(b.state)) b.state = f.state;
  }

  /** the site state in force at tS (the last change at or before it) */
  stateAt(tS: number): string | undefined {
    let s: string | undefined;
    for (const x of this.states) {
      if (x.tS > tS) break;
      s = x.state;
    }
    return s;
  }

  get endS(): number {
    return this.lastT ?? 0;
  }

  /** close the open bucket; call before reading `buckets` */
  flush(): void {
    if (!this.acc || this.acc.b.n === 0) return;
    const { b, sums } = this.acc;
    [b.grid, b.miners, b.surplus, b.hz, b.relay].forEach((s, i) => { s.mean = sums[i] / b.n; });
    b.boards = b.boards.map((v) => v / b.n);
    this.buckets.push(b);
    this.acc = undefined;
    if (this.buckets.length >= 2 * this.maxBuckets) this.coarsen();
  }

  /** merge neighbouring buckets and double the width: memory stays bounded on long runs */
  private coarsen(): void {
    this.widthS *= 2;
    const merged: Bucket[] = [];
    for (const b of this.buckets) {
      const start = Math.floor(b.tS / this.widthS) * this.widthS;
      const last = merged.at(-1);
      if (!last || last.tS !== start) { merged.push({ ...b, tS: start, boards: [...b.boards] }); continue; }
      const n = last.n + b.n;
      const mix = (x: Stat, y: Stat): Stat => ({ mean: (x.mean * last.n + y.mean * b.n) / n, min: Math.min(x.min, y.min), max: Math.max(x.max, y.max) });
      last.grid = mix(last.grid, b.grid);
      last.miners = mix(last.miners, b.miners);
      last.surplus = mix(last.surplus, b.surplus);
      last.hz = mix(last.hz, b.hz);
      last.relay = mix(last.relay, b.relay);
      last.boards = last.boards.map((v, i) => (v * last.n + (b.boards[i] ?? 0) * b.n) / n);
      if (SEVERITY.indexOf(b.state) > SEVERITY.indexOf(last.state)) last.state = b.state;
      last.n = n;
    }
    this.buckets.splice(0, this.buckets.length, ...merged);
  }
}
