import type { Clock, Timer } from '../clock';
import { splitTarget } from './split';
import { SurplusFollower } from './surplus';
import { UnderfrequencyDetector } from './underfrequency';
import { CURTAIL_SOURCES, type BoardModel, type ControlEvent, type CurtailSource, type Mode, type SiteState, type TripSource } from './types';

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

/** Trip sources that clear by themselves when their condition goes away. */

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
  private readonly temps = new Map<string, number>();
  private readonly uf: UnderfrequencyDetector;
  private ufRecoverTimer?: Timer;
  private lease?: { kw: number; timer: Timer };
  private rampTimer?: Timer;
  /** boards let back in after a release; Infinity when not ramping */
  private admitted = Infinity;
  private targetKw = 0;
  private targets = new Map<string, number>();
  private minersKw = 0;
  private heatKw = 0;
  private lastHeatAt?: number;
  /** since when control has wanted one more board on (board_on_delay_ms) */
  private addWantedSince?: number;
  private readonly surplus: SurplusFollower;

  constructor(
    private readonly settings: ControlSettings,
    private readonly boards: BoardModel[],
    private readonly clock: Clock,
    private readonly out: ControlOutputs,
  ) {
    this.uf = new UnderfrequencyDetector({ tripHz: settings.tripHz, sustainMs: settings.sustainMs }, clock, () => this.trip('underfrequency'));
    for (const b of boards) this.targets.set(b.id, 0);
    this.surplus = new SurplusFollower({ maxMarginKw: settings.marginKw });
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

  get frequencies(): ReadonlyMap<string, number> {
    return this.targets;
  }

  // ---- signals --------------------------------------------------------------------------

  /** A fresh meter sample, with the miners' present power (kW) as the boards report it. */
  sample(at: number, hz: number, gridKw: number, minersKw: number): void {
    this.minersKw = minersKw;
    if (this.trips.has('meter-lost')) this.clear('meter-lost', 'auto');
    this.unfault('meter');
    if (Number.isFinite(hz) && hz > 0) {
      this.uf.sample(at, hz);
      if (this.trips.has('underfrequency') && this.settings.release === 'auto') this.watchRecovery();
    }
    this.follow(at, gridKw);
  }

  meterStale(): void {
    if (this.settings.onMeterLost === 'trip') this.trip('meter-lost');
    else this.fault('meter', 'no fresh meter value; holding the last cap');
  }

  relay(active: boolean): void {
    if (active) this.trip('relay');
    else this.clear('relay', 'auto');
  }

  /** board (or sensor) temperatures, °C */
  temperatures(byId: Record<string, number>): void {
    for (const [id, t] of Object.entries(byId)) if (Number.isFinite(t)) this.temps.set(id, t);
    const hottest = Math.max(-Infinity, ...[...this.temps.values()]);
    if (hottest >= this.settings.tripC) this.trip('overtemp');
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

  /** a device fault (board not answering, I/O board gone): its board gets no share; others run */
  fault(source: string, detail: string): void {
    if (this.faults.get(source) === detail) return;
    const isNew = !this.faults.has(source);
    this.faults.set(source, detail);
    if (isNew) this.out.event({ kind: 'fault', source, detail });
    this.reapply();
  }

  unfault(source: string): void {
    if (!this.faults.delete(source)) return;
    this.out.event({ kind: 'recover', source });
    this.reapply();
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
    this.lease = { kw, timer };
    this.reapply();
    return { ok: true };
  }

  get leaseKw(): number | undefined {
    return this.lease?.kw;
  }

  stop(): void {
    this.uf.reset();
    for (const t of [this.ufRecoverTimer, this.lease?.timer, this.rampTimer]) t?.cancel();
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
    for (const id of this.targets.keys()) this.targets.set(id, 0);
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
    want = Math.max(0, Math.min(want, s.maxKw, this.lease?.kw ?? Infinity));
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
    const temps = sensor ? [this.temps.get(sensor)].filter((t): t is number => t !== undefined) : [...this.temps.values()];
    if (!temps.length) return this.heatKw;
    const measured = temps.reduce((a, b) => a + b, 0) / temps.length;
    const gain = this.settings.maxKw / (20 * 60);
    this.heatKw = Math.max(0, Math.min(this.settings.maxKw, this.heatKw + gain * (this.settings.heatTargetC - measured) * dtS));
    return this.heatKw;
  }

  private reapply(): void {
    if (this.trips.size) return;
    const cap = Math.min(this.targetKw, this.lease?.kw ?? Infinity);
    const live = this.boards.filter((b) => !this.faults.has(`board:${b.id}`));
    const admitted = live.slice(0, this.admitted === Infinity ? live.length : this.admitted);
    const running = new Set([...this.targets].filter(([, f]) => f > 0).map(([id]) => id));
    // Shed at once, add slowly: one more board only where all could still run 30 % above their
    // minimum (a gust then slows boards instead of switching one off) with the margin to spare
    // (surplus mode: the follower's present margin), and only once the target has allowed it for
    // board_on_delay_ms without a break — unless the boards running cannot draw the target even
    // flat out: then the extra board is surplus left on the table, and switching it on cannot
    // flap (it goes off again only when the target no longer covers every running board's minimum).
    const caps = this.thermalCaps();
    const addKw = this.settings.mode === 'surplus' ? this.surplus.marginKw : this.settings.marginKw;
    let next = splitTarget(cap, admitted, caps, { on: running, addKw, headroom: 1.3 });
    const adds = [...next].some(([id, f]) => f > 0 && !running.has(id));
    const now = this.clock.now();
    if (!adds) this.addWantedSince = undefined;
    else if (running.size > 0 && this.admitted === Infinity) {
      this.addWantedSince ??= now;
      if (now - this.addWantedSince < this.settings.boardOnDelayMs) {
        const held = splitTarget(cap, admitted, caps, { on: running, addKw: Infinity, headroom: 1 });
        if (cap <= this.flatOutKw(admitted, running, caps)) next = held;
      }
    }
    for (const b of this.boards) if (!next.has(b.id)) next.set(b.id, 0);
    let changed = false;
    for (const [id, f] of next) if (this.targets.get(id) !== f) changed = true;
    if (!changed) return;
    this.targets = next;
    this.out.apply(new Map(next));
  }

  /** what the running boards draw at their highest allowed frequency (kW) */
  private flatOutKw(boards: BoardModel[], running: ReadonlySet<string>, caps: Map<string, number>): number {
    let kw = 0;
    for (const b of boards) if (running.has(b.id)) kw += b.kwAt(Math.min(b.maxMhz, caps.get(b.id) ?? b.maxMhz));
    return kw;
  }

  /** boards above throttle_c lose frequency linearly until trip_c */
  private thermalCaps(): Map<string, number> {
    const caps = new Map<string, number>();
    const { throttleC, tripC } = this.settings;
    for (const b of this.boards) {
      const t = this.temps.get(b.id);
      if (t === undefined || t <= throttleC) continue;
      const share = Math.max(0, 1 - (t - throttleC) / (tripC - throttleC));
      caps.set(b.id, b.minMhz + (b.maxMhz - b.minMhz) * share);
    }
    return caps;
  }
}
