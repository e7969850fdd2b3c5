import { EventEmitter } from 'node:events';
import type { Clock, Timer } from '../../agent/clock';
import { newCounters, type LinkCounters, type Meter, type MeterSample } from '../../agent/hardware';
import { logger } from '../../agent/log';
import type { RegisterReader } from './bus';
import { classify, MeterError, type MeterFaultKind } from './errors';
import { blockOf, decodePoint, type Block, type MeterMap } from './maps';
import { discoverSunSpec } from './sunspec';
import type { MeterTuning } from './options';

const log = logger('meter');

/** LinkCounters plus the meter's own: every fault kind has a counter, for telemetry. */
export interface MeterCounters extends LinkCounters {
  shortReplies: number;
  wrongUnit: number;
  /** NaN / "not implemented" readings */
  invalid: number;
  /** reads that returned exactly the previous raw block (alive, but not published as fresh) */
  repeats: number;
  /** times the meter went stale */
  stale: number;
}

interface Layout {
  map: MeterMap;
  base: number;
  fast: Block;
  slow?: Block;
}

/**
 * A polled Modbus meter. Each cycle reads Hz + W as one block and publishes a sample stamped
 * with the time it was read; energy counters are read every counters_ms. Failed polls emit
 * 'fault' and back off exponentially after a few in a row; the meter recovers by itself.
 *
 * Two ways to go stale ('stale', once until the next fresh sample):
 *  - no reply: no valid reply at all, identical or not, for stale_ms;
 *  - frozen: replies keep coming but carry exactly the previous raw block for frozen_ms
 *    ('fault' kind frozen, then 'stale').
 * Many real meters refresh their registers once a second or slower, so a run of identical reads
 * between two refreshes is normal; only one far longer than any refresh (frozen_ms, 10 s by
 * default) means a hung meter.
 *
 * Identical reads are not published as samples (unless allow_repeats). A repeat is the same
 * measurement read again, not a new one: published with a new stamp it would tell control the
 * grid had that frequency and power at a moment nobody measured. The under-frequency detector
 * times its sustain from the stamps of the samples either side of a crossing, so repeats would
 * let a frequency that is old by a whole refresh pass for a current one; surplus mode would
 * count one measurement several times and see no scatter; telemetry's meter age would hide how
 * old the values are. So a repeat only proves the meter is alive: it resets the no-reply timer
 * and is counted (`repeats`), and `last` stays the sample it repeats.
 *
 * Every duration here (poll schedule, stale and frozen timing, backoff, counters_ms) is measured
 * on the monotonic clock; the wall clock gives the samples' `at` and nothing else, so a wall
 * step (NTP, `date -s`) neither stops polling nor makes the meter stale.
 */
export class ModbusMeter extends EventEmitter implements Meter {
  readonly counters: MeterCounters = { ...newCounters(), shortReplies: 0, wrongUnit: 0, invalid: 0, repeats: 0, stale: 0 };
  private layout?: Layout;
  private timer?: Timer;
  private staleTimer?: Timer;
  private running?: Promise<void>;
  private stopped = true;
  private released = false;
  private failures = 0;
  private lastRaw?: Buffer;
  /** monotonic time of the last energy-counter read */
  private lastSlowMono = -Infinity;
  /** monotonic time of the last valid reply (identical or not), for the no-reply timer */
  private lastReplyMono = 0;
  /** the frozen fault has been reported for the present run of identical reads */
  private frozenSaid = false;
  private importKwh?: number;
  private exportKwh?: number;
  private seenConnects = -1;
  private isStale = false;
  /** identical reads since the last published sample */
  private repeatRun = 0;
  /** the last published sample (never re-stamped) */
  last?: MeterSample;

  constructor(
    readonly id: string,
    private readonly t: MeterTuning,
    private readonly clock: Clock,
    private readonly bus: RegisterReader,
    private readonly maps: { direct?: MeterMap; sunspec: MeterMap[] },
    private readonly onStop: () => Promise<void> = async () => {},
  ) {
    super();
  }

  get stale(): boolean {
    return this.isStale;
  }

  async start(): Promise<void> {
    if (!this.stopped || this.released) return;
    this.stopped = false;
    this.lastReplyMono = this.clock.monotonic();
    this.armStale();
    this.schedule(0);
  }

  async stop(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopped = true;
    this.timer?.cancel();
    this.staleTimer?.cancel();
    this.staleTimer = undefined;
    await this.running;
    await this.onStop();
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.running = this.cycle();
    }, ms);
  }

  private async cycle(): Promise<void> {
    const t0 = this.clock.monotonic();
    try {
      await this.pollOnce();
      this.failures = 0;
    } catch (e) {
      this.failures++;
      const err = classify(e, this.id);
      this.count(err.kind);
      // the model's address may have moved (meter replaced): walk again next time
      if (this.layout && this.maps.sunspec.length && err.kind === 'exception') this.layout = undefined;
      if (!this.stopped) this.emit('fault', err);
      log.debug({ meter: this.id, kind: err.kind, failures: this.failures }, 'poll failed');
    }
    if (this.stopped) return;
    const elapsed = this.clock.monotonic() - t0;
    this.schedule(this.failures === 0 ? Math.max(0, this.t.poll_ms - elapsed) : this.backoff());
  }

  /** first two failures retry at the poll rate (one lost frame is common on RS-485), then double */
  private backoff(): number {
    if (this.failures <= 2) return this.t.poll_ms;
    return Math.min(this.t.poll_ms * 2 ** (this.failures - 2), this.t.backoff_max_ms);
  }

  private async read(b: Block, fn: 3 | 4): Promise<Buffer> {
    this.counters.requests++;
    try {
      const raw = await this.bus.read(this.t.unit, fn, b.addr, b.count, this.t.timeout_ms, this.failures > 0);
      this.counters.frames++;
      return raw;
    } finally {
      if (this.seenConnects >= 0 && this.bus.connects > this.seenConnects) this.counters.reconnects++;
      this.seenConnects = this.bus.connects;
    }
  }

  private async resolveLayout(): Promise<Layout> {
    let map = this.maps.direct;
    let base = 0;
    if (!map) {
      this.counters.requests++;
      const found = await discoverSunSpec(this.bus, this.t.unit, this.t.timeout_ms, this.maps.sunspec);
      this.counters.frames++;
      ({ map, base } = found);
      log.info({ meter: this.id, model: map.id, base, models: found.models }, 'SunSpec meter found');
    }
    const slowPoints = Object.values(map.slow).filter((p) => p !== undefined);
    return { map, base, fast: blockOf([map.fast.hz, map.fast.kw], base), slow: slowPoints.length ? blockOf(slowPoints, base) : undefined };
  }

  private async pollOnce(): Promise<void> {
    this.layout ??= await this.resolveLayout();
    const { map, base, fast, slow } = this.layout;
    const sent = this.clock.now();
    const sentMono = this.clock.monotonic();
    const raw = await this.read(fast, map.fn);
    // the reading was taken somewhere between request and reply: stamp it at the midpoint, so the
    // under-frequency detector's crossing estimate is not late by the whole round trip
    const half = (this.clock.monotonic() - sentMono) / 2;
    const at = sent + Math.round(half);
    const mono = sentMono + half;
    const hz = decodePoint(raw, fast, map.fast.hz, base);
    const kw = decodePoint(raw, fast, map.fast.kw, base);
    if (!Number.isFinite(hz) || !Number.isFinite(kw)) throw new MeterError(`${this.id}: unusable reading hz=${hz} kw=${kw}`, 'invalid');
    this.lastReplyMono = this.clock.monotonic();
    this.armStale();
    if (!this.t.allow_repeats && this.lastRaw?.equals(raw)) {
      this.counters.repeats++;
      this.repeatRun++;
      this.checkFrozen(mono);
    } else {
      this.lastRaw = raw;
      this.publish({ at, mono, hz, kw, importKwh: this.importKwh, exportKwh: this.exportKwh });
    }
    if (slow && mono - this.lastSlowMono >= this.t.counters_ms) {
      const r = await this.read(slow, map.fn);
      const imp = map.slow.importKwh && decodePoint(r, slow, map.slow.importKwh, base);
      const exp = map.slow.exportKwh && decodePoint(r, slow, map.slow.exportKwh, base);
      if (imp !== undefined && Number.isFinite(imp)) this.importKwh = imp;
      if (exp !== undefined && Number.isFinite(exp)) this.exportKwh = exp;
      this.lastSlowMono = mono;
    }
  }

  private publish(s: MeterSample): void {
    if (s.importKwh === undefined) delete s.importKwh;
    if (s.exportKwh === undefined) delete s.exportKwh;
    this.last = s;
    this.repeatRun = 0;
    this.frozenSaid = false;
    this.isStale = false;
    this.emit('sample', s);
  }

  /** identical reads since the last fresh sample: frozen once they have gone on for frozen_ms */
  private checkFrozen(mono: number): void {
    const since = this.last ? mono - this.last.mono : 0;
    if (this.frozenSaid || since < this.t.frozen_ms) return;
    this.frozenSaid = true;
    this.emit('fault', new MeterError(`${this.id}: values frozen for ${Math.round(since)} ms (${this.repeatRun} identical reads)`, 'frozen'));
    this.goStale('frozen');
  }

  /**
   * The no-reply timer: one timer at a time, due stale_ms after the last valid reply. A reply
   * only moves lastReplyMono; the timer, when it fires early, waits out the rest.
   */
  private armStale(): void {
    if (this.staleTimer || this.stopped) return;
    const due = this.lastReplyMono + this.t.stale_ms - this.clock.monotonic();
    this.staleTimer = this.clock.setTimeout(() => {
      this.staleTimer = undefined;
      if (this.stopped) return;
      if (this.clock.monotonic() - this.lastReplyMono < this.t.stale_ms) {
        this.armStale();
        return;
      }
      // stays disarmed until the next reply: one 'stale' per loss
      this.goStale('no reply');
    }, Math.max(0, due));
  }

  private goStale(reason: 'no reply' | 'frozen'): void {
    if (this.isStale) return;
    this.isStale = true;
    this.counters.stale++;
    log.warn({ meter: this.id, reason, last_at: this.last?.at }, 'meter stale');
    this.emit('stale');
  }

  private count(kind: MeterFaultKind): void {
    const c = this.counters;
    switch (kind) {
      case 'timeout': c.timeouts++; break;
      case 'crc': c.crcErrors++; break;
      case 'exception': c.exceptions++; break;
      case 'short': c.shortReplies++; c.resyncs++; break;
      case 'wrongUnit': c.wrongUnit++; c.resyncs++; break;
      case 'invalid': c.invalid++; break;
      default: break;
    }
  }
}
