import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { BoardRunner } from './board-runner';
import { realClock, type Clock, type Timer } from './clock';
import type { Config } from './config';
import { Controller } from './control/controller';
import type { BoardModel, ControlEvent, TripSource } from './control/types';
import type { Hashboard, IoBoard, Meter, MeterSample } from './hardware';
import { logger } from './log';
import { FAN_DEFAULTS, FanController, type FanCurveSettings } from './control/fans';
import { round, type TelemetryBody } from './telemetry';
import { VERSION } from './version';
import { createHashboard, hashboardOptionsFrom } from '../drivers/hashboard';
import { createIoBoard } from '../drivers/io';
import { createMeter } from '../drivers/meter';

const log = logger('site');

/** The drivers a site runs on; built from config by `buildHardware`, or handed in by tests. */
export interface Hardware {
  meter: Meter;
  boards: Hashboard[];
  io?: IoBoard;
}

export function buildHardware(config: Config, clock: Clock): Hardware {
  const meter = createMeter({ id: 'grid', ...config.meter }, clock);
  const io = config.io
    ? createIoBoard({
        serial: 'tcp' in config.io ? { tcp: config.io.tcp } : { path: config.io.path, baud: config.io.baud },
        sample_ms: config.io.sample_ms,
        watchdog_ms: config.io.watchdog_ms,
        enable: Object.fromEntries(config.boards.filter((b) => b.enable_pin !== undefined).map((b) => [b.id, b.enable_pin!])),
        fans: config.fans,
        relay: config.grid.relay,
        thermistors: config.thermistors,
      }, clock)
    : undefined;
  const boards = config.boards.map((b) => {
    // a thermistor on the board's heat sink is its temperature in telemetry and for throttling
    const sensor = config.thermistors.find((t) => t.board === b.id)?.id;
    const temperature = io && sensor ? () => io.temperatures()[sensor] ?? Number.NaN : undefined;
    return createHashboard(hashboardOptionsFrom(b, temperature ? { temperature } : {}), clock);
  });
  return { meter, boards, io };
}

export interface TripRecord {
  source: TripSource;
  latencyMs: number;
  at: number;
}

/**
 * The running agent: wires meter samples, relay contact and controller commands into the
 * control core, and its decisions back out to the boards. Events: 'telemetry' (TelemetryBody),
 * 'trip' (TripRecord, once every board is off), 'control' (ControlEvent).
 */
export class Site extends EventEmitter {
  readonly bootId = randomUUID();
  readonly controller: Controller;
  private readonly runners: BoardRunner[];
  private lastSample?: MeterSample;
  private meterStale = false;
  private readonly fans: FanController;
  /** trips by source since start, for /metrics */
  readonly tripCounts: Record<string, number> = {};
  private telemetryTimer?: Timer;
  private thermalTimer?: Timer;
  /** resolves when the current shed has every board off (commands ack after it) */
  private shedDone: Promise<void> = Promise.resolve();

  constructor(readonly config: Config, readonly hw: Hardware, readonly clock: Clock = realClock) {
    super();
    const models: BoardModel[] = hw.boards.map((b) => ({
      // 12.5 MHz: two of the driver's ramp steps, fine enough to follow surplus closely
      id: b.id, minMhz: b.minMhz, maxMhz: b.maxMhz, stepMhz: 12.5, kwAt: (mhz) => b.kwAt(mhz),
    }));
    const c = config.control;
    const uf = config.grid.underfrequency;
    this.controller = new Controller({
      mode: c.mode, maxKw: c.max_kw, setpointKw: c.setpoint_kw, marginKw: c.margin_kw, staggerMs: c.stagger_ms, boardOnDelayMs: c.board_on_delay_ms,
      throttleC: c.throttle_c, tripC: c.trip_c, heatTargetC: c.heat.target_c, heatSensor: c.heat.sensor,
      tripHz: uf.trip_hz, sustainMs: uf.sustain_ms, release: uf.release, holdS: uf.hold_s, onMeterLost: config.meter.on_lost,
    }, models, clock, {
      shed: (source, signalAt) => this.shed(source, signalAt),
      apply: (targets) => { for (const r of this.runners) r.target = targets.get(r.board.id) ?? 0; },
      event: (e) => this.onControlEvent(e),
    });
    const fc = config.fan_curve;
    const curve: FanCurveSettings = {
      points: (fc?.points as [number, number][] | undefined) ?? FAN_DEFAULTS.points,
      min_duty: fc?.min_duty ?? FAN_DEFAULTS.min_duty,
      fall_per_s: fc?.fall_per_s ?? FAN_DEFAULTS.fall_per_s,
      failure: { ...FAN_DEFAULTS.failure, ...fc?.failure },
    };
    this.fans = new FanController(curve);
    const enabled = new Set(config.boards.filter((b) => b.enable_pin !== undefined).map((b) => b.id));
    this.runners = hw.boards.map((b) => new BoardRunner(b, hw.io, enabled.has(b.id), clock, log, (fault) => {
      if (fault) this.controller.fault(`board:${b.id}`, fault);
      else this.controller.unfault(`board:${b.id}`);
    }));
  }

  async start(): Promise<void> {
    const { meter, io } = this.hw;
    // boards start off: after a restart nothing runs until control decides it may
    if (io) {
      const tripOnLoss = this.config.io?.on_fault !== 'hold';
      io.on('relay', (active: boolean) => this.controller.relay(active));
      io.on('fault', (e: Error) => {
        this.controller.fault('io', e.message);
        if (tripOnLoss) this.controller.ioLost(true);
      });
      io.on('ready', () => {
        this.controller.unfault('io');
        this.controller.ioLost(false);
      });
      await io.start();
      for (const r of this.runners) void r.shed();
      if (io.relayActive) this.controller.relay(true);
    }
    meter.on('sample', (s: MeterSample) => {
      this.lastSample = s;
      this.meterStale = false;
      this.controller.sample(s.at, s.hz, s.kw, this.minersKw());
    });
    meter.on('stale', () => { this.meterStale = true; this.controller.meterStale(); });
    meter.on('fault', (e: Error) => log.debug({ err: e.message }, 'meter poll failed'));
    await meter.start();
    this.thermalTimer = this.clock.setInterval(() => this.thermal(), 1000);
    const every = this.config.uplink?.telemetry_ms ?? 1000;
    this.telemetryTimer = this.clock.setInterval(() => this.emit('telemetry', this.telemetry()), every);
  }

  /** curtail from the controller: resolves once every board is off */
  async curtail(): Promise<void> {
    this.controller.curtail();
    await this.shedDone;
  }

  minersKw(): number {
    let kw = 0;
    for (const b of this.hw.boards) kw += b.status().kw;
    return kw;
  }

  telemetry(): TelemetryBody {
    const s = this.lastSample;
    const boards = this.hw.boards.map((b) => {
      const st = b.status();
      return { id: b.id, on: st.on, mhz: round(st.mhz, 1), kw: round(st.kw), temp_c: round(st.tempC, 1), ...(st.fault ? { fault: st.fault } : {}) };
    });
    const links: Record<string, Record<string, number>> = { meter: { ...this.hw.meter.counters } };
    for (const b of this.hw.boards) links[b.id] = { ...b.status().counters };
    return {
      state: this.controller.state,
      mode: this.controller.mode,
      grid: { hz: round(s?.hz ?? 0, 3), kw: round(s?.kw ?? 0) },
      miners: { kw: round(this.minersKw()), target_kw: round(this.controller.target) },
      boards,
      fans: (this.hw.io?.fans() ?? []).map((f) => ({ id: f.id, duty: round(f.duty), rpm: round(f.rpm, 0) })),
      trips: this.controller.tripSources,
      meter: { stale: this.meterStale, age_ms: s ? Math.max(0, this.clock.now() - s.at) : -1 },
      links,
    };
  }

  async stop(): Promise<void> {
    this.telemetryTimer?.cancel();
    this.thermalTimer?.cancel();
    this.controller.stop();
    // leave the site safe: boards off before the links close
    await Promise.all(this.runners.map((r) => r.shed()));
    await Promise.allSettled([this.hw.meter.stop(), ...this.hw.boards.map((b) => b.close()), this.hw.io?.close()]);
  }

  /** The trip path. Enable lines and chain-inactive go out first; latency and the event after. */
  private shed(source: TripSource, signalAt: number): void {
    const done = Promise.all(this.runners.map((r) => r.shed()));
    this.shedDone = done.then(() => {
      const latencyMs = this.clock.monotonic() - signalAt;
      const rec: TripRecord = { source, latencyMs, at: this.clock.now() };
      this.tripCounts[source] = (this.tripCounts[source] ?? 0) + 1;
      this.emit('trip', rec);
      log.warn({ source, latency_ms: round(latencyMs, 2) }, 'tripped: all boards off');
    });
  }

  private onControlEvent(e: ControlEvent): void {
    log.info(e, 'control event');
    this.emit('control', e);
  }

  /** once a second: temperatures to control (throttle / trip), and the fan curve */
  private thermal(): void {
    const onBoard = new Set(this.config.thermistors.filter((t) => t.board).map((t) => t.id));
    const temps: Record<string, number> = {};
    // thermistors on a board's heat sink reach control through that board's status
    for (const [id, t] of Object.entries(this.hw.io?.temperatures() ?? {})) if (!onBoard.has(id)) temps[id] = t;
    for (const b of this.hw.boards) {
      const t = b.status().tempC;
      if (Number.isFinite(t)) temps[b.id] = t;
    }
    this.controller.temperatures(temps);
    const io = this.hw.io;
    if (!io || !this.config.fans.length) return;
    const known = Object.values(temps).filter(Number.isFinite);
    const hottest = known.length ? Math.max(...known) : Number.NaN;
    const d = this.fans.update(this.clock.now(), hottest, io.fans());
    for (const [id, duty] of Object.entries(d.duty)) io.setFanDuty(id, duty);
    for (const id of d.newlyFailed) this.controller.fault(`fan:${id}`, 'fan does not turn');
    for (const id of d.recovered) this.controller.unfault(`fan:${id}`);
    this.controller.fanFailure(d.failed.length > 0);
  }
}

export { VERSION };
