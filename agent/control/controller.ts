import type { Clock, Timer } from '../clock';
import { splitTarget } from './split';
import { SurplusFollower } from './surplus';
import { UnderfrequencyDetector } from './underfrequency';
import { CURTAIL_SOURCES, type LoadModel, type ControlEvent, type CurtailSource, type Mode, type SiteState, type TripSource } from './types';

export interface ControlSettings {
  mode: Mode;
  maxKw: number;
  setpointKw: number;
  marginKw: number;
  staggerMs: number;
  /** how long a target must allow one more board before it is switched on */
  boardOnDelayMs: number;
  throttleC: number;
  tripC: number;
  heatTargetC: number;
  /** the temperature heat mode follows (a tank or water thermistor); default the boards' mean */
  heatSensor?: string;
  tripHz: number;
  sustainMs: number;
  release: 'manual' | 'auto';
  holdS: number;
  onMeterLost: 'trip' | 'hold';
  /**
   * meter-lost (or the meter fault, with on_lost: hold) ends only after this long of unbroken
   * fresh samples; a loss soon after a release doubles it (up to METER_HOLD_MAX_FACTOR times)
   */
  meterReleaseMs: number;
  /** what a lost temperature sensor costs: its boards at their lowest frequency, or a site trip (overtemp) */
  onSensorLost: 'throttle' | 'trip';
  /** sensors that must read: a NaN from one of these is a lost sensor even before its first reading */
  sensors?: readonly string[];
}

/** How decisions leave the core. The site executes them against real drivers. */
export interface ControlOutputs {
  /** Trip path: every board off now. Called synchronously, before any bookkeeping. */
  shed(source: TripSource, signalAt: number): void;
  /** per-board chip frequency (MHz, 0 = off); called when targets change */
  apply(targets: Map<string, number>): void;
  event(e: ControlEvent): void;
}

/** surplus mode raises the target only by more than this (kW): less re-splitting on noise */
export const SURPLUS_BAND_KW = 0.02;

export type CommandResult = { ok: true } | { ok: false; error: string };

/** the meter-lost release window grows by doubling on repeated losses, to at most this many times meterReleaseMs */
export const METER_HOLD_MAX_FACTOR = 64;
/**
 * Plausible temperatures (°C). An NTC thermistor that is open or shorted reads at the end of the
 * ADC's range, which converts to far outside this (or to NaN): that is a lost sensor, not a reading.
 */
export const SENSOR_RANGE_C = { min: -40, max: 150 } as const;

/**
 * How long a split of the target is reused while everything it is computed from stays the same
 * (target, the loads admitted, their caps, which run, the add margin), in ms. The split is the
 * dearest part of a meter sample (a thousand network miners: milliseconds, twenty times a
 * second); what it cannot see change is a driver's own kW estimate at a setting (a miner that
 * learns its draw from its readings), which therefore reaches the split within this.
 */
export const SPLIT_REUSE_MS = 1000;

/**
 * A grid program's terms on the miners (the OpenADR events in force: agent/grid/openadr), beside
 * the mode and the set_power lease; every one of them only lowers the target, except a dispatch
 * setpoint, which replaces the mode's target and is still held under every cap.
 */
export interface ProgramLimits {
  /** the miners' power at most this, kW */
  maxKw?: number;
  /** the miners' target, kW, in place of the mode's */
  setpointKw?: number;
  /** the site's grid import (kW) held at or below this, less margin_kw */
  importLimitKw?: number;
}

interface SplitMemo {
  at: number;
  cap: number;
  loads: readonly LoadModel[];
  caps: ReadonlyMap<string, number>;
  on: ReadonlySet<string>;
  addKw: number;
  headroom: number;
  out: ReadonlyMap<string, number>;
}

/**
 * The control core: trip latches, site state, modes, leases and ramping. Pure: it sees
 * samples and signals, decides, and calls ControlOutputs; time comes from the injected clock.
 *
 *  - Any trip source sheds every board at once. `command` alone is `curtailed`; anything else
 *    is `tripped`. Self-clearing sources (relay, meter-lost, overtemp, fan-failure, io-lost) release when
 *    their condition is gone; `command` and `underfrequency` need a release command, or for
 *    under-frequency with release: auto, hold_s of recovered frequency.
 *  - After the last latch clears the site is `ramping`: boards are let back one per stagger_ms.
 *  - Modes give a target (kW) that a set_power lease caps until it lapses; reductions apply at
 *    once, increases only beyond a hysteresis band, so the site does not hunt.
 */
export class Controller {
  private readonly trips = new Map<TripSource, number>();
  private readonly faults = new Map<string, string>();
  /** faulted boards let back into the split for one more try (retryFault); their fault stands until unfault */
  private readonly onTrial = new Set<string>();
  private readonly temps = new Map<string, number>();
  /** sensors that read before (or must read) and now do not: each is a `sensor:ID` fault */
  private readonly lostSensors = new Set<string>();
  /** meter-lost release: since when (monotonic) samples have come without a break, and the window needed */
  private meterGoodSince?: number;
  private meterHoldMs: number;
  private meterReleasedAt?: number;
  private readonly uf: UnderfrequencyDetector;
  private ufRecoverTimer?: Timer;
  /** a set_power cap: kW, and when it lapses (wall ms, for telemetry; the timer runs on monotonic time) */
  private lease?: { kw: number; until: number; timer: Timer };
  private rampTimer?: Timer;
  /** boards let back in after a release; Infinity when not ramping */
  private admitted = Infinity;
  private targetKw = 0;
  private targets = new Map<string, number>();
  private minersKw = 0;
  private heatKw = 0;
  private lastHeatAt?: number;
  /** when each load last went on or off (monotonic ms), for its minimum on and off times */
  private readonly switchedAt = new Map<string, number>();
  /** since when control has wanted one more board on (board_on_delay_ms) */
  private addWantedSince?: number;
  /** the last splits (the plain one, and the one holding back an added board), reused while their inputs stand */
  private readonly splits: (SplitMemo | undefined)[] = [];
  private readonly surplus: SurplusFollower;
  private program: ProgramLimits = {};
  /**
   * a re-split due on the next turn: faults, recoveries and retries coalesced (a thousand network
   * miners faulting together would otherwise split the target a thousand times in a row, blocking
   * the event loop for seconds: the meter goes stale and the site trips itself)
   */
  private resplitTimer?: Timer;
  private gridKw = 0;

  constructor(
    private readonly settings: ControlSettings,
    private readonly boards: LoadModel[],
    private readonly clock: Clock,
    private readonly out: ControlOutputs,
  ) {
    this.uf = new UnderfrequencyDetector({ tripHz: settings.tripHz, sustainMs: settings.sustainMs }, clock, () => this.trip('underfrequency'));
    for (const b of boards) this.targets.set(b.id, 0);
    this.surplus = new SurplusFollower({ maxMarginKw: settings.marginKw });
    this.meterHoldMs = settings.meterReleaseMs;
  }

  get state(): SiteState {
    if (this.trips.size) return [...this.trips.keys()].every((t) => (CURTAIL_SOURCES as readonly string[]).includes(t)) ? 'curtailed' : 'tripped';
    if (this.admitted !== Infinity) return 'ramping';
    return this.faults.size ? 'fault' : 'running';
  }

  get mode(): Mode {
    return this.settings.mode;
  }

  get tripSources(): TripSource[] {
    return [...this.trips.keys()];
  }

  /** the miners' power target (kW) before splitting, after mode, lease and state */
  get target(): number {
    return this.trips.size ? 0 : this.targetKw;
  }

  /** loads found running at start (network miners: the agent does not own them from power-on), at these settings */
  assume(present: ReadonlyMap<string, number>): void {
    for (const [id, setting] of present) if (this.targets.has(id)) this.targets.set(id, setting);
  }

  get frequencies(): ReadonlyMap<string, number> {
    return this.targets;
  }

  // ---- signals --------------------------------------------------------------------------

  /**
   * A fresh meter sample, with the miners' present power (kW) as the boards report it.
   * @param at the sample's monotonic stamp (MeterSample.mono): durations never use the wall clock
   */
  sample(at: number, hz: number, gridKw: number, minersKw: number): void {
    this.minersKw = minersKw;
    this.gridKw = gridKw;
    // the under-frequency check first: nothing (an event, a journal write) may stand before it
    if (Number.isFinite(hz) && hz > 0) {
      this.uf.sample(at, hz);
      if (this.trips.has('underfrequency') && this.settings.release === 'auto') this.watchRecovery();
    }
    this.meterBack(at);
    this.follow(at, gridKw);
  }

  /** the meter gave no fresh value for stale_ms: trip (or hold the cap), and restart the release window */
  meterStale(): void {
    const now = this.clock.monotonic();
    this.meterGoodSince = undefined;
    const lost = this.trips.has('meter-lost') || this.faults.has('meter');
    if (lost) return;
    // a meter that comes and goes must not cycle the boards: each loss soon after a release
    // (within ten windows) doubles the clean window the next release needs
    const soon = this.meterReleasedAt !== undefined && now - this.meterReleasedAt < 10 * this.meterHoldMs;
    this.meterHoldMs = soon
      ? Math.min(this.meterHoldMs * 2, this.settings.meterReleaseMs * METER_HOLD_MAX_FACTOR)
      : this.settings.meterReleaseMs;
    if (this.settings.onMeterLost === 'trip') this.trip('meter-lost');
    else this.fault('meter', 'no fresh meter value; holding the last cap');
  }

  /** the meter is back only after meterHoldMs of samples with no stale between */
  private meterBack(at: number): void {
    if (!this.trips.has('meter-lost') && !this.faults.has('meter')) return;
    this.meterGoodSince ??= at;
    if (at - this.meterGoodSince < this.meterHoldMs) return;
    this.meterGoodSince = undefined;
    this.meterReleasedAt = at;
    this.clear('meter-lost', 'auto');
    this.unfault('meter');
  }

  relay(active: boolean): void {
    if (active) this.trip('relay');
    else this.clear('relay', 'auto');
  }

  /**
   * Board (or sensor) temperatures, °C; NaN = no reading. A sensor that has read before (or is
   * in settings.sensors) and now reads NaN or an impossible value is lost: over-temperature
   * protection cannot rest on its last good value, so it is a fault, and per onSensorLost its
   * boards run at their lowest frequency or the site trips (overtemp) until it reads again.
   */
  temperatures(byId: Record<string, number>): void {
    for (const [id, t] of Object.entries(byId)) {
      if (Number.isFinite(t) && t >= SENSOR_RANGE_C.min && t <= SENSOR_RANGE_C.max) {
        this.temps.set(id, t);
        if (this.lostSensors.delete(id)) this.unfault(`sensor:${id}`);
      } else if (this.temps.delete(id) || this.settings.sensors?.includes(id)) {
        if (!this.lostSensors.has(id)) {
          this.lostSensors.add(id);
          this.fault(`sensor:${id}`, Number.isFinite(t) ? `temperature sensor reads ${t} °C: open or shorted` : 'temperature sensor gives no reading: open or shorted');
        }
      }
    }
    const hottest = Math.max(-Infinity, ...[...this.temps.values()]);
    const blind = this.settings.onSensorLost === 'trip' && this.lostSensors.size > 0;
    if (hottest >= this.settings.tripC || blind) this.trip('overtemp');
    else if (this.trips.has('overtemp') && hottest < this.settings.throttleC) this.clear('overtemp', 'auto');
    else this.reapply();
  }

  fanFailure(failed: boolean): void {
    if (failed) this.trip('fan-failure');
    else this.clear('fan-failure', 'auto');
  }

  /** the I/O board is gone (enable lines and relay unknown): trip, released when it is back */
  ioLost(lost: boolean): void {
    if (lost) this.trip('io-lost');
    else this.clear('io-lost', 'auto');
  }

  /**
   * A device fault (board not answering, I/O board gone): its board gets no share; others run.
   * One `fault` event per fault, however often it is seen again; a board on trial that fails
   * again is held out again, with no new event.
   */
  fault(source: string, detail: string): void {
    const trial = this.onTrial.delete(source);
    if (this.faults.get(source) === detail && !trial) return;
    const isNew = !this.faults.has(source);
    this.faults.set(source, detail);
    if (isNew) this.out.event({ kind: 'fault', source, detail });
    // its loads get nothing at once; the others' shares are re-split on the next turn, once for
    // every fault of this one (a thousand miners timing out together: one split, not a thousand)
    this.dropLoadsOf(source);
    this.reapplySoon();
  }

  /** the device works again: `recover`, and its board is back in the split */
  unfault(source: string): void {
    this.onTrial.delete(source);
    if (!this.faults.delete(source)) return;
    this.out.event({ kind: 'recover', source });
    this.reapplySoon(); // loads that recover together (after one retry) cost one split
  }

  /** let a faulted board back into the split for one more try; its fault stands until unfault() */
  retryFault(source: string): void {
    if (!this.faults.has(source) || this.onTrial.has(source)) return;
    this.onTrial.add(source);
    this.reapplySoon(); // retries fall due together: one split for all of them
  }

  /** the loads of a faulted source off now, without a re-split */
  private dropLoadsOf(source: string): void {
    if (this.trips.size) return;
    let next: Map<string, number> | undefined;
    for (const b of this.boards) {
      if (b.source !== source || !(this.targets.get(b.id)! > 0)) continue;
      next ??= new Map(this.targets);
      next.set(b.id, 0);
    }
    if (!next) return;
    this.noteSwitches(next);
    this.targets = next;
    this.out.apply(new Map(next));
  }

  private reapplySoon(): void {
    if (this.resplitTimer) return;
    this.resplitTimer = this.clock.setTimeout(() => {
      this.resplitTimer = undefined;
      this.reapply();
    }, 0);
  }

  /** the fault a source is held for, if any (telemetry says why a board is off) */
  faultOf(source: string): string | undefined {
    return this.faults.get(source);
  }

  // ---- controller commands --------------------------------------------------------------

  /** a curtailment by the site controller (`command`), the SCADA coil or an OpenADR event */
  curtail(source: CurtailSource = 'command'): void {
    this.trip(source);
  }

  /** end one source's curtailment (the SCADA coil written 0, an OpenADR event over); others stand */
  endCurtail(source: Exclude<CurtailSource, 'command'>): void {
    this.clear(source, 'command');
  }

  release(): CommandResult {
    if (this.trips.has('relay')) return { ok: false, error: 'the grid relay contact is still active' };
    if (this.trips.has('underfrequency') && this.uf.low) return { ok: false, error: 'frequency is still below the trip threshold' };
    for (const s of ['command', 'underfrequency'] as const) this.clear(s, 'command');
    return { ok: true };
  }

  setPower(kw: number, ttlS: number): CommandResult {
    if (!(kw >= 0) || !Number.isFinite(kw)) return { ok: false, error: 'kw must be a finite number >= 0' };
    if (!(ttlS > 0) || !Number.isFinite(ttlS)) return { ok: false, error: 'ttl_s must be a number > 0' };
    this.lease?.timer.cancel();
    const timer = this.clock.setTimeout(() => { this.lease = undefined; this.reapply(); }, ttlS * 1000);
    this.lease = { kw, until: this.clock.now() + ttlS * 1000, timer };
    this.reapply();
    return { ok: true };
  }

  /** lift the power cap now (before its lease runs out) */
  clearPower(): void {
    if (!this.lease) return;
    this.lease.timer.cancel();
    this.lease = undefined;
    this.reapply();
  }

  /** a grid program's terms (replacing the last ones; {} lifts them): caps apply at once, a setpoint from the next sample */
  setProgramLimits(limits: ProgramLimits): void {
    this.program = { ...limits };
    this.reapply();
  }

  get programLimits(): Readonly<ProgramLimits> {
    return this.program;
  }

  /** the program's cap now: its maxKw, and what keeps the grid import under its limit given the last sample */
  private programCapKw(): number {
    const { maxKw = Infinity, importLimitKw } = this.program;
    const importCap = importLimitKw === undefined ? Infinity : Math.max(0, this.minersKw - this.gridKw + importLimitKw - this.settings.marginKw);
    return Math.min(maxKw, importCap);
  }

  get leaseKw(): number | undefined {
    return this.lease?.kw;
  }

  /** the cap in force and when it lapses (wall-clock ms) */
  get cap(): { kw: number; until: number } | undefined {
    return this.lease && { kw: this.lease.kw, until: this.lease.until };
  }

  stop(): void {
    this.uf.reset();
    for (const t of [this.ufRecoverTimer, this.lease?.timer, this.rampTimer, this.resplitTimer]) t?.cancel();
  }

  // ---- internals ------------------------------------------------------------------------

  private trip(source: TripSource): void {
    if (this.trips.has(source)) return;
    // the fast path: boards off before anything else is done or recorded. A second source
    // sheds again (idempotent on the boards) so that every trip is reported with its latency.
    this.out.shed(source, this.clock.monotonic());
    this.trips.set(source, this.clock.now());
    this.rampTimer?.cancel();
    this.admitted = Infinity;
    this.targetKw = 0;
    const off = new Map([...this.targets.keys()].map((id) => [id, 0]));
    this.noteSwitches(off);
    this.targets = off;
  }

  private clear(source: TripSource, by: 'command' | 'auto'): void {
    if (!this.trips.delete(source)) return;
    if (source === 'underfrequency') { this.ufRecoverTimer?.cancel(); this.ufRecoverTimer = undefined; }
    this.out.event({ kind: 'release', source, by });
    if (this.trips.size === 0) this.startRamp();
  }

  private watchRecovery(): void {
    if (this.uf.low) {
      this.ufRecoverTimer?.cancel();
      this.ufRecoverTimer = undefined;
    } else if (!this.ufRecoverTimer) {
      this.ufRecoverTimer = this.clock.setTimeout(() => this.clear('underfrequency', 'auto'), this.settings.holdS * 1000);
    }
  }

  private startRamp(): void {
    this.admitted = 1;
    this.reapply();
    const step = () => {
      this.admitted += 1;
      this.reapply(); // the ramp's own additions do not wait for board_on_delay_ms
      if (this.admitted >= this.boards.length) {
        this.admitted = Infinity;
        this.rampTimer = undefined;
      } else {
        this.rampTimer = this.clock.setTimeout(step, this.settings.staggerMs);
      }
    };
    if (this.boards.length <= 1) this.admitted = Infinity;
    else this.rampTimer = this.clock.setTimeout(step, this.settings.staggerMs);
  }

  /** Compute the mode's target from a fresh sample and apply it. */
  private follow(at: number, gridKw: number): void {
    const s = this.settings;
    let want: number;
    switch (s.mode) {
      case 'surplus':
        // what the miners draw now less what comes from the grid, less an adaptive margin
        // (./surplus.ts: the surplus's recent scatter and fall, at most margin_kw)
        want = this.surplus.update(at, this.minersKw - gridKw);
        break;
      case 'setpoint':
        want = s.setpointKw;
        break;
      case 'heat':
        want = this.heatStep(at);
        break;
      case 'off':
        want = 0;
        break;
    }
    if (this.program.setpointKw !== undefined && s.mode !== 'off') want = this.program.setpointKw;
    want = Math.max(0, Math.min(want, s.maxKw, this.lease?.kw ?? Infinity, this.programCapKw()));
    // reduce at once; increase only when it is worth a step, so the site does not hunt. In
    // surplus mode the follower already filters the up-path (a high sample cannot raise it) and
    // the band widens to the surplus's scatter
    const band = s.mode === 'surplus' ? Math.max(SURPLUS_BAND_KW, this.surplus.scatterKw) : Math.max(0.05, s.marginKw / 2);
    if (want < this.targetKw || want > this.targetKw + band) this.targetKw = want;
    this.reapply();
  }

  /** heat mode: integrate the temperature error into a power target (full scale in ~1 min at 20 °C off) */
  private heatStep(at: number): number {
    const dtS = this.lastHeatAt === undefined ? 0 : Math.min(10, (at - this.lastHeatAt) / 1000);
    this.lastHeatAt = at;
    const sensor = this.settings.heatSensor;
    // heating blind could overheat the tank: a lost heat sensor stops heating until it reads again
    if (sensor && this.lostSensors.has(sensor)) return (this.heatKw = 0);
    const temps = sensor ? [this.temps.get(sensor)].filter((t): t is number => t !== undefined) : [...this.temps.values()];
    if (!temps.length) return this.heatKw;
    const measured = temps.reduce((a, b) => a + b, 0) / temps.length;
    const gain = this.settings.maxKw / (20 * 60);
    this.heatKw = Math.max(0, Math.min(this.settings.maxKw, this.heatKw + gain * (this.settings.heatTargetC - measured) * dtS));
    return this.heatKw;
  }

  private reapply(): void {
    if (this.trips.size) return;
    const cap = Math.min(this.targetKw, this.lease?.kw ?? Infinity, this.programCapKw());
    const now = this.clock.monotonic();
    const running = new Set<string>();
    for (const [id, f] of this.targets) if (f > 0) running.add(id);
    const since = (id: string) => now - (this.switchedAt.get(id) ?? -Infinity);
    // a load switched off lately (a network miner) rests for its minOffMs before it may run again
    const live = this.boards.filter((b) => (!this.faults.has(b.source) || this.onTrial.has(b.source)) && !(b.minOffMs && !running.has(b.id) && since(b.id) < b.minOffMs));
    const admitted = live.slice(0, this.admitted === Infinity ? live.length : this.admitted);
    // Shed at once, add slowly: one more board only where all could still run 30 % above their
    // minimum (a gust then slows boards instead of switching one off) with the margin to spare
    // (surplus mode: the follower's present margin), and only once the target has allowed it for
    // board_on_delay_ms without a break — unless the boards running cannot draw the target even
    // flat out: then the extra board is surplus left on the table, and switching it on cannot
    // flap (it goes off again only when the target no longer covers every running board's minimum).
    const caps = this.thermalCaps();
    const addKw = this.settings.mode === 'surplus' ? this.surplus.marginKw : this.settings.marginKw;
    let next = this.split(0, cap, admitted, caps, { on: running, addKw, headroom: 1.3 });
    let adds = false;
    for (const [id, f] of next) if (f > 0 && !running.has(id)) { adds = true; break; }
    if (!adds) this.addWantedSince = undefined;
    else if (running.size > 0 && this.admitted === Infinity) {
      this.addWantedSince ??= now;
      if (now - this.addWantedSince < this.settings.boardOnDelayMs) {
        const held = this.split(1, cap, admitted, caps, { on: running, addKw: Infinity, headroom: 1 });
        if (cap <= this.flatOutKw(admitted, running, caps)) next = held;
      }
    }
    // a load switched on lately stays on, at its lowest setting at least, for its minOnMs (a trip still sheds it)
    for (const b of admitted) if (b.minOnMs && running.has(b.id) && !(next.get(b.id)! > 0) && since(b.id) < b.minOnMs) next.set(b.id, b.min);
    for (const b of this.boards) if (!next.has(b.id)) next.set(b.id, 0);
    let changed = false;
    for (const [id, f] of next) if (this.targets.get(id) !== f) changed = true;
    if (!changed) return;
    this.noteSwitches(next);
    this.targets = next;
    this.out.apply(new Map(next));
  }

  /** splitTarget, or a copy of the last result of the same call while nothing it reads has changed (SPLIT_REUSE_MS) */
  private split(slot: number, cap: number, loads: LoadModel[], caps: Map<string, number>, keep: { on: Set<string>; addKw: number; headroom: number }): Map<string, number> {
    const now = this.clock.monotonic();
    const m = this.splits[slot];
    if (m && now - m.at < SPLIT_REUSE_MS && m.cap === cap && m.addKw === keep.addKw && m.headroom === keep.headroom
      && sameItems(m.loads, loads) && sameEntries(m.caps, caps) && sameMembers(m.on, keep.on)) return new Map(m.out);
    const out = splitTarget(cap, loads, caps, keep);
    this.splits[slot] = { at: now, cap, loads, caps, on: keep.on, addKw: keep.addKw, headroom: keep.headroom, out: new Map(out) };
    return out;
  }

  private noteSwitches(next: ReadonlyMap<string, number>): void {
    const now = this.clock.monotonic();
    for (const [id, f] of next) if ((this.targets.get(id) ?? 0) > 0 !== f > 0) this.switchedAt.set(id, now);
  }

  /** what the running boards draw at their highest allowed frequency (kW) */
  private flatOutKw(boards: LoadModel[], running: ReadonlySet<string>, caps: Map<string, number>): number {
    let kw = 0;
    for (const b of boards) if (running.has(b.id)) kw += b.kwAt(Math.min(b.max, caps.get(b.id) ?? b.max));
    return kw;
  }

  /** boards above throttle_c lose frequency linearly until trip_c; a lost sensor holds its boards at their lowest */
  private thermalCaps(): Map<string, number> {
    const caps = new Map<string, number>();
    // no temperature known and none lost (a site of network miners): nothing to cap
    if (this.temps.size === 0 && this.lostSensors.size === 0) return caps;
    const { throttleC, tripC } = this.settings;
    const boardIds = new Set(this.boards.map((b) => b.id));
    // a lost sensor of no board (a room or tank thermistor) watched them all
    const allBlind = [...this.lostSensors].some((id) => !boardIds.has(id));
    for (const b of this.boards) {
      if (allBlind || this.lostSensors.has(b.id)) { caps.set(b.id, b.min); continue; }
      const t = this.temps.get(b.id);
      if (t === undefined || t <= throttleC) continue;
      const share = Math.max(0, 1 - (t - throttleC) / (tripC - throttleC));
      caps.set(b.id, b.min + (b.max - b.min) * share);
    }
    return caps;
  }
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameEntries<K, V>(a: ReadonlyMap<K, V>, b: ReadonlyMap<K, V>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v || !b.has(k)) return false;
  return true;
}

function sameMembers<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
