import type { Clock, Timer } from '../../../agent/clock';
import { ErrorCode, HashflexError, isHashflexError } from '../../../agent/errors';
import { newCounters, type MinerSettings, type MinerStatus, type NetworkMiner } from '../../../agent/hardware';
import { logger, type Logger } from '../../../agent/log';
import { RequestLane, type JobKind } from '../avalon/lane';
import type { MinerOptions } from '../options';
import { rpcCall, type RpcTarget } from '../rpc';
import { accepted, curtailParam, parsePoll, parseProfiles, POLL_COMMAND, POLL_COMMANDS, profileParam, programOf, replyError } from './api';
import { isLuxosReply, modelAndFirmware } from './identify';
import { ProfileScale } from './scale';
import { LuxosSession } from './session';
import { LuxosState, type Confirm } from './state';

export { identify, type MinerEvidence, type MinerIdentity } from './identify';

/**
 * LuxOS (Luxor's firmware on Antminer hardware) over its cgminer-style API on 4028 (api.ts):
 * `version` once, then each poll one multi-command request (`power+summary+config+stats`), the
 * profile list at start and every `profilesEveryPolls` polls; control by `curtail` sleep / wakeup
 * and `profileset`, each carrying the miner's one session (session.ts).
 *
 * What a trip needs is held ready: the session, logged on at start and kept fresh from a timer,
 * so stop() is one request, `curtail <sid>,sleep`, whatever the poll or the session upkeep is
 * doing (every exchange goes through one line, avalon/lane.ts, where a stop aborts a read on the
 * wire and waits only for a write already sent: a wakeup processed after the sleep would undo it).
 * Only when the firmware refuses the kept session (killed or expired since the last keepalive)
 * does a stop log on first, taking the session from another client if one holds it, rather than
 * leave the miner running.
 *
 * The scale is the firmware's profiles in power order (scale.ts); 0 is curtail sleep. set() on a
 * sleeping miner wakes it (`curtail wakeup`) and then applies the profile.
 * Nothing is sent to a host whose version reply does not name LUXminer, or whose replies stop
 * naming it (another firmware flashed): the stock Antminer driver's and the others' words mean
 * another family.
 */
const log = logger('miner');

/** ports of the firmware: its API (and the web UI discovery reads) */
export const LUXOS_PORTS = { api: 4028, web: 80 } as const;
/** an S19j Pro at its default profile (kW), until the firmware lists its profiles */
const DEFAULT_RATED_KW = 3.1;
/** asleep, the power supply is off: the control board only (kW) */
const STANDBY_KW = 0.02;

export interface LuxosTuning extends Confirm {
  /**
   * a session idle this long gets a keepalive (ms); the upkeep looks every third of it, so a
   * session is at most 4/3 of this idle: 40 s of the firmware's one-minute expiry
   */
  keepaliveMs: number;
  /** the profile list is read again every this many polls (it changes only with the firmware's tuner) */
  profilesEveryPolls: number;
  /** offer the over-clocked profiles too (scale.ts) */
  overclock: boolean;
  /** longest wait between polls while the miner does not answer (ms) */
  backoffMaxMs: number;
}

export const LUXOS_TUNING: LuxosTuning = { keepaliveMs: 30_000, profilesEveryPolls: 60, overclock: false, offConfirmMs: 30_000, onConfirmMs: 300_000, backoffMaxMs: 60_000 };

export interface LuxosDetails {
  model?: string;
  firmware?: string;
  /** the profile in force, and the ones the scale offers from least power up */
  profile?: string;
  profiles: string[];
  session: { held: boolean; logons: number; keepalives: number; takeovers: number };
  /** why the profile list could not be used, if it could not */
  note?: string;
}

class Canceled extends Error {}

type Recovery = 'takeover' | 'logon';

export class LuxosMiner implements NetworkMiner {
  readonly driver = 'luxos';
  readonly id: string;
  readonly settings: MinerSettings;
  private readonly session: LuxosSession;
  private readonly counters = newCounters();
  private readonly rpc: RpcTarget;
  private readonly log: Logger;
  private readonly tuning: LuxosTuning;
  private readonly scale: ProfileScale;
  private readonly seen: LuxosState;
  private lane: RequestLane;

  private identity?: { model: string; firmware: string };
  private identityFault?: string;
  private apiFault?: string;
  private apiUnreachable = false;
  private profilesNote?: string;

  private polls = 0;
  private failures = 0;
  private pollTimer?: Timer;
  private upkeepTimer?: Timer;
  private polling?: Promise<void>;
  private upkeeping?: Promise<void>;
  private stopping?: Promise<void>;
  /** stops asked for so far: a set() begun before the last one sends nothing more */
  private trips = 0;
  private closed = false;

  constructor(private readonly o: MinerOptions, private readonly clock: Clock, tuning: Partial<LuxosTuning> = {}) {
    this.id = o.id;
    this.tuning = { ...LUXOS_TUNING, ...tuning };
    this.rpc = { host: o.host, port: o.ports.api ?? LUXOS_PORTS.api, timeoutMs: o.timeoutMs };
    this.log = log.child({ miner: o.id, driver: 'luxos', host: o.host });
    this.lane = new RequestLane(`miner ${o.id}`);
    this.scale = new ProfileScale(this.tuning.overclock, o.ratedKw ?? DEFAULT_RATED_KW, STANDBY_KW);
    this.session = new LuxosSession((c, p, s) => this.request(c, p, s), clock, this.tuning.keepaliveMs);
    this.seen = new LuxosState(this.scale, clock, this.tuning, this.log);
    const scale = this.scale;
    this.settings = {
      min: 1,
      get max() { return scale.max; },
      step: 1,
      unit: 'level',
      kwAt: (s: number) => scale.kwAt(s),
    };
  }

  async start(): Promise<void> {
    if (this.closed) this.lane = new RequestLane(`miner ${this.id}`);
    this.closed = false;
    await this.refresh();
    // the session is in hand before start() resolves; from here the timer keeps it
    await this.upkeep();
    this.schedulePoll();
    this.scheduleUpkeep();
  }

  /** one poll now (after any in flight): the doctor and tests use it */
  async refresh(): Promise<void> {
    while (this.polling) await this.polling;
    this.polling = this.poll().finally(() => { this.polling = undefined; });
    await this.polling;
  }

  stop(): Promise<void> {
    this.trips++;
    if (this.stopping) return this.stopping;
    this.stopping = this.command('stop', 'trip', 'curtail', (sid) => curtailParam(sid, 'sleep'), 'takeover')
      .then(() => this.seen.expect(false))
      .finally(() => { this.stopping = undefined; });
    return this.stopping;
  }

  async set(setting: number): Promise<void> {
    const max = this.settings.max;
    if (!Number.isInteger(setting) || setting < 0 || setting > max) {
      throw new HashflexError(`miner ${this.id}: setting ${setting} is not on the scale 0 (sleep), 1..${max} (LuxOS profiles by power)`, ErrorCode.UsageInvalid);
    }
    if (setting === 0) return this.stop();
    const trips = this.trips;
    const profile = this.scale.at(setting);
    const wake = this.seen.asleep() !== false;
    const what = `set ${setting}${profile ? ` (${profile.name})` : ''}`;
    if (wake) {
      await this.command(what, 'write', 'curtail', (sid) => curtailParam(sid, 'wakeup'), 'logon', trips);
      this.seen.expect(true);
    }
    if (profile && (wake || this.seen.profileNow !== profile.name)) {
      await this.command(what, 'write', 'profileset', (sid) => profileParam(sid, profile.name), 'logon', trips);
      this.seen.profileNow = profile.name;
    }
  }

  status(): MinerStatus {
    const seen = this.seen.seen({ refused: this.identityFault !== undefined, faulted: this.apiFault !== undefined, unreachable: this.apiUnreachable });
    return {
      id: this.id,
      ...seen,
      fault: this.identityFault ?? this.apiFault ?? this.session.fault ?? this.seen.confirmFault,
      counters: { ...this.counters },
    };
  }

  /** what the doctor shows beside status() */
  details(): LuxosDetails {
    const s = this.session;
    return {
      model: this.identity?.model,
      firmware: this.identity?.firmware,
      profile: this.seen.profileNow,
      profiles: this.scale.profiles.map((p) => p.name),
      session: { held: s.id !== undefined, logons: s.logons, keepalives: s.keepalives, takeovers: s.takeovers },
      note: this.profilesNote,
    };
  }

  /** resolves when no poll, session upkeep or stop is in flight (tests on a virtual clock wait on it) */
  async idle(): Promise<void> {
    while (this.polling || this.upkeeping || this.stopping) await Promise.allSettled([this.polling, this.upkeeping, this.stopping]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pollTimer?.cancel();
    this.upkeepTimer?.cancel();
    this.pollTimer = this.upkeepTimer = undefined;
    this.lane.close();
    await this.idle();
    // hand the one session back, so that the next client need not wait out its idle minute
    const sid = this.session.id;
    this.session.id = undefined;
    if (sid && !this.apiFault) await rpcCall(this.rpc, 'logoff', sid).catch(() => {});
  }

  // ---- control ----

  /**
   * One command that needs the session, through the line as `kind`. A session the firmware refuses
   * is dropped; `recover` says what the command may do then: log on again (set), or also take the
   * session from another client (stop). A command belonging to a set() begun before the last stop
   * (`trips`) is not sent.
   */
  private async command(what: string, kind: JobKind, command: 'curtail' | 'profileset', param: (sid: string) => string, recover: Recovery, trips?: number): Promise<void> {
    if (this.closed) throw new HashflexError(`miner ${this.id}: ${what}: driver closed`, ErrorCode.DeviceUnresponsive);
    const refused = this.identityFault ?? (this.identity ? undefined : `${this.o.host} has not identified as LuxOS (${this.apiFault ?? 'not started'})`);
    if (refused) throw new HashflexError(`miner ${this.id}: ${what} not sent: ${refused}`, ErrorCode.DeviceFault);
    let p = '';
    let tookOver = false;
    try {
      await this.lane.push(kind, `${what} (${command})`, async (signal) => {
        if (trips !== undefined && trips !== this.trips) throw new HashflexError('a stop came after it: not sent', ErrorCode.DeviceFault);
        const session = async (): Promise<string> => {
          if (recover === 'logon') return this.session.logon(signal);
          const before = this.session.takeovers;
          const sid = await this.session.takeOver(signal);
          tookOver ||= this.session.takeovers > before;
          return sid;
        };
        let sid = this.session.id ?? (await session());
        p = param(sid);
        let ok = accepted(await this.request(command, p, signal));
        if (!ok.ok && ok.session) {
          this.session.lost(sid, ok.why);
          sid = await session();
          p = param(sid);
          ok = accepted(await this.request(command, p, signal));
        }
        if (!ok.ok) throw new HashflexError(ok.why, ErrorCode.DeviceFault);
        this.session.used();
      });
    } catch (e) {
      const err = asError(e);
      this.log.warn({ what, err: err.message }, 'miner did not take the command');
      const h = isHashflexError(err) ? err : undefined;
      throw new HashflexError(`miner ${this.id}: ${what} not accepted: ${err.message}`, h?.code ?? ErrorCode.DeviceFault, { disconnected: h?.disconnected, timeout: h?.timeout }, { cause: err });
    }
    if (tookOver) this.log.warn({ what }, 'no live session for the stop: ended the other client\'s session and logged on to send it');
    this.log.info({ what, command, action: p.slice(p.indexOf(',') + 1) }, 'miner took the command');
  }

  // ---- the session ----

  private scheduleUpkeep(): void {
    if (this.closed) return;
    // at a third of the keepalive period: a session is at most 4/3 of a period idle, inside its
    // minute; a keepalive every 30 s rather than every 20 s is a third fewer requests a miner
    this.upkeepTimer = this.clock.setTimeout(() => {
      this.upkeepTimer = undefined;
      void this.upkeep().finally(() => this.scheduleUpkeep());
    }, Math.max(1, this.tuning.keepaliveMs / 3));
  }

  /** log on where there is no session, keep it fresh where there is; never rejects */
  private upkeep(): Promise<void> {
    if (this.upkeeping) return this.upkeeping;
    this.upkeeping = this.keepSession().finally(() => { this.upkeeping = undefined; });
    return this.upkeeping;
  }

  private async keepSession(): Promise<void> {
    // a host not (yet) known to be ours gets no logon; one that stopped answering still gets its
    // keepalives, so that the session outlives a short outage and the polls' backoff
    if (this.closed || !this.identity || this.identityFault) return;
    const before = this.session.fault;
    try {
      if (this.session.due) await this.lane.push('read', 'keepalive', (s) => this.session.keepalive(this.seen.reading?.redLed, s));
      // a logon is not aborted by a stop: a session the firmware made and we never heard of would lock us out for its minute
      if (!this.session.id) await this.lane.push('write', 'logon', (s) => this.session.logon(s));
    } catch (e) {
      if (e instanceof Canceled || this.closed) return;
      if (!this.session.fault) this.log.debug({ err: asError(e).message }, 'session upkeep failed');
    }
    if (this.session.fault !== before) {
      if (this.session.fault) this.log.warn({ fault: this.session.fault }, 'miner session fault');
      else this.log.info({ logons: this.session.logons }, 'miner session held');
    }
  }

  // ---- polling ----

  private schedulePoll(): void {
    if (this.closed) return;
    const p = this.o.pollMs;
    const delay = this.failures === 0 ? p : Math.min(p * 2 ** this.failures, Math.max(p, this.tuning.backoffMaxMs));
    this.pollTimer = this.clock.setTimeout(() => {
      this.pollTimer = undefined;
      if (this.closed) return;
      void this.refresh().finally(() => this.schedulePoll());
    }, delay);
  }

  private async poll(): Promise<void> {
    try {
      if (!this.identity) await this.lane.push('read', 'version', (s) => this.readVersion(s));
      if (this.identityFault) { this.failures++; return; }
      // read again until it has worked, then on its schedule (also when the firmware has none to give)
      if (this.polls++ % this.tuning.profilesEveryPolls === 0 || (this.scale.profiles.length === 0 && !this.profilesNote)) await this.readProfiles();
      const reply = await this.lane.push('read', 'poll', (s) => this.request(POLL_COMMAND, undefined, s));
      this.checkProgram(reply);
      if (this.identityFault) { this.failures++; return; }
      this.seen.absorb(parsePoll(reply));
      if (this.apiFault !== undefined) {
        this.log.info({ after: this.apiFault }, 'miner API answers again');
        if (this.apiUnreachable) this.counters.reconnects++;
      }
      this.apiFault = undefined;
      this.apiUnreachable = false;
      this.failures = 0;
    } catch (e) {
      // a stop took the line: not the miner's fault, the next poll reads again
      if (e instanceof Canceled || this.closed) return;
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
    if (!isLuxosReply(reply)) return this.notOurs(`its version reply names ${programOf(reply) ?? 'no LUXminer'}`);
    this.identityFault = undefined;
    this.identity = modelAndFirmware(reply);
    this.log.info(this.identity, 'miner identified');
  }

  /** the profile list; a firmware that will not give it leaves the scale on/off, which is no fault of the miner's */
  private async readProfiles(): Promise<void> {
    try {
      const reply = await this.lane.push('read', 'profiles', (s) => this.request('profiles', undefined, s));
      const all = parseProfiles(reply);
      if (all.length === 0) throw new Error('no usable profile in the reply');
      this.scale.update(all);
      this.profilesNote = undefined;
    } catch (e) {
      if (e instanceof Canceled || (isHashflexError(e) && (e.timeout || e.disconnected))) throw e;
      const note = `profiles: ${asError(e).message}; the scale stays ${this.scale.profiles.length ? 'as last listed' : 'on/off'}`;
      if (note !== this.profilesNote) this.log.warn({ note }, 'miner profiles unusable');
      this.profilesNote = note;
    }
  }

  /** every part of the poll says which program answered: another one means the host was reflashed */
  private checkProgram(reply: Record<string, unknown>): void {
    for (const c of POLL_COMMANDS) {
      const part = Array.isArray(reply[c]) ? (reply[c] as unknown[])[0] : undefined;
      const program = part && typeof part === 'object' ? programOf(part as Record<string, unknown>) : undefined;
      if (program !== undefined && !/luxminer/i.test(program)) {
        // identified again from its version before anything is sent, should it turn out LuxOS after all
        this.identity = undefined;
        return this.notOurs(`it now answers as "${program}"`);
      }
    }
  }

  private notOurs(why: string): void {
    const fault = `host is not running LuxOS (${why}): no commands will be sent`;
    if (fault !== this.identityFault) this.log.error({ why }, 'miner host runs other firmware: no commands will be sent');
    this.identityFault = fault;
  }

  /** one 4028 request, counted; an abort (a stop took the line) is Canceled, not a fault */
  private async request(command: string, parameter: string | undefined, signal: AbortSignal): Promise<Record<string, unknown>> {
    this.counters.requests++;
    try {
      const reply = await rpcCall(this.rpc, command, parameter, signal);
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
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

export function createLuxos(o: MinerOptions, clock: Clock): NetworkMiner {
  return new LuxosMiner(o, clock);
}
