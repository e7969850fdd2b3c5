import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { BoardRunner } from './board-runner';
import { realClock, type Clock, type Timer } from './clock';
import type { Config } from './config';
import { Controller } from './control/controller';
import type { ControlEvent, CurtailSource, TripSource } from './control/types';
import type { MeterSample, MinerStatus, PinFault } from './hardware';
import { buildHardware, type Hardware } from './hardware-build';
import { LoadHealth } from './load-health';
import { logger } from './log';
import { MinerRunner } from './miner-runner';
import { FAN_DEFAULTS, FanController, type FanCurveSettings } from './control/fans';
import type { Runner } from './runner';
import { SettleWatch } from './settle';
import { round, type NetworkMinerTelemetry, type OpenAdrTelemetry, type TelemetryBody } from './telemetry';
import { VERSION } from './version';

const log = logger('site');

export { buildHardware, type Hardware };

export interface TripRecord {
  source: TripSource;
  latencyMs: number;
  at: number;
}

/**
 * The running agent: wires meter samples, relay contact and controller commands into the
 * control core, and its decisions back out to the loads (hashboards and network miners alike,
 * each behind its runner). Events: 'telemetry' (TelemetryBody), 'trip' (TripRecord, once every
 * load's stop is written or accepted), 'control' (ControlEvent).
 */
export class Site extends EventEmitter {
  readonly bootId = randomUUID();
  readonly controller: Controller;
  private readonly boardRunners: BoardRunner[];
  private readonly minerRunners: MinerRunner[];
  private readonly runners: Runner[];
  private readonly health: LoadHealth;
  private readonly settle: SettleWatch;
  private lastSample?: MeterSample;
  private meterStale = false;
  private readonly fans: FanController;
  /** trips by source since start, for /metrics */
  readonly tripCounts: Record<string, number> = {};
  /** a grid program's state for telemetry, set by the OpenADR VEN's wiring (agent/grid/openadr/site-port.ts) */
  programStatus?: () => OpenAdrTelemetry;
  private telemetryTimer?: Timer;
  private thermalTimer?: Timer;
  /** resolves when the current shed has every load's stop written (commands ack after it), with the loads not confirmed off */
  private shedDone: Promise<string[]> = Promise.resolve([]);
  /** fault sources of I/O pins reported since the board's last 'ready' */
  private readonly pinFaults = new Set<string>();
  /** the loads' kW read for the meter sample being handled (shared by control and the ledger) */
  private minersMemo?: { at: number; kw: number };
  /** the network miners' kW as read for the last meter sample (the trip path's settle watch starts from it) */
  private lastNetworkKw?: number;

  constructor(readonly config: Config, readonly hw: Hardware, readonly clock: Clock = realClock) {
    super();
    const c = config.control;
    const uf = config.grid.underfrequency;
    const enabled = new Set(config.boards.filter((b) => b.enable_pin !== undefined).map((b) => b.id));
    const report = (id: string, status: () => { fault?: string }) => (error: string | undefined) => this.health.result(id, error, status().fault);
    this.boardRunners = hw.boards.map((b) => new BoardRunner(b, hw.io, enabled.has(b.id), clock, log, report(b.id, () => b.status())));
    const timing = { minOnMs: c.miner_min_on_ms, minOffMs: c.miner_min_off_ms };
    this.minerRunners = (hw.miners ?? []).map((m) => new MinerRunner(m, log, report(m.id, () => m.status()), timing));
    this.runners = [...this.boardRunners, ...this.minerRunners];
    this.controller = new Controller({
      mode: c.mode, maxKw: c.max_kw, setpointKw: c.setpoint_kw, marginKw: c.margin_kw, staggerMs: c.stagger_ms, boardOnDelayMs: c.board_on_delay_ms,
      throttleC: c.throttle_c, tripC: c.trip_c, heatTargetC: c.heat.target_c, heatSensor: c.heat.sensor,
      tripHz: uf.trip_hz, sustainMs: uf.sustain_ms, release: uf.release, holdS: uf.hold_s, onMeterLost: config.meter.on_lost,
      meterReleaseMs: config.meter.release_ms, onSensorLost: c.on_sensor_lost,
      // a configured thermistor must read from the start: one that never does is lost, not absent
      sensors: config.thermistors.map((t) => t.board ?? t.id),
    }, this.runners.map((r) => r.model), clock, {
      shed: (source, signalAt) => this.shed(source, signalAt),
      apply: (targets) => { for (const r of this.runners) r.target = targets.get(r.id) ?? 0; },
      event: (e) => this.onControlEvent(e),
    });
    this.health = new LoadHealth(this.controller, clock, c.board_retry_ms, (id) => this.controller.frequencies.get(id) ?? 0);
    for (const r of this.runners) this.health.add(r.id, r.model.source);
    this.settle = new SettleWatch(clock, (e) => this.onControlEvent(e));
    const fc = config.fan_curve;
    const curve: FanCurveSettings = {
      points: (fc?.points as [number, number][] | undefined) ?? FAN_DEFAULTS.points,
      min_duty: fc?.min_duty ?? FAN_DEFAULTS.min_duty,
      fall_per_s: fc?.fall_per_s ?? FAN_DEFAULTS.fall_per_s,
      failure: { ...FAN_DEFAULTS.failure, ...fc?.failure },
    };
    this.fans = new FanController(curve);
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
        // the board reports its pin faults right after 'ready': those not reported again are mended
        const before = new Set(this.pinFaults);
        this.pinFaults.clear();
        queueMicrotask(() => { for (const src of before) if (!this.pinFaults.has(src)) this.pinMended(src); });
      });
      io.on('pin-fault', (f: PinFault) => this.onPinFault(f));
      await io.start();
      void io.shedEnables();
      for (const r of this.boardRunners) void r.shed();
      if (io.relayActive) this.controller.relay(true);
    }
    // network miners keep hashing as they were until control decides (a restart of the agent
    // must not cycle the site's machines); their drivers log in and start polling
    await Promise.all((this.hw.miners ?? []).map((m) => m.start()));
    // control starts from what they do now: a miner found hashing is a load already on (kept
    // on, reduced at once, never stopped and restarted because control assumed it off)
    const present = new Map(this.minerRunners.map((r) => {
      const st = r.miner.status();
      return [r.id, st.on && !st.fault ? st.setting : 0] as const;
    }));
    for (const r of this.minerRunners) r.assume(present.get(r.id)!);
    this.controller.assume(present);
    // first in line: control (and its trip path) before any other listener, e.g. the ledger
    meter.prependListener('sample', (s: MeterSample) => {
      this.lastSample = s;
      this.meterStale = false;
      // one status sweep per sample: its kW is shared with every other listener of this sample
      // (minersKw() below), and the loads' driver faults are looked at on the way
      const { kw, networkKw } = this.readLoads();
      const at = this.clock.now();
      this.minersMemo = { at, kw };
      queueMicrotask(() => { if (this.minersMemo?.at === at) this.minersMemo = undefined; });
      this.controller.sample(s.mono, s.hz, s.kw, kw);
      this.lastNetworkKw = networkKw;
      this.settle.sample(s.kw, networkKw);
    });
    meter.on('stale', () => { this.meterStale = true; this.controller.meterStale(); });
    meter.on('fault', (e: Error) => log.debug({ err: e.message }, 'meter poll failed'));
    await meter.start();
    this.thermalTimer = this.clock.setInterval(() => this.thermal(), 1000);
    const every = this.config.uplink?.telemetry_ms ?? 1000;
    this.telemetryTimer = this.clock.setInterval(() => this.emit('telemetry', this.telemetry()), every);
  }

  /**
   * A curtailment (the controller's command, the SCADA coil, OpenADR). Resolves once every
   * enable line and every chain's stop has been written and every miner's API has accepted its
   * stop, with the loads that cannot be confirmed off (none, normally: see Runner.shed).
   */
  async curtail(source: CurtailSource = 'command'): Promise<string[]> {
    this.controller.curtail(source);
    return this.shedDone;
  }

  /** the grid's active power (kW, + import) at the last fresh meter sample; undefined while the meter is stale or before its first */
  gridKw(): number | undefined {
    return this.meterStale ? undefined : this.lastSample?.kw;
  }

  /** the loads' present power (kW); during a meter sample's dispatch, the value control got */
  minersKw(): number {
    const m = this.minersMemo;
    if (m && m.at === this.clock.now()) return m.kw;
    let kw = 0;
    for (const b of this.hw.boards) kw += b.status().kw;
    return kw + this.networkKw();
  }

  /** the network miners' own power readings (kW) */
  private networkKw(): number {
    let kw = 0;
    for (const m of this.hw.miners ?? []) kw += m.status().kw;
    return kw;
  }

  /**
   * every load's status once: their kW summed (and the network miners' alone, for the settle
   * watch: a second sweep of a thousand miners on every meter sample was as dear as the first),
   * and driver faults forwarded to control
   */
  private readLoads(): { kw: number; networkKw: number } {
    let kw = 0;
    let networkKw = 0;
    for (const b of this.hw.boards) {
      const st = b.status();
      kw += st.kw;
      this.health.status(b.id, st.fault);
    }
    for (const m of this.hw.miners ?? []) {
      const st = m.status();
      kw += st.kw;
      networkKw += st.kw;
      this.health.status(m.id, st.fault);
    }
    return { kw, networkKw };
  }

  /** A pin the I/O board cannot use is a fault of that function alone; only a lost link is io-lost. */
  private onPinFault(f: PinFault): void {
    const src = f.function === 'enable' ? `board:${f.id}` : `io:${f.function}:${f.id}`;
    this.pinFaults.add(src);
    log.error({ function: f.function, id: f.id, err: f.error }, 'I/O pin not usable');
    if (f.function === 'enable' && this.health.has(f.id)) return this.health.hold(f.id, `enable line: ${f.error}`, true);
    this.controller.fault(src, f.error);
    // a relay input that cannot be read hides the grid operator's trip: fail safe, tripped until it reads
    if (f.function === 'relay') this.controller.relay(true);
  }

  private pinMended(src: string): void {
    if (src.startsWith('board:')) return this.health.pinMended(src.slice('board:'.length));
    this.controller.unfault(src);
    if (src.startsWith('io:relay:')) this.controller.relay(this.hw.io?.relayActive ?? false);
  }

  telemetry(): TelemetryBody {
    const s = this.lastSample;
    const boards = this.hw.boards.map((b) => {
      const st = b.status();
      // why a board is off: its driver's fault, or the one it is held out for
      const fault = st.fault ?? this.health.faultOf(b.id);
      const temp_c = Number.isFinite(st.tempC) ? round(st.tempC, 1) : null;
      return { id: b.id, on: st.on, mhz: round(st.mhz, 1), kw: round(st.kw), temp_c, ...(fault ? { fault } : {}) };
    });
    const links: Record<string, Record<string, number>> = { meter: { ...this.hw.meter.counters } };
    for (const b of this.hw.boards) links[b.id] = { ...b.status().counters };
    const body: TelemetryBody = {
      state: this.controller.state,
      mode: this.controller.mode,
      grid: { hz: round(s?.hz ?? 0, 3), kw: round(s?.kw ?? 0) },
      miners: { kw: round(this.minersKw()), target_kw: round(this.controller.target), ...capFields(this.controller.cap) },
      boards,
      fans: (this.hw.io?.fans() ?? []).map((f) => ({ id: f.id, duty: round(f.duty), rpm: round(f.rpm, 0) })),
      trips: this.controller.tripSources,
      meter: { stale: this.meterStale, age_ms: s ? Math.max(0, Math.round(this.clock.monotonic() - s.mono)) : -1 },
      links,
    };
    if (this.hw.miners?.length) body.network_miners = this.hw.miners.map((m) => minerTelemetry(m.status(), this.health.faultOf(m.id)));
    const program = this.programStatus?.();
    if (program) body.openadr = program;
    return body;
  }

  async stop(): Promise<void> {
    this.telemetryTimer?.cancel();
    this.thermalTimer?.cancel();
    this.controller.stop();
    this.health.stop();
    this.settle.stop();
    // leave the site safe: boards off before the links close, and no step or retry after;
    // network miners are left as they are (the agent stopping is no reason to stop them)
    await Promise.all([this.hw.io?.shedEnables(), ...this.boardRunners.map((r) => r.stop())]);
    await Promise.allSettled([this.hw.meter.stop(), ...this.hw.boards.map((b) => b.close()), this.hw.io?.close(), ...(this.hw.miners ?? []).map((m) => m.close())]);
  }

  /**
   * The trip path. Every enable line in one message per I/O port, then every chain's stop and
   * every miner's stop, all at once; the latency and the event once all are written or accepted.
   */
  private shed(source: TripSource, signalAt: number): void {
    const lines = this.hw.io?.shedEnables();
    const loads = Promise.all(this.runners.map((r) => r.shed()));
    // the miners' kW as read with the last sample: every stop's connection is opened only once
    // this synchronous part is done, so it reads no thousand statuses afresh
    if (this.minerRunners.length) this.settle.begin(source, signalAt, this.lastSample?.kw, this.lastNetworkKw ?? this.networkKw());
    this.shedDone = Promise.all([lines, loads]).then(([, unconfirmed]) => {
      const latencyMs = this.clock.monotonic() - signalAt;
      const rec: TripRecord = { source, latencyMs, at: this.clock.now() };
      this.tripCounts[source] = (this.tripCounts[source] ?? 0) + 1;
      this.emit('trip', rec);
      const notOff = unconfirmed.filter((u): u is string => u !== undefined);
      if (notOff.length) log.error({ source, loads: notOff }, 'tripped, but not every load is confirmed off');
      else log.warn({ source, latency_ms: round(latencyMs, 2) }, 'tripped: all boards off');
      return notOff;
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
    // thermistors on a board's heat sink reach control through that board's status; network
    // miners protect themselves (their chips run at 70-85 °C by design): not ours to trip on
    for (const [id, t] of Object.entries(this.hw.io?.temperatures() ?? {})) if (!onBoard.has(id)) temps[id] = t;
    for (const b of this.hw.boards) {
      const st = b.status();
      this.health.status(b.id, st.fault);
      temps[b.id] = st.tempC; // NaN too: control tells a lost sensor from a board without one
    }
    this.controller.temperatures(temps);
    const io = this.hw.io;
    if (!io || !this.config.fans.length) return;
    const known = Object.values(temps).filter(Number.isFinite);
    const hottest = known.length ? Math.max(...known) : Number.NaN;
    const d = this.fans.update(this.clock.monotonic(), hottest, io.fans());
    for (const [id, duty] of Object.entries(d.duty)) io.setFanDuty(id, duty);
    for (const id of d.newlyFailed) this.controller.fault(`fan:${id}`, 'fan does not turn');
    for (const id of d.recovered) this.controller.unfault(`fan:${id}`);
    this.controller.fanFailure(d.failed.length > 0);
  }
}

/** telemetry's view of a set_power cap: present only while one is in force */
function capFields(cap: { kw: number; until: number } | undefined): { cap_kw?: number; cap_until?: string } {
  return cap ? { cap_kw: round(cap.kw), cap_until: new Date(cap.until).toISOString() } : {};
}

/** one network miner in telemetry (DESIGN.md §7 fields, sent as `network_miners`: see README) */
function minerTelemetry(st: MinerStatus, heldFor: string | undefined): NetworkMinerTelemetry {
  const fault = st.fault ?? heldFor;
  return {
    id: st.id, on: st.on, kw: round(st.kw), ths: Number.isFinite(st.ths) ? round(st.ths, 2) : null,
    temp_c: Number.isFinite(st.tempC) ? round(st.tempC, 1) : null, state: st.state, ...(fault ? { fault } : {}),
  };
}

export { VERSION };
