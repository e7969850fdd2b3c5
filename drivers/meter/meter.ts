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
  /** reads that returned exactly the previous raw block (not published as fresh) */
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
 * with the time the reply arrived; energy counters are read every counters_ms. Failed polls
 * emit 'fault' and back off exponentially after a few in a row; the meter recovers by itself.
 * A value is only ever published once: a repeated raw block (a frozen meter, or one whose
 * registers update slower than we poll) is not a fresh sample, and no fresh sample for
 * stale_ms emits 'stale'.
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
  private lastSlowAt = -Infinity;
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
    this.armStale();
    this.schedule(0);
  }

  async stop(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopped = true;
    this.timer?.cancel();
    this.staleTimer?.cancel();
    await this.running;
    await this.onStop();
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.running = this.cycle();
    }, ms);
  }

  private async cycle(): Promise<void> {
    const t0 = this.clock.now();
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
    const elapsed = this.clock.now() - t0;
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
    if (!this.t.allow_repeats && this.lastRaw?.equals(raw)) {
      this.counters.repeats++;
      this.repeatRun++;
    } else {
      this.lastRaw = raw;
      this.publish({ at, mono, hz, kw, importKwh: this.importKwh, exportKwh: this.exportKwh });
    }
    if (slow && at - this.lastSlowAt >= this.t.counters_ms) {
      const r = await this.read(slow, map.fn);
      const imp = map.slow.importKwh && decodePoint(r, slow, map.slow.importKwh, base);
      const exp = map.slow.exportKwh && decodePoint(r, slow, map.slow.exportKwh, base);
      if (imp !== undefined && Number.isFinite(imp)) this.importKwh = imp;
      if (exp !== undefined && Number.isFinite(exp)) this.exportKwh = exp;
      this.lastSlowAt = at;
    }
  }

  private publish(s: MeterSample): void {
    if (s.importKwh === undefined) delete s.importKwh;
    if (s.exportKwh === undefined) delete s.exportKwh;
    this.last = s;
    this.repeatRun = 0;
    this.isStale = false;
    this.armStale();
    this.emit('sample', s);
  }

  private armStale(): void {
    this.staleTimer?.cancel();
    this.staleTimer = this.clock.setTimeout(() => {
      if (this.stopped || this.isStale) return;
      this.isStale = true;
      this.counters.stale++;
      // answering, but the same bytes for stale_ms: say why, once
      if (this.failures === 0 && this.repeatRun > 0) this.emit('fault', new MeterError(`${this.id}: values frozen for ${this.t.stale_ms} ms`, 'frozen'));
      log.warn({ meter: this.id, last_at: this.last?.at }, 'meter stale');
      this.emit('stale');
    }, this.t.stale_ms);
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
