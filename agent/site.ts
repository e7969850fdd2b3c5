import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { BoardRunner } from './board-runner';
import { realClock, type Clock, type Timer } from './clock';
import type { Config } from './config';
import { Controller } from './control/controller';
import type { BoardModel, ControlEvent, CurtailSource, TripSource } from './control/types';
import type { BoardStatus, Hashboard, IoBoard, Meter, MeterSample } from './hardware';
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

/** the PLL step control splits a power target in (MHz) */
export const SPLIT_STEP_MHZ = 6.25;

interface BoardHealth {
  /** the runner's last failed step, cleared by its next success */
  runner?: string;
  /** the driver's status().fault as last read */
  driver?: string;
  /** hashing since control last switched it on: only then does a driver fault count */
  wasOn: boolean;
  /** since when a driver fault has held the board out, and that fault */
  driverSince?: number;
  driverFault?: string;
  /** the frequency control wants of the board now (0 = off) */
  runnerTarget: () => number;
  /** the fault control was last told of (undefined: none) */
  told?: string;
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
  /** per board: what its runner and its driver last said, and what control was told */
  private readonly health = new Map<string, BoardHealth>();
  /** the miners' kW read for the meter sample being handled (shared by control and the ledger) */
  private minersMemo?: { at: number; kw: number };

  constructor(readonly config: Config, readonly hw: Hardware, readonly clock: Clock = realClock) {
    super();
    const models: BoardModel[] = hw.boards.map((b) => ({
      // 6.25 MHz: the driver's own ramp step (about 29 W on a 110-chip BM1366 board); at
      // 12.5 MHz the split left about half a point more of the surplus unused
      id: b.id, minMhz: b.minMhz, maxMhz: b.maxMhz, stepMhz: SPLIT_STEP_MHZ, kwAt: (mhz) => b.kwAt(mhz),
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
      const h = this.health.get(b.id)!;
      h.runner = fault;
      this.judge(b.id);
    }));
    for (const r of this.runners) this.health.set(r.board.id, { wasOn: false, runnerTarget: () => r.target });
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
    // first in line: control (and its trip path) before any other listener, e.g. the ledger
    meter.prependListener('sample', (s: MeterSample) => {
      this.lastSample = s;
      this.meterStale = false;
      // one status sweep per sample: its kW is shared with every other listener of this sample
      // (minersKw() below), and the boards' driver faults are looked at on the way
      const kw = this.readBoards();
      const at = this.clock.now();
      this.minersMemo = { at, kw };
      queueMicrotask(() => { if (this.minersMemo?.at === at) this.minersMemo = undefined; });
      this.controller.sample(s.at, s.hz, s.kw, kw);
    });
    meter.on('stale', () => { this.meterStale = true; this.controller.meterStale(); });
    meter.on('fault', (e: Error) => log.debug({ err: e.message }, 'meter poll failed'));
    await meter.start();
    this.thermalTimer = this.clock.setInterval(() => this.thermal(), 1000);
    const every = this.config.uplink?.telemetry_ms ?? 1000;
    this.telemetryTimer = this.clock.setInterval(() => this.emit('telemetry', this.telemetry()), every);
  }

  /** a curtailment (the controller's command, the SCADA coil, OpenADR): resolves once every board is off */
  async curtail(source: CurtailSource = 'command'): Promise<void> {
    this.controller.curtail(source);
    await this.shedDone;
  }

  /** the miners' present power (kW); during a meter sample's dispatch, the value control got */
  minersKw(): number {
    const m = this.minersMemo;
    if (m && m.at === this.clock.now()) return m.kw;
    let kw = 0;
    for (const b of this.hw.boards) kw += b.status().kw;
    return kw;
  }

  /** every board's status once: their kW summed, and driver faults forwarded to control */
  private readBoards(): number {
    let kw = 0;
    for (const b of this.hw.boards) {
      const st = b.status();
      kw += st.kw;
      this.noteStatus(b.id, st);
    }
    return kw;
  }

  /**
   * Driver-reported faults (status().fault, found while the driver polls the chain) reach control
   * as `board:ID`, as the runner's failed steps do: the board gets no share, the others run on.
   * A driver fault counts for a board that has been hashing since control last switched it on;
   * bringing a board up is judged by its runner (start or ramp failing). Once excluded, the
   * board is powered down, so its driver cannot show it healthy again: the fault is held for
   * control.board_retry_ms and then cleared, and control brings the board up again (after
   * board_on_delay_ms when others run); if it still fails, that is a new fault.
   */
  private noteStatus(id: string, st: BoardStatus): void {
    const h = this.health.get(id);
    if (!h) return;
    if (st.on && !st.fault) h.wasOn = true;
    h.driver = st.fault;
    this.judge(id);
  }

  private judge(id: string): void {
    const h = this.health.get(id)!;
    const now = this.clock.now();
    if (h.runnerTarget() <= 0 && h.told === undefined) h.wasOn = false;
    // a driver fault on a board that was hashing holds it out for control.board_retry_ms
    if (h.wasOn && h.driver && h.driverSince === undefined) { h.driverSince = now; h.driverFault = h.driver; }
    if (h.driverSince !== undefined && now - h.driverSince >= this.config.control.board_retry_ms) {
      h.driverSince = undefined; // time to try it again: the runner judges the bring-up
      h.driverFault = undefined;
      h.wasOn = false;
    }
    const detail = h.runner ?? h.driverFault;
    if (detail) {
      if (h.told !== detail) { h.told = detail; this.controller.fault(`board:${id}`, detail); }
    } else if (h.told !== undefined) {
      h.told = undefined;
      this.controller.unfault(`board:${id}`);
    }
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
    // leave the site safe: boards off before the links close, and no step or retry after
    await Promise.all(this.runners.map((r) => r.stop()));
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
      const st = b.status();
      this.noteStatus(b.id, st);
      if (Number.isFinite(st.tempC)) temps[b.id] = st.tempC;
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
