import type { Clock, Timer } from '../../../agent/clock';
import { ErrorCode, HashflexError, isHashflexError } from '../../../agent/errors';
import { newCounters, type MinerSettings, type MinerState, type MinerStatus, type NetworkMiner } from '../../../agent/hardware';
import { logger } from '../../../agent/log';
import type { MinerOptions } from '../options';
import { BosChannel, CHANNEL_TUNING, type ChannelTuning } from './channel';
import { identifyHost } from './host';
import { makeOf } from './identify';
import { MinerStatusCode, SAVE_AND_APPLY, type BosMethod } from './proto';
import { parseConstraints, parseCooling, parseDetails, parseSetTarget, parseStats, parseTuner, type BosDetails, type BosTuner, type PowerRange } from './replies';
import { BosSession, CredentialsRefused, SESSION_TUNING, type SessionTuning } from './session';
import { readingOf, STANDBY_KW, type Reading } from './state';

export { identify, type MinerEvidence, type MinerIdentity } from './identify';

/**
 * Braiins OS+ (on Antminer S9 … S21 class hardware) over its public gRPC API on TCP 50051
 * (github.com/braiins/bos-plus-api): one HTTP/2 channel kept open (channel.ts), a logon token
 * kept fresh ahead of time (session.ts), polls of GetMinerDetails (paused or mining) and
 * GetMinerStats (power and hashrate), with GetCoolingState (hottest chip) and GetTunerState (the
 * power target in force) every few polls and GetConstraints (the model's power-target range) once.
 *
 * Before anything is sent that needs the account, the host must show it is Braiins OS+: its
 * gRPC API answers braiins.bos.ApiVersionService/GetApiVersion (which needs no logon), and its
 * 4028 `version`, where it answers, names no other family. A host that fails that is a fault and
 * gets no Login, no stop, no target.
 *
 * The trip path is one PauseMining on the open channel with the token in hand: no logon, no
 * poll, no handshake before it. Already paused, the firmware answers `already_paused`, which is
 * as good an acceptance as any. Scale: watts, the tuner's power target, between the model's min
 * and max in steps of `stepW`; 0 pauses. A target from pause is SetPowerTarget then ResumeMining
 * (Start where bosminer itself was stopped), so a refused target leaves the miner paused.
 */
export interface BraiinsTuning extends SessionTuning, ChannelTuning {
  /** longest wait between polls while the miner does not answer (ms) */
  backoffMaxMs: number;
  /** wait before logging in again after the credentials were refused (ms) */
  credentialBackoffMs: number;
  /** GetTunerState and GetCoolingState every this many polls (the tuner also after every target written) */
  tunerEveryPolls: number;
  /** the scale's step (W) */
  stepW: number;
}

export const BRAIINS_TUNING: BraiinsTuning = {
  ...SESSION_TUNING,
  ...CHANNEL_TUNING,
  backoffMaxMs: 30_000,
  credentialBackoffMs: 5 * 60_000,
  tunerEveryPolls: 6,
  stepW: 100,
};

/** the firmware's own ports: the gRPC API, and the cgminer-style API read for identification */
export const BRAIINS_PORTS = { grpc: 50051, api: 4028 } as const;
/** the firmware's default account (pyasic's default_bosminer_password) */
const DEFAULT_ACCOUNT = { username: 'root', password: 'root' } as const;
/** states in which the stats square with the status held: no need to read it again this poll */
const SETTLED: ReadonlySet<MinerState> = new Set(['hashing', 'sleeping']);
/** an S19-class machine until the firmware says its range */
const DEFAULT_RATED_KW = 3.25;
/** lowest target as a share of the highest, until the firmware says its range */
const DEFAULT_MIN_SHARE = 0.4;

const M = {
  details: 'braiins.bos.v1.MinerService/GetMinerDetails',
  stats: 'braiins.bos.v1.MinerService/GetMinerStats',
  cooling: 'braiins.bos.v1.CoolingService/GetCoolingState',
  tuner: 'braiins.bos.v1.PerformanceService/GetTunerState',
  constraints: 'braiins.bos.v1.ConfigurationService/GetConstraints',
  setTarget: 'braiins.bos.v1.PerformanceService/SetPowerTarget',
  pause: 'braiins.bos.v1.ActionsService/PauseMining',
  resume: 'braiins.bos.v1.ActionsService/ResumeMining',
  start: 'braiins.bos.v1.ActionsService/Start',
} as const satisfies Record<string, BosMethod>;

export class BraiinsMiner implements NetworkMiner {
  readonly driver = 'braiins';
  readonly id: string;
  readonly settings: MinerSettings;
  /** what the miner said it is, once identified (discover and the doctor read it) */
  identity: { make: string; model: string; firmware: string; api: string } | undefined;

  private readonly log;
  private readonly counters = newCounters();
  private readonly tuning: BraiinsTuning;
  private channel!: BosChannel;
  private session!: BosSession;
  private range: PowerRange;
  private rangeRead = false;
  /** GetCoolingState has answered once (then it is read with the tuner, every few polls) */
  private tempRead = false;
  private targetW: number | undefined;
  private minerDetails: BosDetails | undefined;
  /** runGen when minerDetails was read: a pause or resume since makes it stale */
  private detailsGen = -1;
  private tuner: BosTuner | undefined;
  private last: Reading = { on: false, kw: 0, kwMeasured: false, ths: NaN, tempC: NaN, state: 'unknown', setting: 0 };

  private identityFault: string | undefined;
  private pollFault: string | undefined;
  private credFault: string | undefined;
  private reportedFault: string | undefined;
  private fails = 0;
  private polls = 0;
  private credRetryAt = -Infinity;
  /**
   * bumped by every pause, resume or start: a poll begun before one does not undo what it did to
   * on, state and setting. A new power target on a running miner does not bump it: it changes
   * neither, and control may retarget often; were each retarget to void the poll in flight, a
   * miner woken a moment before would stay "waking" until a poll went by with no retarget
   */
  private runGen = 0;
  /** bumped by every SetPowerTarget: a poll begun before one does not take the tuner's old target */
  private targetGen = 0;
  /** stops asked for so far: a set() begun before the last one does not resume the miner */
  private trips = 0;
  private stopping: Promise<void> | undefined;
  private timer: Timer | undefined;
  private cycling: Promise<void> | undefined;
  private renewing: Promise<void> | undefined;
  /** why the last logon failed, if it did */
  private renewError: unknown;
  private closed = true;
  /** the channel is open (close() closes it; start() opens a new one) */
  private channelOpen = false;

  constructor(private readonly o: MinerOptions, private readonly clock: Clock, tuning: Partial<BraiinsTuning> = {}) {
    this.id = o.id;
    this.tuning = { ...BRAIINS_TUNING, ...tuning };
    this.log = logger('miner').child({ miner: o.id, host: o.host, driver: 'braiins' });
    const step = this.tuning.stepW;
    const maxW = Math.round(((o.ratedKw ?? DEFAULT_RATED_KW) * 1000) / step) * step;
    this.range = { min: Math.round((maxW * DEFAULT_MIN_SHARE) / step) * step, max: maxW };
    this.open();
    const self = this;
    this.settings = {
      get min() { return self.range.min; },
      get max() { return self.range.max; },
      step,
      unit: 'watts',
      kwAt: (w: number) => (w > 0 ? w / 1000 : STANDBY_KW),
    };
  }

  async start(): Promise<void> {
    if (!this.channelOpen) this.open();
    this.closed = false;
    await this.runCycle(true);
    this.schedule();
  }

  /** Trip: PauseMining with the token in hand; resolves once the firmware accepted it (or said it was already paused). */
  stop(): Promise<void> {
    this.trips++;
    if (this.stopping) return this.stopping;
    const p = this.pause().finally(() => { if (this.stopping === p) this.stopping = undefined; });
    this.stopping = p;
    return p;
  }

  async set(setting: number): Promise<void> {
    if (!Number.isFinite(setting) || setting < 0) {
      throw new HashflexError(`miner ${this.id}: setting ${setting} is not a power target (0 pauses, ${this.range.min}..${this.range.max} W)`, ErrorCode.UsageInvalid);
    }
    if (setting === 0) return this.stop();
    const w = Math.min(this.range.max, Math.max(this.range.min, Math.round(setting)));
    const trips = this.trips;
    const asleep = !this.last.on;
    this.targetGen++;
    const r = await this.write(`set ${w} W`, M.setTarget, { save_action: SAVE_AND_APPLY, power_target: { watt: w } });
    this.targetW = parseSetTarget(r) ?? w;
    this.tuner = undefined; // read again at the next poll
    if (asleep) {
      // the target first, then the wake: a stop since this set began wins, and nothing is resumed
      if (trips !== this.trips) throw new HashflexError(`miner ${this.id}: set ${w} W: a stop came after it: not resumed`, ErrorCode.DeviceFault);
      this.runGen++;
      if (this.minerDetails?.status === MinerStatusCode.notStarted) await this.write(`set ${w} W (Start)`, M.start, {});
      else await this.write(`set ${w} W (ResumeMining)`, M.resume, {});
      // a stop that went out while the wake was on the wire may have reached the miner first
      // (calls on one connection are not ordered): the stop wins, so pause once more
      if (trips !== this.trips) {
        await this.pause();
        throw new HashflexError(`miner ${this.id}: set ${w} W: a stop came while it resumed: paused again`, ErrorCode.DeviceFault);
      }
      this.last = { ...this.last, on: true, state: 'waking', setting: this.targetW };
    } else {
      this.last = { ...this.last, setting: this.targetW };
    }
  }

  status(): MinerStatus {
    return { id: this.id, ...this.last, fault: this.identityFault ?? this.pollFault ?? this.credFault, counters: { ...this.counters } };
  }

  /** what the doctor shows beside status() */
  details(): { model?: string; firmware?: string; api?: string; range: PowerRange; rangeFromFirmware: boolean; targetW?: number; tokenLifeS?: number; logins: number; channel: string } {
    const life = this.session.lifeMs;
    return {
      model: this.identity?.model,
      firmware: this.identity?.firmware,
      api: this.identity?.api,
      range: { ...this.range },
      rangeFromFirmware: this.rangeRead,
      targetW: this.targetW,
      tokenLifeS: life === undefined ? undefined : life / 1000,
      logins: this.session.logins,
      channel: this.channel.state,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    // cancels the calls on the wire: a poll of a hung miner ends now, not at its deadline
    this.channel.close();
    this.channelOpen = false;
    await this.idle();
  }

  /** resolves when no poll or logon is in flight (tests on a virtual clock wait on it) */
  async idle(): Promise<void> {
    while (this.cycling || this.renewing) await Promise.allSettled([this.cycling, this.renewing]);
  }

  // --- writes --------------------------------------------------------------------------------

  private async pause(): Promise<void> {
    this.runGen++;
    const r = await this.write('stop', M.pause, {});
    this.last = { ...this.last, on: false, state: this.last.state === 'sleeping' ? 'sleeping' : 'stopping', setting: 0 };
    this.log.debug({ alreadyPaused: r.already_paused === true }, 'stop accepted');
  }

  /** one authorized call that changes the miner, on the open channel with the held token */
  private async write(what: string, method: BosMethod, request: object): Promise<Record<string, unknown>> {
    if (this.closed) throw new HashflexError(`miner ${this.id}: ${what}: driver closed`, ErrorCode.DeviceUnresponsive);
    // a host that told us it runs something else gets nothing from this driver
    if (this.identityFault) throw new HashflexError(`miner ${this.id}: ${what} not sent: ${this.identityFault}`, ErrorCode.DeviceFault);
    if (!this.identity) throw new HashflexError(`miner ${this.id}: ${what} not sent: ${this.o.host} has not identified as Braiins OS+ (${this.pollFault ?? 'not started'})`, ErrorCode.DeviceUnresponsive);
    try {
      const r = await this.session.authorized((token) => this.channel.call<Record<string, unknown>>(method, request, { token }));
      return r.response;
    } catch (e) {
      if (e instanceof CredentialsRefused) this.credFault = `credentials refused: ${e.message}`;
      this.log.warn({ what, err: (e as Error).message }, 'miner did not take the command');
      throw this.wrap(what, e);
    }
  }

  // --- the poll cycle --------------------------------------------------------------------------

  private open(): void {
    const port = this.o.ports.grpc ?? BRAIINS_PORTS.grpc;
    this.channel = new BosChannel({ host: this.o.host, port, timeoutMs: this.o.timeoutMs }, this.counters, this.tuning);
    this.session = new BosSession(this.channel, this.o.username ?? DEFAULT_ACCOUNT.username, this.o.password ?? DEFAULT_ACCOUNT.password, this.clock, this.tuning);
    this.channelOpen = true;
  }

  private schedule(): void {
    if (this.closed) return;
    // after failures: 2, 4, 8 … poll periods, at most backoffMaxMs (never less than one period)
    const p = this.o.pollMs;
    const delay = this.fails === 0 ? p : Math.min(p * 2 ** this.fails, Math.max(p, this.tuning.backoffMaxMs));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.closed) void this.runCycle(false).then(() => this.schedule());
    }, delay);
  }

  private runCycle(first: boolean): Promise<void> {
    const p = this.cycle(first).finally(() => { if (this.cycling === p) this.cycling = undefined; });
    this.cycling = p;
    return p;
  }

  /** identify if not yet, keep the token fresh, read status; never rejects */
  private async cycle(first: boolean): Promise<void> {
    try {
      if (!this.identity) await this.identifyHost();
      if (this.identityFault) { this.fails++; return; }
      if (this.session.due && !this.renewing && this.clock.monotonic() >= this.credRetryAt) {
        const r = this.renew();
        // nothing can be read without a token; with one held, the next one comes beside the polls
        if (first || !this.session.token) await r;
      }
      if (!this.session.token) {
        if (this.renewError instanceof CredentialsRefused || this.renewError === undefined) { this.fails++; return; }
        throw this.renewError;
      }
      await this.poll();
      if (this.pollFault !== undefined) this.counters.reconnects++;
      this.pollFault = undefined;
      this.fails = 0;
    } catch (e) {
      if (this.closed) return;
      this.fails++;
      if (e instanceof CredentialsRefused) this.refused(e);
      else this.pollFault = (e as Error).message;
      const unreachable = isHashflexError(e) && (e.disconnected || e.timeout);
      this.last = { ...this.last, kwMeasured: false, state: unreachable ? 'unreachable' : 'unknown' };
    } finally {
      this.reportFault();
    }
  }

  private renew(): Promise<void> {
    const p = this.session
      .renew()
      .then(() => {
        this.renewError = undefined;
        this.credFault = undefined;
        this.credRetryAt = -Infinity;
      })
      .catch((e: unknown) => {
        this.renewError = e;
        if (e instanceof CredentialsRefused) return this.refused(e);
        // the link's fault: the poll says so; a held token still works until it runs out
        this.credRetryAt = this.clock.monotonic() + this.o.pollMs;
        if (!this.session.token || this.session.expired) this.credFault = `no logon token: ${(e as Error).message}`;
      })
      .finally(() => {
        if (this.renewing === p) this.renewing = undefined;
        this.reportFault();
      });
    this.renewing = p;
    return p;
  }

  private refused(e: CredentialsRefused): void {
    this.credFault = `credentials refused: ${e.message}`;
    this.credRetryAt = this.clock.monotonic() + this.tuning.credentialBackoffMs;
  }

  /** the host must show it is Braiins OS+ (host.ts) before it gets anything that needs the account */
  private async identifyHost(): Promise<void> {
    const cgminer = { host: this.o.host, port: this.o.ports.api ?? BRAIINS_PORTS.api, timeoutMs: this.o.timeoutMs };
    const v = await identifyHost(this.channel, cgminer, this.counters);
    if ('notOurs' in v) return this.notOurs(v.notOurs);
    this.identityFault = undefined;
    this.identity = { make: 'unknown', model: 'unknown', firmware: v.firmware, api: v.api };
    this.log.info({ api: v.api, firmware: v.firmware }, 'braiins os+ identified');
  }

  private notOurs(why: string): void {
    const fault = `host is not Braiins OS+ (${why}): no commands will be sent`;
    if (fault !== this.identityFault) this.log.error({ why }, 'miner host runs other firmware: no commands will be sent');
    this.identityFault = fault;
  }

  /**
   * Most polls are one call, GetMinerStats. The firmware's status (GetMinerDetails) is read with
   * it at first, every few polls, and after a pause or resume; otherwise the status last read is
   * taken, and read afresh at once when the stats do not square with it (a miner held mining that
   * shows no hashrate, one held paused that draws power or hashes: coming up, going down, or
   * paused or resumed by someone else). The tuner's target and the chips' temperature change
   * slowly: every few polls. Each call is an HTTP/2 stream, its objects and timers: with a
   * thousand miners, five calls a poll cost the agent twice the CPU of one (bench miners).
   */
  private async poll(): Promise<void> {
    const gen = this.runGen;
    const targetGen = this.targetGen;
    this.polls++;
    const slow = this.polls % this.tuning.tunerEveryPolls === 0;
    const held = this.minerDetails;
    const needDetails = !held || slow || this.detailsGen !== gen;
    const needTuner = !this.tuner || slow;
    const needTemp = !this.tempRead || slow;
    const [fetched, stats, tempC, tuner, range] = await allOrFirstError([
      needDetails ? this.read(M.details).then(parseDetails) : Promise.resolve(undefined),
      this.read(M.stats).then(parseStats),
      needTemp ? this.read(M.cooling).then(parseCooling) : Promise.resolve(this.last.tempC),
      needTuner ? this.read(M.tuner).then(parseTuner) : Promise.resolve(this.tuner),
      this.rangeRead ? Promise.resolve(undefined) : this.read(M.constraints).then(parseConstraints),
    ] as const);
    if (range) {
      this.range = { min: Math.ceil(range.min), max: Math.floor(range.max), ...(range.default ? { default: range.default } : {}) };
    }
    if (!this.rangeRead && !range) this.log.warn('miner gives no power-target range: the nameplate is taken');
    this.rangeRead = true;
    this.tempRead = true;
    this.tuner = tuner;
    if (tuner?.targetW !== undefined && targetGen === this.targetGen) this.targetW = tuner.targetW;
    const readingFrom = (d: BosDetails) => readingOf(d, stats, tempC, this.last, { targetW: this.targetW, maxW: this.range.max, fresh: gen === this.runGen });
    let details = fetched ?? held!;
    let reading = readingFrom(details);
    if (!fetched && !SETTLED.has(reading.state)) {
      details = parseDetails(await this.read(M.details));
      reading = readingFrom(details);
    }
    if (details !== held) this.heldDetails(details, gen);
    this.last = reading;
  }

  /** the status just read stands for the polls after it, until a pause or resume (`gen`) */
  private heldDetails(details: BosDetails, gen: number): void {
    this.minerDetails = details;
    this.detailsGen = gen;
    if (this.identity) {
      const model = details.model ?? this.identity.model;
      this.identity = { ...this.identity, model, make: makeOf(model), firmware: details.firmware ? `Braiins OS+ ${details.firmware}` : this.identity.firmware };
    }
  }

  /** one authorized read */
  private async read(method: BosMethod): Promise<unknown> {
    const r = await this.session.authorized((token) => this.channel.call(method, {}, { token }));
    return r.response;
  }

  private wrap(what: string, e: unknown): HashflexError {
    const msg = `miner ${this.id} (${this.o.host}): ${what}: ${(e as Error)?.message ?? String(e)}`;
    if (isHashflexError(e)) return new HashflexError(msg, e.code, { disconnected: e.disconnected, timeout: e.timeout }, { cause: e });
    return new HashflexError(msg, ErrorCode.DeviceFault, {}, { cause: e });
  }

  /** one log line per change of fault, never per failed poll */
  private reportFault(): void {
    const f = this.identityFault ?? this.pollFault ?? this.credFault;
    if (f === this.reportedFault) return;
    if (f) this.log.warn({ fault: f }, 'miner fault');
    else this.log.info('miner answering again');
    this.reportedFault = f;
  }
}

/** every request run to its end (so none outlives the poll), then the first error if any */
async function allOrFirstError<T extends readonly unknown[]>(ps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(ps);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

export function createBraiins(o: MinerOptions, clock: Clock): NetworkMiner {
  return new BraiinsMiner(o, clock);
}
