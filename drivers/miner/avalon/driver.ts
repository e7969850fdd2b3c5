import type { Clock, Timer } from '../../../agent/clock';
import { ErrorCode, HashflexError, isHashflexError } from '../../../agent/errors';
import { newCounters, type LinkCounters, type MinerSettings, type MinerState, type MinerStatus, type NetworkMiner } from '../../../agent/hardware';
import { logger, type Logger } from '../../../agent/log';
import type { MinerOptions } from '../options';
import { rpcCall, type RpcTarget } from '../rpc';
import { ACCESS_DENIED, ascsetAccepted, replyError, softPowerParam, statusOf, workLevelParam, type SoftPower } from './ascset';
import { parseEstats, type EstatsInfo } from './estats';
import { firmwareOf, modelOf, NOT_AVALON, versionRow } from './identify';
import { RequestLane, type JobKind } from './lane';
import { LevelPower } from './power';
import { MinerClock } from './skew';

export { identify, type MinerEvidence, type MinerIdentity } from './identify';

/**
 * Canaan Avalon (A12–A15 and the Nano / Q / Mini home miners), over the cgminer-style API on 4028
 * (drivers/miner/rpc.ts): `version` once, `estats` each poll (power, hash rate, temperatures, work
 * level and soft-off state: estats.ts), `ascset` softoff / softon / worklevel to control
 * (ascset.ts). The API has no accounts, so there is nothing to log in to or keep fresh; what a
 * trip needs is held ready instead:
 *  - the line to the miner: its API serves one request at a time, so every request goes through
 *    one lane (lane.ts) where a stop goes first and aborts a poll on the wire;
 *  - the miner's clock (skew.ts): softoff acts at a timestamp on the miner's clock, so the stop is
 *    stamped with the miner's present second, learnt from every reply, never read on the trip.
 * stop() is therefore one request: `ascset 0,softoff,1:<miner now>`.
 *
 * The scale (MinerSettings): 0 sleeps (softoff); 1..n are the firmware's work levels from the
 * lowest, n = levels.hi − levels.lo + 1. Open clients drive levels 0..2 (pyasic's
 * set_power_limit, the Nano's low/med/high); the firmware bounds the level itself and refuses
 * others, and a level the miner reports outside the range widens it.
 */
const log = logger('miner');

export const DEFAULT_LEVELS = { lo: 0, hi: 2 } as const;
/** below this share of GHSmm a working miner is still coming up */
const WAKING_SHARE = 0.5;
/** above this share of the top level's power a soft-off miner is still stopping */
const STOPPING_SHARE = 0.1;

export interface AvalonTuning {
  /** a softoff accepted but not seen in estats this long past its stamp is a fault (ms) */
  offConfirmMs: number;
  /** a softon accepted but not seen this long past its stamp is a fault (ms): boards re-initialise */
  onConfirmMs: number;
}

export const AVALON_TUNING: AvalonTuning = { offConfirmMs: 60_000, onConfirmMs: 300_000 };

class Canceled extends Error {}

interface Intent {
  on: boolean;
  /** monotonic ms after which the miner should show it */
  dueMono: number;
  stampS: number;
}

export class AvalonMiner implements NetworkMiner {
  readonly driver = 'avalon';
  readonly id: string;
  readonly settings: MinerSettings;
  private readonly counters: LinkCounters = newCounters();
  private readonly rpc: RpcTarget;
  private readonly log: Logger;
  private readonly tuning: AvalonTuning;
  private lane: RequestLane;
  private readonly minerClock = new MinerClock();
  private levels: { lo: number; hi: number } = { ...DEFAULT_LEVELS };

  private identity?: { model?: string; firmware: string };
  private est?: EstatsInfo;
  /** the work level as reported or written last */
  private level?: number;
  private intent?: Intent;
  private readonly power: LevelPower;
  private lastPsuError = 0;

  private apiFault?: string;
  private apiUnreachable = false;
  private identityFault?: string;
  private accessFault?: string;
  private confirmFault?: string;

  private failures = 0;
  private timer?: Timer;
  private polling?: Promise<void>;
  private stopping?: Promise<void>;
  /** stops asked for so far: a set() that began before the last one does not wake the miner */
  private trips = 0;
  private closed = false;

  constructor(private readonly o: MinerOptions, private readonly clock: Clock, tuning: Partial<AvalonTuning> = {}) {
    this.id = o.id;
    this.tuning = { ...AVALON_TUNING, ...tuning };
    this.power = new LevelPower(o.ratedKw);
    this.rpc = { host: o.host, port: o.ports.api ?? 4028, timeoutMs: o.timeoutMs };
    this.log = log.child({ miner: o.id, driver: 'avalon', host: o.host });
    this.lane = new RequestLane(`miner ${o.id}`);
    const self = this;
    this.settings = {
      min: 1,
      get max() { return self.levels.hi - self.levels.lo + 1; },
      step: 1,
      unit: 'level',
      kwAt: (s: number) => self.kwAt(s),
    };
  }

  async start(): Promise<void> {
    if (this.closed) this.lane = new RequestLane(`miner ${this.id}`);
    this.closed = false;
    await this.refresh();
    this.schedule();
  }

  /** one poll now (after any in flight): the doctor and tests use it */
  async refresh(): Promise<void> {
    if (this.polling) await this.polling;
    this.polling = this.poll().finally(() => { this.polling = undefined; });
    await this.polling;
  }

  stop(): Promise<void> {
    this.trips++;
    if (this.stopping) return this.stopping;
    this.stopping = this.softPower('softoff', 'trip', 'stop').finally(() => { this.stopping = undefined; });
    return this.stopping;
  }

  async set(setting: number): Promise<void> {
    const max = this.settings.max;
    if (!Number.isInteger(setting) || setting < 0 || setting > max) {
      throw new HashflexError(`miner ${this.id}: setting ${setting} is not on the scale 0 (sleep), 1..${max} (work levels ${this.levels.lo}..${this.levels.hi})`, ErrorCode.UsageInvalid);
    }
    if (setting === 0) return this.stop();
    const level = this.levels.lo + setting - 1;
    const trips = this.trips;
    // the level first, then the wake: if the firmware refuses the level, the miner stays asleep
    // rather than waking at a higher level than control asked for
    await this.write(`set ${setting}`, 'worklevel', workLevelParam(level), () => { this.level = level; });
    if (this.asleep() !== false) await this.softPower('softon', 'write', `set ${setting}`, trips);
  }

  status(): MinerStatus {
    const est = this.apiFault === undefined && !this.identityFault ? this.est : undefined;
    const reportedAsleep = est ? asleepOf(est) : undefined;
    const asleep = this.asleep();
    const setting = asleep ? 0 : this.level !== undefined ? this.settingOf(this.level) : this.settings.max;
    const kw = est?.watts !== undefined ? est.watts / 1000 : this.kwAt(setting);
    let state: MinerState;
    if (this.identityFault || (this.apiFault && !this.apiUnreachable)) state = 'unknown';
    else if (this.apiFault) state = 'unreachable';
    else if (!est || asleep === undefined) state = 'unknown';
    else if (asleep) state = reportedAsleep && kw <= STOPPING_SHARE * this.kwAt(this.settings.max) ? 'sleeping' : 'stopping';
    else if (reportedAsleep || est.work === 'init') state = 'waking';
    else state = this.hashingNow(est) ? 'hashing' : 'waking';
    return {
      id: this.id,
      on: asleep === false,
      kw,
      kwMeasured: est?.watts !== undefined,
      ths: est ? (reportedAsleep ? 0 : (est.ghs ?? NaN) / 1000) : NaN,
      tempC: est?.tempC ?? NaN,
      state,
      setting,
      fault: this.identityFault ?? this.apiFault ?? this.accessFault ?? this.confirmFault,
      counters: { ...this.counters },
    };
  }

  /** what the doctor shows beside status() */
  details(): { model?: string; firmware?: string; wattsField?: string; levels: { lo: number; hi: number }; clockOffsetMs?: { lo: number; hi: number } } {
    return { model: this.identity?.model, firmware: this.identity?.firmware, wattsField: this.est?.wattsField, levels: { ...this.levels }, clockOffsetMs: this.minerClock.offset() };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.lane.close();
    await this.polling?.catch(() => {});
  }

  // ---- control ----

  /**
   * softoff / softon stamped with the miner's present second. A softon belongs to the set() that
   * began before `trips` stops: a stop since then (even one that went on the wire while the set's
   * level write was there) wins, and the wake is not sent.
   */
  private async softPower(kind: SoftPower, lane: JobKind, what: string, trips?: number): Promise<void> {
    const on = kind === 'softon';
    let stampS = 0;
    await this.send(what, lane, kind, () => {
      if (trips !== undefined && trips !== this.trips) throw new HashflexError('a stop came after it: not sent', ErrorCode.DeviceFault);
      stampS = this.minerClock.stamp(this.clock.now());
      return softPowerParam(kind, stampS);
    }, () => {
      const ahead = Math.max(0, stampS * 1000 - this.minerNow());
      this.intent = { on, stampS, dueMono: this.clock.monotonic() + ahead + (on ? this.tuning.onConfirmMs : this.tuning.offConfirmMs) };
      this.confirmFault = undefined;
    });
  }

  private write(what: string, cmd: 'worklevel', param: string, applied: () => void): Promise<void> {
    return this.send(what, 'write', cmd, () => param, applied);
  }

  private async send(what: string, kind: JobKind, cmd: SoftPower | 'worklevel', param: () => string, applied: () => void): Promise<void> {
    if (this.closed) throw new HashflexError(`miner ${this.id}: closed`, ErrorCode.DeviceUnresponsive);
    // a host that told us it runs something else gets nothing from this driver
    if (this.identityFault) throw new HashflexError(`miner ${this.id}: ${what} not sent: ${this.identityFault}`, ErrorCode.DeviceFault);
    let p = '';
    try {
      const reply = await this.lane.push(kind, `${what} (${cmd})`, (signal) => {
        p = param();
        return this.request('ascset', p, signal);
      });
      const ok = ascsetAccepted(reply, cmd);
      if (!ok.ok) {
        if (statusOf(reply)?.code === ACCESS_DENIED) this.accessFault = `api: ${ok.why}`;
        throw new HashflexError(ok.why, ErrorCode.DeviceFault);
      }
      this.accessFault = undefined;
      applied();
      this.log.debug({ what, param: p }, 'miner took the command');
    } catch (e) {
      const err = asError(e);
      this.log.warn({ what, param: p || undefined, err: err.message }, 'miner did not take the command');
      const h = isHashflexError(err) ? err : undefined;
      throw new HashflexError(`miner ${this.id}: ${what} not accepted: ${err.message}`, h?.code ?? ErrorCode.DeviceFault, { disconnected: h?.disconnected, timeout: h?.timeout }, { cause: err });
    }
  }

  /** asleep as commanded (an accepted softoff/softon not yet seen) or as reported; undefined if unknown */
  private asleep(): boolean | undefined {
    if (this.intent) return !this.intent.on;
    return this.est ? asleepOf(this.est) : undefined;
  }

  // ---- polling ----

  private schedule(): void {
    if (this.closed) return;
    const p = this.o.pollMs;
    const delay = this.failures === 0 ? p : Math.min(p * 2 ** this.failures, p * 8);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      void this.refresh().finally(() => this.schedule());
    }, delay);
  }

  private async poll(): Promise<void> {
    try {
      if (!this.identity) await this.lane.push('read', 'version', (s) => this.readVersion(s));
      if (this.identityFault) { this.failures++; return; }
      const reply = await this.lane.push('read', 'estats', (s) => this.request('estats', undefined, s));
      const bad = replyError(reply);
      if (bad) throw new HashflexError(`estats: ${bad}`, ErrorCode.DeviceFault);
      let info: EstatsInfo;
      try {
        info = parseEstats(reply);
      } catch (e) {
        throw new HashflexError(`estats: ${asError(e).message}`, ErrorCode.FrameInvalid);
      }
      this.absorb(info);
      if (this.apiFault !== undefined) {
        this.log.info({ after: this.apiFault }, 'miner API answers again');
        if (this.apiUnreachable) this.counters.reconnects++;
      }
      this.apiFault = undefined;
      this.apiUnreachable = false;
      this.failures = 0;
    } catch (e) {
      // a trip took the line: not the miner's fault, the next poll reads again
      if (e instanceof Canceled || this.closed) return;
      if (isHashflexError(e) && e.message.includes('not sent: closed')) return;
      const err = asError(e);
      const fault = `api: ${err.message}`;
      if (fault !== this.apiFault) this.log.warn({ fault }, 'miner API fault');
      this.apiFault = fault;
      this.apiUnreachable = isHashflexError(err) && (err.timeout || err.code === ErrorCode.TransportOpenFailed);
      this.failures++;
    }
  }

  private async readVersion(signal: AbortSignal): Promise<void> {
    const reply = await this.request('version', undefined, signal);
    const bad = replyError(reply);
    if (bad) throw new HashflexError(`version: ${bad}`, ErrorCode.DeviceFault);
    const text = JSON.stringify(reply).toUpperCase();
    const other = NOT_AVALON.find((n) => text.includes(n));
    if (other || !text.includes('AVALON')) {
      const fault = `host is not an Avalon (version names ${other ?? 'no Avalon'}): no commands will be sent`;
      if (fault !== this.identityFault) this.log.error({ other }, 'miner host runs other firmware: no commands will be sent');
      this.identityFault = fault;
      return;
    }
    const row = versionRow(reply);
    this.identityFault = undefined;
    this.identity = { model: modelOf(row), firmware: firmwareOf(row) };
    this.log.info({ model: this.identity.model, firmware: this.identity.firmware }, 'miner identified');
  }

  /** one 4028 request, counted; the reply's clock feeds the miner-clock estimate */
  private async request(command: string, parameter: string | undefined, signal: AbortSignal): Promise<Record<string, unknown>> {
    this.counters.requests++;
    const sent = this.clock.now();
    try {
      const reply = await rpcCall(this.rpc, command, parameter, signal);
      this.minerClock.observe(statusOf(reply)?.when, sent, this.clock.now());
      this.counters.frames++;
      return reply;
    } catch (e) {
      if (signal.aborted) throw new Canceled(`${command} canceled`);
      if (isHashflexError(e) && e.timeout) this.counters.timeouts++;
      else this.counters.exceptions++;
      if (isHashflexError(e)) throw e;
      throw new HashflexError(`${command}: ${asError(e).message}`, ErrorCode.FrameInvalid, {}, { cause: e });
    }
  }

  private absorb(info: EstatsInfo): void {
    const prevLevel = this.est?.workLevel;
    this.est = info;
    if (info.mpoW) this.power.mpoW = info.mpoW;
    if (info.workLevel !== undefined) {
      if (info.workLevel < this.levels.lo || info.workLevel > this.levels.hi) {
        this.levels = { lo: Math.min(this.levels.lo, info.workLevel), hi: Math.max(this.levels.hi, info.workLevel) };
        this.log.warn({ level: info.workLevel, levels: this.levels }, 'miner reports a work level outside the scale: scale widened');
      }
      this.level = info.workLevel;
    }
    if ((info.psuError ?? 0) !== this.lastPsuError) {
      this.lastPsuError = info.psuError ?? 0;
      if (this.lastPsuError !== 0) this.log.warn({ psuError: this.lastPsuError }, 'miner reports a power supply error (A10 API manual appendix 1)');
    }
    const reported = asleepOf(info);
    const it = this.intent;
    if (it) {
      if (reported === !it.on) this.intent = undefined;
      else if (this.clock.monotonic() > it.dueMono) {
        this.intent = undefined;
        this.confirmFault = `miner accepted ${it.on ? 'softon' : 'softoff'} at ${it.stampS} but still reports ${info.systemStatus ?? 'no SYSTEMSTATU'}`;
        this.log.error({ stampS: it.stampS, systemStatus: info.systemStatus }, 'miner does not apply its soft power command');
      }
    }
    // learn what each setting draws, once it has settled there
    if (info.watts !== undefined && !this.intent) {
      const kw = info.watts / 1000;
      if (reported && kw <= STOPPING_SHARE * this.kwAt(this.settings.max)) this.power.learn(0, kw);
      else if (!reported && this.level !== undefined && prevLevel === info.workLevel && this.hashingNow(info)) this.power.learn(this.settingOf(this.level), kw);
    }
  }

  private hashingNow(est: EstatsInfo): boolean {
    if (est.work !== 'work' && est.work !== 'unknown') return false;
    const ghs = est.ghs ?? 0;
    return est.ghsmm ? ghs >= WAKING_SHARE * est.ghsmm : ghs > 0;
  }

  private settingOf(level: number): number {
    return Math.max(1, Math.min(this.settings.max, level - this.levels.lo + 1));
  }

  private kwAt(s: number): number {
    return this.power.kwAt(s, this.settings.max);
  }

  /** the miner's clock now (ms), our clock where it has not said */
  private minerNow(): number {
    const off = this.minerClock.offset();
    return this.clock.now() + (off ? (off.lo + off.hi) / 2 : 0);
  }
}

/** soft-off standby, by SoftOFF or SYSTEMSTATU "In Idle" */
export function asleepOf(e: EstatsInfo): boolean {
  return (e.softOff ?? 0) > 0 || e.work === 'idle';
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

export function createAvalon(o: MinerOptions, clock: Clock): NetworkMiner {
  return new AvalonMiner(o, clock);
}
