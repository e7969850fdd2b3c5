import { kwh, type CounterReading, type EnergySource, type LedgerEvent, type RecordBody } from './record';

/**
 * Energy accounting for one ledger interval, fed by meter samples and miner power (pure: no
 * clock, no I/O). Every duration here is on the monotonic clock (`mono`, the samples' own
 * monotonic stamps), so a wall-clock step neither invents nor loses energy; wall times (`at`)
 * only label events. The Ledger maps its wall-clock interval boundaries onto monotonic time.
 *
 * Grid energy comes from the meter's cumulative import/export registers wherever two
 * consecutive samples both carry them: the register advance is the energy, exactly as the
 * meter counted it. A sample period without registers at both ends, across a counter reset,
 * or across a meter replacement is filled in by integrating the held power instead, and the
 * interval's `source` says which was used (`counters`, `integrated`, or `mixed`). A sample
 * period belongs to the interval in which its closing sample arrives, so counter advances
 * telescope: the sum over records (plus declared gaps) is the registers' total advance.
 *
 * Power is held from one sample to the next for at most `holdMs`: longer silences are not
 * guessed at (the registers cover them when the meter comes back) and show up as
 * `unmeasured_s`.
 */
export interface SampleInput {
  /** wall clock ms when read */
  at: number;
  /** the same instant on the monotonic clock; when absent the Ledger derives it from `at` and its clock */
  mono?: number;
  hz: number;
  kw: number;
  importKwh?: number;
  exportKwh?: number;
}

/** the energy fields of one ledger record, as this book measured them (record.ts defines each) */
export type IntervalTotals = Pick<
  RecordBody,
  | 'source' | 'import_kwh' | 'export_kwh' | 'counters' | 'miner_kwh' | 'miner_grid_kwh'
  | 'miner_surplus_kwh' | 'surplus_kwh' | 'sampled' | 'unmeasured_s' | 'events'
> & { events_dropped: number };

type Reg = 'import' | 'export';
const REGS: Reg[] = ['import', 'export'];
/** decreases smaller than this are register jitter (float32 rounding), not a reset: 0.5 Wh */
const JITTER_KWH = 0.0005;
const H = 3_600_000;

export class IntervalBook {
  /** held grid power (kW, + import) and when it was read (monotonic) */
  private g?: number;
  private gAt = 0;
  private m = 0;
  /** integration cursor (monotonic) */
  private cursor: number;
  /** register values at the previous sample; undefined: none to count from */
  private prevC: Record<Reg, number | undefined> = { import: undefined, export: undefined };
  private anySample = false;
  /** integrated energy since the previous sample, in case the registers cannot cover it */
  private seg: Record<Reg, number> = { import: 0, export: 0 };
  private acc = this.zero();
  private startReading: CounterReading | null = null;
  /** the first register reading of this run, for a restart gap (`at`: wall clock) */
  firstReading?: { at: number; reading: CounterReading };

  /** `start`: monotonic ms; `iso` labels events from their wall-clock ms */
  constructor(start: number, private readonly holdMs: number, private readonly maxEvents: number, private readonly iso: (ms: number) => string) {
    this.cursor = start;
  }

  private zero() {
    return {
      counter: { import: 0, export: 0 }, fallback: { import: 0, export: 0 }, usedCounters: false, usedFallback: false,
      sampled: { import: 0, export: 0, minerGrid: 0, samples: 0 }, miner: 0, unmeasuredMs: 0,
      events: [] as LedgerEvent[], dropped: 0,
    };
  }

  /** `at`: wall clock ms */
  event(at: number, kind: string, detail: Record<string, unknown> = {}): void {
    if (this.acc.events.length >= this.maxEvents) {
      this.acc.dropped++;
      return;
    }
    const { at: _at, kind: _kind, ...rest } = detail;
    this.acc.events.push({ at: this.iso(at), kind, ...rest });
  }

  /** integrate held power up to monotonic `to` (never backwards) */
  advance(to: number): void {
    if (to <= this.cursor) return;
    const from = this.cursor;
    this.acc.miner += (this.m * (to - from)) / H;
    const heldUntil = this.g === undefined ? from : Math.min(to, Math.max(from, this.gAt + this.holdMs));
    if (this.g !== undefined && heldUntil > from) {
      const h = (heldUntil - from) / H;
      const imp = Math.max(0, this.g) * h;
      const exp = Math.max(0, -this.g) * h;
      this.acc.sampled.import += imp;
      this.acc.sampled.export += exp;
      this.acc.sampled.minerGrid += Math.min(this.m, Math.max(0, this.g)) * h;
      this.seg.import += imp;
      this.seg.export += exp;
    }
    this.acc.unmeasuredMs += to - heldUntil;
    this.cursor = to;
  }

  /** the latest monotonic time accounted for */
  get lastTime(): number {
    return this.cursor;
  }

  /** the miners' power from monotonic `mono` on */
  miners(mono: number, kw: number): void {
    if (!Number.isFinite(kw) || kw < 0) return;
    this.advance(mono);
    this.m = kw;
  }

  sample(s: SampleInput & { mono: number }): void {
    this.advance(s.mono);
    const first = !this.anySample;
    const valid = (x?: number) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
    if (!this.firstReading && valid(s.importKwh) && valid(s.exportKwh)) {
      this.firstReading = { at: s.at, reading: { import_kwh: s.importKwh!, export_kwh: s.exportKwh! } };
    }
    for (const r of REGS) {
      const raw = r === 'import' ? s.importKwh : s.exportKwh;
      const c = valid(raw) ? raw : undefined;
      const prev = this.prevC[r];
      if (c !== undefined && prev !== undefined) {
        if (c >= prev) {
          this.acc.counter[r] += c - prev;
          this.acc.usedCounters = true;
          this.prevC[r] = c;
        } else if (prev - c <= JITTER_KWH) {
          this.acc.usedCounters = true; // hold the higher value so jitter is never counted twice
        } else {
          this.event(s.at, 'counter-reset', { register: r, from: prev, to: c });
          this.fallback(r);
          this.prevC[r] = c;
        }
      } else {
        if (!first) this.fallback(r);
        this.prevC[r] = c;
      }
      this.seg[r] = 0;
    }
    // the first interval of a run counts from its first reading
    if (this.startReading === null) this.startReading = this.reading();
    this.anySample = true;
    this.acc.sampled.samples++;
    this.g = s.kw;
    this.gAt = s.mono;
  }

  private fallback(r: Reg): void {
    this.acc.fallback[r] += this.seg[r];
    this.acc.usedFallback = true;
  }

  /** a different meter: its registers have nothing to do with the old one's */
  meterChanged(at: number, from: string, to: string): void {
    this.event(at, 'meter-replaced', { from, to });
    this.prevC = { import: undefined, export: undefined };
  }

  /** nothing measured or noted since the interval began */
  get empty(): boolean {
    const a = this.acc;
    return a.sampled.samples === 0 && a.events.length === 0 && a.dropped === 0 && a.miner === 0;
  }

  reading(): CounterReading | null {
    const { import: i, export: e } = this.prevC;
    return i === undefined || e === undefined ? null : { import_kwh: i, export_kwh: e };
  }

  /** finish the interval at monotonic `end` and start the next one there */
  close(end: number): IntervalTotals {
    this.advance(end);
    const a = this.acc;
    const imp = a.counter.import + a.fallback.import;
    const exp = a.counter.export + a.fallback.export;
    const minerKwh = kwh(a.miner);
    const importKwh = kwh(imp);
    const minerGrid = Math.min(minerKwh, importKwh);
    const minerSurplus = kwh(minerKwh - minerGrid);
    const source: EnergySource = a.usedCounters ? (a.usedFallback ? 'mixed' : 'counters') : a.usedFallback ? 'integrated' : 'none';
    const totals: IntervalTotals = {
      source,
      import_kwh: importKwh,
      export_kwh: kwh(exp),
      counters: { start: this.startReading, end: this.reading() },
      miner_kwh: minerKwh,
      miner_grid_kwh: minerGrid,
      miner_surplus_kwh: minerSurplus,
      surplus_kwh: kwh(kwh(exp) + minerSurplus),
      sampled: { samples: a.sampled.samples, import_kwh: kwh(a.sampled.import), export_kwh: kwh(a.sampled.export), miner_grid_kwh: kwh(a.sampled.minerGrid) },
      unmeasured_s: Math.round(a.unmeasuredMs) / 1000,
      events: a.events,
      events_dropped: a.dropped,
    };
    this.acc = this.zero();
    this.startReading = this.reading();
    return totals;
  }
}
