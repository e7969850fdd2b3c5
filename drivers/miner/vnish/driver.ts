import type { Clock, Timer } from '../../../agent/clock';
import { ErrorCode, HashflexError, isHashflexError } from '../../../agent/errors';
import { newCounters, type MinerState, type MinerStatus, type NetworkMiner } from '../../../agent/hardware';
import { logger, type Logger } from '../../../agent/log';
import type { MinerOptions } from '../options';
import { modelOf } from './identify';
import { PresetSettings, presetAt, scaleOf, usablePresets, type PresetScale } from './presets';
import { accepted, isVnishFirmware, parseInfo, parsePresets, parseSettings, parseSummary, restartRequired, type Preset, type VnishInfo, type VnishSettings, type VnishSummary } from './reply';
import { VnishAuthRefused, VnishHttpError, VnishRest } from './rest';
import { ASLEEP, stateOf, type Command } from './state';

export { identify, type MinerEvidence, type MinerIdentity } from './identify';

/**
 * An Antminer on VNish (AnthillOS) firmware behind the NetworkMiner seam, over its REST API on
 * the web port (drivers/miner/vnish/reply.ts has the sources for every field).
 *
 * start() reads `info` (no token) and refuses a host whose firmware does not name itself VNish:
 * nothing is ever sent to it. Then it unlocks (the token is in hand before start() resolves),
 * reads `summary`, `settings` and the preset list, and polls. The token is renewed ahead of its
 * lapse from the poll timer (rest.ts), so the trip path is one POST `mining/stop` with the token
 * in hand (a TCP connect at most: idle connections are not held, rest.ts); it never waits for a poll or an unlock (an unlock beside it
 * is not waited for). Only a token the firmware refuses anyway costs an unlock before the retry.
 *
 * The firmware's replies do not say whether a command took (an empty body, or flags that read
 * the same either way), so every change is read back: a preset write by reading `settings` at
 * once (set() rejects when the preset did not take), a stop or start by reading `summary`
 * CONFIRM_MS later, off the trip path; a command the miner did not carry out is sent once more,
 * then reported as a fault in status().
 *
 * Scale: the power presets, in watts (presets.ts); 0 is a stop (`mining/stop`), and a setting
 * from sleep sends `mining/start` after the preset. Power and hashrate are the firmware's own
 * measurements (kwMeasured).
 */
export interface VnishTuning {
  /** fetch a new token at this age at the latest (ms); sooner once the firmware shows a lifetime */
  tokenRefreshMs: number;
  /** read settings every N polls (a preset write reads them back at once) */
  settingsEveryPolls: number;
  /** read the preset list every N polls (autotune adds tuned presets over time) */
  presetsEveryPolls: number;
  /** read back a stop or start this long after the API took it (ms) */
  confirmMs: number;
  /** longest wait between polls while the miner does not answer (ms) */
  backoffMaxMs: number;
}

export const VNISH_TUNING: VnishTuning = { tokenRefreshMs: 10 * 60_000, settingsEveryPolls: 6, presetsEveryPolls: 60, confirmMs: 3000, backoffMaxMs: 30_000 };
/** the firmware's own ports: its web server with the REST API, and the cgminer-style API */
export const VNISH_PORTS = { web: 80, api: 4028 } as const;
/** the web password of a fresh install (pyasic's default_vnish_web_password) */
export const VNISH_DEFAULT_PASSWORD = 'admin';
/** an S19 at stock, until the presets are read */
const DEFAULT_RATED_KW = 3.25;
/** control board and fans with the hashboards stopped (kW) */
export const VNISH_STANDBY_KW = 0.02;


export class VnishMiner implements NetworkMiner {
  readonly driver = 'vnish';
  readonly id: string;
  readonly settings: PresetSettings;
  /** what start() found */
  identity: { model: string; firmware: string } | undefined;

  private readonly log: Logger;
  private readonly counters = newCounters();
  private readonly tuning: VnishTuning;
  private readonly rest: VnishRest;
  private readonly ratedW: number;
  private info?: VnishInfo;
  private summary?: VnishSummary;
  private held?: VnishSettings;
  private allPresets: Preset[] = [];
  private presetsRead = false;
  /** what the driver last commanded; the firmware's state says whether it took */
  private want?: 'run' | 'sleep';
  /** a stop or start the API took and a summary read has not yet shown */
  private pending?: { kind: Command; gen: number; resent: boolean };
  /** bumped by every command: a read begun before one says nothing about it */
  private gen = 0;

  private identityFault?: string;
  private authFault?: string;
  private pollFault?: string;
  private pollUnreachable = false;
  private confirmFault?: string;
  private reportedFault?: string;

  private polls = 0;
  private fails = 0;
  private timer?: Timer;
  private confirmTimer?: Timer;
  private cycling?: Promise<void>;
  private refreshing?: Promise<void>;
  private closed = false;

  constructor(private readonly o: MinerOptions, private readonly clock: Clock, tuning: Partial<VnishTuning> = {}) {
    this.id = o.id;
    this.tuning = { ...VNISH_TUNING, confirmMs: Math.min(VNISH_TUNING.confirmMs, o.pollMs), ...tuning };
    this.ratedW = Math.round((o.ratedKw ?? DEFAULT_RATED_KW) * 1000);
    this.log = logger('miner').child({ miner: o.id, host: o.host, driver: 'vnish' });
    this.rest = new VnishRest(
      { host: o.host, port: o.ports.web ?? VNISH_PORTS.web, timeoutMs: o.timeoutMs, password: o.password ?? VNISH_DEFAULT_PASSWORD },
      this.counters,
      () => clock.monotonic(),
      this.tuning.tokenRefreshMs,
    );
    this.settings = new PresetSettings(scaleOf([], this.ratedW), VNISH_STANDBY_KW);
  }

  async start(): Promise<void> {
    this.closed = false;
    await this.runCycle();
    this.schedule();
  }

  /** one poll now (after any in flight): the doctor and tests use it */
  async refresh(): Promise<void> {
    while (this.cycling) await this.cycling;
    await this.runCycle();
  }

  /** resolves when no poll or token fetch is in flight (tests on a virtual clock wait on it) */
  async idle(): Promise<void> {
    while (this.cycling || this.refreshing) await Promise.allSettled([this.cycling, this.refreshing]);
  }

  stop(): Promise<void> {
    return this.command('stop');
  }

  async set(setting: number): Promise<void> {
    if (!Number.isFinite(setting)) throw new HashflexError(`miner ${this.id}: setting ${setting} is not a number of watts`, ErrorCode.UsageInvalid);
    if (setting <= 0) return this.stop();
    this.ready(`set ${setting} W`);
    const { min, max } = this.settings.scale;
    const target = presetAt(this.settings.scale, Math.min(max, Math.max(min, setting)));
    try {
      if (target && this.held?.preset !== target.name) await this.writePreset(target);
    } catch (e) {
      throw this.wrap(`set ${setting} W (preset ${target?.name})`, e);
    }
    if (this.asleep()) await this.command('start');
  }

  status(): MinerStatus {
    const s = this.summary;
    const down = this.pollFault !== undefined || this.authFault !== undefined;
    const state: MinerState = down || this.identityFault || !s ? (down && this.pollUnreachable ? 'unreachable' : 'unknown') : stateOf(s, this.pending?.kind);
    const on = down || !s ? this.want === 'run' || (this.want === undefined && !!s && !ASLEEP.has(s.state)) : state === 'hashing' || state === 'waking';
    const measured = !down && !!s && Number.isFinite(s.watts);
    const setting = on ? this.settingInForce() : 0;
    return {
      id: this.id,
      on,
      kw: measured ? s!.watts / 1000 : this.settings.kwAt(setting),
      kwMeasured: measured,
      ths: down || !s ? NaN : s.ths,
      tempC: down || !s ? NaN : s.tempC,
      state,
      setting,
      fault: this.identityFault ?? this.authFault ?? this.pollFault ?? this.confirmFault ?? (s?.state === 'failure' ? `miner reports failure: ${s.description || 'no reason given'}` : undefined),
      counters: { ...this.counters },
    };
  }

  /** what the doctor shows beside status() */
  details(): { model?: string; firmware?: string; preset?: string; presets: number[]; tokenHeld: boolean; tokenLifeMs?: number } {
    return {
      model: this.identity?.model,
      firmware: this.identity?.firmware,
      preset: this.held?.preset,
      presets: this.settings.scale.presets.map((p) => p.watts),
      tokenHeld: this.rest.hasToken,
      tokenLifeMs: this.rest.learnedLifeMs,
    };
  }

  /** an unlock is on its way (tests assert the trip path does not wait for one) */
  get unlocking(): boolean {
    return this.rest.unlockInFlight;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.confirmTimer?.cancel();
    this.timer = undefined;
    this.confirmTimer = undefined;
    // every request in flight ends by its own timeout at the latest
    await this.idle();
    this.rest.close();
  }

  // ---- commands ----

  private async command(kind: Command): Promise<void> {
    this.ready(kind);
    const gen = ++this.gen;
    try {
      accepted(`mining/${kind}`, await this.rest.post(`/mining/${kind}`));
    } catch (e) {
      throw this.wrap(kind, e);
    }
    this.want = kind === 'stop' ? 'sleep' : 'run';
    this.pending = { kind, gen, resent: false };
    this.confirmFault = undefined;
    this.scheduleConfirm();
    this.log.info({ command: kind }, 'miner took the command');
  }

  /** write the preset and read it back: the reply says the same whether it took or not */
  private async writePreset(target: Preset): Promise<void> {
    const overclock = { ...(this.held?.overclock ?? {}), preset: target.name };
    const reply = await this.rest.post('/settings', { miner: { overclock } });
    accepted('settings', reply);
    const read = parseSettings(await this.rest.read('/settings', true));
    this.held = read;
    if (read.preset !== target.name) {
      this.log.warn({ wanted: target.name, reads: read.preset }, 'miner answered the preset write but did not take it');
      throw new HashflexError(`preset ${target.name} not accepted: the miner still reports preset ${read.preset}`, ErrorCode.DeviceFault);
    }
    // a build that applies presets only on a restart of its miner program says so in the reply
    if (restartRequired(reply) && !this.asleep()) accepted('mining/restart after the preset', await this.rest.post('/mining/restart'));
    this.log.info({ preset: target.name }, 'miner took the preset');
  }

  private asleep(): boolean {
    if (this.want === 'sleep') return true;
    if (this.pending?.kind === 'start') return false;
    return !!this.summary && ASLEEP.has(this.summary.state);
  }

  private ready(what: string): void {
    if (this.closed) throw new HashflexError(`miner ${this.id}: ${what}: driver closed`, ErrorCode.DeviceUnresponsive);
    // a host that told us it runs something else gets nothing from this driver
    if (this.identityFault) throw new HashflexError(`miner ${this.id}: ${what} not sent: ${this.identityFault}`, ErrorCode.DeviceFault);
    if (!this.info) throw new HashflexError(`miner ${this.id}: ${what} not sent: ${this.o.host} has not identified as VNish (${this.pollFault ?? 'not started'})`, ErrorCode.DeviceUnresponsive);
  }

  private scheduleConfirm(): void {
    this.confirmTimer?.cancel();
    this.confirmTimer = this.clock.setTimeout(() => {
      this.confirmTimer = undefined;
      if (!this.closed) void this.refresh();
    }, this.tuning.confirmMs);
  }

  /** after a summary read begun at `readGen`: did the pending command take? */
  private async checkPending(readGen: number): Promise<void> {
    const p = this.pending;
    const s = this.summary;
    if (!p || !s || readGen < p.gen) return;
    const took = p.kind === 'stop' ? ASLEEP.has(s.state) : !ASLEEP.has(s.state);
    if (took) {
      this.pending = undefined;
      return;
    }
    if (!p.resent) {
      this.log.warn({ command: p.kind, reads: s.state }, 'miner took the command but did not carry it out: sending it again');
      try {
        accepted(`mining/${p.kind}`, await this.rest.post(`/mining/${p.kind}`));
        this.pending = { kind: p.kind, gen: ++this.gen, resent: true };
        this.scheduleConfirm();
      } catch (e) {
        this.pending = undefined;
        this.confirmFault = `mining/${p.kind} not carried out: ${describe(e)}`;
      }
      return;
    }
    this.pending = undefined;
    this.confirmFault = `miner accepted mining/${p.kind} twice but still reports "${s.state}"`;
    this.log.error({ command: p.kind, reads: s.state }, 'miner does not carry out the command');
  }

  // ---- polling ----

  private schedule(): void {
    if (this.closed) return;
    const p = this.o.pollMs;
    const delay = this.fails === 0 ? p : Math.min(p * 2 ** this.fails, Math.max(p, this.tuning.backoffMaxMs));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      void this.refresh().then(() => this.schedule());
    }, delay);
  }

  private runCycle(): Promise<void> {
    const p = this.cycle().finally(() => { if (this.cycling === p) this.cycling = undefined; });
    this.cycling = p;
    return p;
  }

  /** identify if needed, keep the token fresh, read status; never rejects */
  private async cycle(): Promise<void> {
    const gen = this.gen;
    try {
      if (!this.info) await this.identifyHost();
      if (!this.info) return;
      if (!this.rest.hasToken) await this.rest.unlock();
      else if (this.rest.refreshDue()) this.refreshToken();
      this.polls++;
      const summary = parseSummary(await this.rest.read('/summary', true), this.info.toTh);
      if (!this.held || this.polls % this.tuning.settingsEveryPolls === 0) this.held = parseSettings(await this.rest.read('/settings', true));
      if (!this.presetsRead || this.polls % this.tuning.presetsEveryPolls === 0) await this.readPresets();
      this.summary = summary;
      if (this.pollFault !== undefined && this.pollUnreachable) this.counters.reconnects++;
      this.pollFault = undefined;
      this.pollUnreachable = false;
      this.authFault = undefined;
      this.fails = 0;
      await this.checkPending(gen);
    } catch (e) {
      this.fails++;
      if (e instanceof VnishAuthRefused) {
        this.authFault = `credentials refused: ${e.message}`;
      } else {
        this.pollFault = describe(e);
        this.pollUnreachable = isHashflexError(e) && (e.disconnected || e.timeout) && e.code !== ErrorCode.TransportClosed;
      }
    } finally {
      this.reportFault();
    }
  }

  private async identifyHost(): Promise<void> {
    let info: VnishInfo;
    try {
      info = parseInfo(await this.rest.read('/info', false));
    } catch (e) {
      // no answer: try again next poll; an answer that is no VNish info: not ours (for now)
      if (isHashflexError(e) && (e.disconnected || e.timeout)) throw e;
      return this.refuse(`host did not identify as VNish firmware (GET /api/v1/info: ${describe(e)})`);
    }
    if (!isVnishFirmware(info)) return this.refuse(`host is not VNish firmware (info says fw_name ${JSON.stringify(info.fwName)}, miner ${JSON.stringify(info.miner)})`);
    this.info = info;
    this.identityFault = undefined;
    this.identity = { model: modelOf(info.miner), firmware: `${info.fwName} ${info.fwVersion}`.trim() };
    this.log.info(this.identity, 'vnish identified');
  }

  private refuse(fault: string): void {
    if (fault !== this.identityFault) this.log.error({ fault }, 'miner host runs other firmware: no commands will be sent');
    this.identityFault = fault;
    this.pollFault = undefined;
    this.summary = undefined;
  }

  private async readPresets(): Promise<void> {
    try {
      this.allPresets = parsePresets(await this.rest.read('/autotune/presets', true));
    } catch (e) {
      // a build without autotune (404) runs its manual settings only: on and off
      if (!(e instanceof VnishHttpError && e.status === 404)) throw e;
      this.allPresets = [];
    }
    this.presetsRead = true;
    const scale: PresetScale = scaleOf(usablePresets(this.allPresets), this.ratedW);
    const before = this.settings.scale;
    if (scale.min !== before.min || scale.max !== before.max || scale.step !== before.step) this.log.info({ presets: scale.presets.map((p) => p.name), min: scale.min, max: scale.max, step: scale.step }, 'miner preset scale');
    this.settings.scale = scale;
  }

  private refreshToken(): void {
    if (this.refreshing) return;
    const p = this.rest
      .unlock()
      .then(() => { this.authFault = undefined; })
      // the old token is kept meanwhile; the next poll tries again
      .catch((e: unknown) => { if (e instanceof VnishAuthRefused) this.authFault = `credentials refused: ${e.message}`; })
      .finally(() => {
        if (this.refreshing === p) this.refreshing = undefined;
        this.reportFault();
      });
    this.refreshing = p;
  }

  /** the preset in force as watts: a preset on the scale, else (manual "disabled") the top */
  private settingInForce(): number {
    const name = this.held?.preset;
    const p = this.allPresets.find((x) => x.name === name);
    return p ? p.watts : this.settings.scale.max;
  }

  private wrap(what: string, e: unknown): HashflexError {
    const msg = `miner ${this.id} (${this.o.host}): ${what} not accepted: ${describe(e)}`;
    if (e instanceof VnishAuthRefused) {
      this.authFault = `credentials refused: ${e.message}`;
      return new VnishAuthRefused(msg);
    }
    if (isHashflexError(e)) return new HashflexError(msg, e.code, { disconnected: e.disconnected, timeout: e.timeout }, { cause: e });
    // the parsers' errors: a reply that is not what VNish sends
    return new HashflexError(msg, ErrorCode.FrameInvalid, {}, { cause: e });
  }

  /** one log line per change of fault, never per failed poll */
  private reportFault(): void {
    const f = this.identityFault ?? this.authFault ?? this.pollFault;
    if (f === this.reportedFault) return;
    if (f) this.log.warn({ fault: f }, 'miner fault');
    else this.log.info('miner answering again');
    this.reportedFault = f;
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function createVnish(o: MinerOptions, clock: Clock): NetworkMiner {
  return new VnishMiner(o, clock);
}
