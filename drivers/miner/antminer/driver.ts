import type { Clock, Timer } from '../../../agent/clock';
import { ErrorCode, HashflexError, isHashflexError } from '../../../agent/errors';
import { newCounters, type LinkCounters, type MinerSettings, type MinerState, type MinerStatus, type NetworkMiner } from '../../../agent/hardware';
import { logger, type Logger } from '../../../agent/log';
import type { MinerOptions } from '../options';
import { rpcCall, type RpcTarget } from '../rpc';
import { parseStats, parseSummary, parseVersion, statusError, type StatsInfo, type SummaryInfo, type VersionInfo } from './api';
import { confBody, MODE_OF_SETTING, modeOf, parseConf, SETTING_OF_MODE, setAccepted, withMode, WorkMode, type MinerConf } from './conf';
import { estimateKw, kwOfMode, LOW_POWER_SHARE, ratedKwOf, STANDBY_KW } from './power';
import { AuthRefused, CgiClient } from './web';

export { identify, type MinerEvidence, type MinerIdentity } from './identify';

/**
 * Stock Bitmain Antminer firmware (S19 / S21 class): reads over the cgminer-style API on 4028
 * (`version` once, `summary` and `stats` each poll), controls over the web CGI on 80 with HTTP
 * Digest auth: a read-modify-write of the whole miner config with `miner-mode` changed
 * (0 normal, 1 sleep, 3 low power; drivers/miner/antminer/conf.ts has the sources).
 *
 * The trip path is one POST. The driver holds, ahead of time:
 *  - the whole config as read last (get_miner_conf every CONF_EVERY_POLLS polls, 30 s at the
 *    default 5 s poll, and after every write), so a stop needs no read first;
 *  - the Digest challenge of the last exchange (nonce, realm, next nc), so the POST signs
 *    itself; the same conf reads keep it fresh and learn when the firmware lets nonces expire.
 * Only a miner whose config was never read (down since start) costs a GET before the POST.
 *
 * A write is confirmed, off the trip path: the config is read back CONFIRM_MS later. Firmware
 * that answered "M000" and ignored the mode gets the write once more with `miner-mode` as a
 * string (pyasic's antminer_mining_mode_as_str); still ignored, it is a fault in status().
 * Stock firmware restarts its miner program after set_miner_conf, so the 4028 API may refuse for
 * a few seconds: within RESTART_GRACE_MS of an accepted write that is the change, not a fault.
 */
const log = logger('miner');

export const CONF_EVERY_POLLS = 6;
export const CONFIRM_MS = 3000;
export const RESTART_GRACE_MS = 30_000;
/** below this share of the hashrate expected at its mode a running miner is still waking */
const WAKING_SHARE = 0.5;

export interface AntminerTuning {
  confEveryPolls: number;
  confirmMs: number;
  restartGraceMs: number;
}

export class AntminerMiner implements NetworkMiner {
  readonly driver = 'antminer';
  readonly id: string;
  readonly settings: MinerSettings;
  private readonly counters: LinkCounters = newCounters();
  private readonly rpc: RpcTarget;
  private readonly web: CgiClient;
  private readonly log: Logger;
  private readonly tuning: AntminerTuning;
  private ratedKw: number;

  private version?: VersionInfo;
  private summary?: SummaryInfo;
  private stats?: StatsInfo;
  /** the whole config as read or written last: what the next write sends back */
  private conf?: MinerConf;
  /** the work mode as read or written last */
  private mode?: WorkMode;
  /** a write accepted but not yet read back */
  private pending?: { mode: WorkMode; resent: boolean; overlapped: boolean };
  private modeAsString = false;
  /** bumped by every write: a config read begun before it is older than what it wrote */
  private writeGen = 0;
  private writesInFlight = 0;
  private graceUntil = -Infinity;
  /** the last estimate from fresh API data (kW) */
  private lastKw?: number;

  private rpcFault?: string;
  private rpcUnreachable = false;
  private webFault?: string;
  private identityFault?: string;
  private confirmFault?: string;
  private unknownModeSaid = false;
  private realmSaid = false;

  private polls = 0;
  private failures = 0;
  private timer?: Timer;
  private confirmTimer?: Timer;
  private polling?: Promise<void>;
  private closed = false;

  constructor(private readonly o: MinerOptions, private readonly clock: Clock, tuning: Partial<AntminerTuning> = {}) {
    this.id = o.id;
    this.tuning = { confEveryPolls: CONF_EVERY_POLLS, confirmMs: Math.min(CONFIRM_MS, o.pollMs), restartGraceMs: RESTART_GRACE_MS, ...tuning };
    this.ratedKw = ratedKwOf(undefined, o.ratedKw);
    this.rpc = { host: o.host, port: o.ports.api ?? 4028, timeoutMs: o.timeoutMs };
    this.web = new CgiClient(
      { host: o.host, port: o.ports.web ?? 80, timeoutMs: o.timeoutMs, username: o.username ?? 'root', password: o.password ?? 'root' },
      this.counters,
      () => clock.monotonic(),
    );
    this.log = log.child({ miner: o.id, driver: 'antminer', host: o.host });
    // 0 sleep, 1 low power, 2 normal: the stock firmware's three work modes in power order
    this.settings = {
      min: 1,
      max: 2,
      step: 1,
      unit: 'mode',
      kwAt: (setting: number) => (setting <= 0 ? STANDBY_KW : setting < 2 ? this.ratedKw * LOW_POWER_SHARE : this.ratedKw),
    };
  }

  async start(): Promise<void> {
    this.closed = false;
    await this.refresh();
    this.schedule();
  }

  /** one poll now (after any in flight): the doctor and tests use it */
  async refresh(): Promise<void> {
    while (this.polling) await this.polling;
    this.polling = this.poll().finally(() => { this.polling = undefined; });
    await this.polling;
  }

  stop(): Promise<void> {
    return this.write(WorkMode.Sleep, 'stop');
  }

  set(setting: number): Promise<void> {
    const mode = Number.isInteger(setting) ? MODE_OF_SETTING[setting] : undefined;
    if (mode === undefined) return Promise.reject(new HashflexError(`miner ${this.id}: setting ${setting} is not on the scale 0 (sleep), 1 (low power), 2 (normal)`, ErrorCode.UsageInvalid));
    return this.write(mode, `set ${setting}`);
  }

  status(): MinerStatus {
    const now = this.clock.monotonic();
    const inGrace = now < this.graceUntil;
    const rpcDown = this.rpcFault !== undefined;
    const fault = this.identityFault ?? (rpcDown && !inGrace ? this.rpcFault : undefined) ?? this.webFault ?? this.confirmFault;
    const mode = this.mode;
    const ths = rpcDown ? NaN : this.summary?.ths ?? NaN;
    const ideal = this.stats?.idealThs ?? NaN;
    let state: MinerState;
    let kw: number;
    if (rpcDown && !inGrace) {
      state = this.rpcUnreachable ? 'unreachable' : 'unknown';
      kw = kwOfMode(mode ?? WorkMode.Normal, this.ratedKw);
    } else if (rpcDown) {
      // the firmware restarting its miner program after our write
      state = mode === WorkMode.Sleep ? 'stopping' : 'waking';
      kw = mode === WorkMode.Sleep ? this.lastKw ?? this.ratedKw : kwOfMode(mode ?? WorkMode.Normal, this.ratedKw);
    } else {
      state = stateOf(mode, ths, ideal);
      kw = estimateKw(mode ?? WorkMode.Normal, this.ratedKw, ths, ideal);
    }
    return {
      id: this.id,
      on: mode === undefined ? ths > 0 : mode !== WorkMode.Sleep,
      kw,
      kwMeasured: false,
      ths,
      tempC: rpcDown ? NaN : this.stats?.tempC ?? NaN,
      state,
      setting: mode === undefined ? (ths > 0 ? 2 : 0) : SETTING_OF_MODE[mode],
      fault,
      counters: { ...this.counters },
    };
  }

  /** what the doctor shows beside status() */
  details(): { model?: string; firmware?: string; realm?: string; ratedKw: number; fans: number[]; confHeld: boolean; challengeHeld: boolean; modeAsString: boolean } {
    return {
      model: this.version?.model,
      firmware: this.version?.firmware,
      realm: this.web.realm,
      ratedKw: this.ratedKw,
      fans: this.stats?.fans ?? [],
      confHeld: this.conf !== undefined,
      challengeHeld: this.web.ready,
      modeAsString: this.modeAsString,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.confirmTimer?.cancel();
    this.timer = undefined;
    this.confirmTimer = undefined;
    // every request in flight ends by its own timeout at the latest
    await this.polling?.catch(() => {});
  }

  // ---- the trip path and other writes ----

  private async write(mode: WorkMode, what: string): Promise<void> {
    if (this.closed) throw new HashflexError(`miner ${this.id}: closed`, ErrorCode.DeviceUnresponsive);
    // a host that told us it runs something else gets nothing from this driver
    if (this.identityFault) throw new HashflexError(`miner ${this.id}: ${what} not sent: ${this.identityFault}`, ErrorCode.DeviceFault);
    const gen = ++this.writeGen;
    const overlapped = this.writesInFlight > 0;
    this.writesInFlight++;
    try {
      let conf = this.conf;
      if (!conf) {
        // never read since start (the miner was down): the one case that reads before it writes
        conf = parseConf(await this.web.get('get_miner_conf'));
        this.conf = conf;
      }
      const accepted = setAccepted(await this.web.post('set_miner_conf', confBody(conf, mode, this.modeAsString)));
      if (!accepted.ok) throw new HashflexError(accepted.why, ErrorCode.DeviceFault);
      if (gen === this.writeGen) {
        this.conf = withMode(conf, mode);
        this.mode = mode;
        this.pending = { mode, resent: false, overlapped: overlapped || this.writesInFlight > 1 };
        this.confirmFault = undefined;
        this.scheduleConfirm();
      }
      this.webFault = undefined;
      this.graceUntil = this.clock.monotonic() + this.tuning.restartGraceMs;
      this.log.debug({ what, mode }, 'miner took the work mode');
    } catch (e) {
      const err = asError(e);
      if (err instanceof AuthRefused) this.webFault = `web: ${err.message}`;
      this.log.warn({ what, mode, err: err.message }, 'miner did not take the work mode');
      throw new HashflexError(`miner ${this.id}: ${what} not accepted: ${err.message}`, isHashflexError(err) ? err.code : ErrorCode.DeviceFault, { disconnected: isHashflexError(err) && err.disconnected, timeout: isHashflexError(err) && err.timeout }, { cause: err });
    } finally {
      this.writesInFlight--;
    }
  }

  private scheduleConfirm(): void {
    this.confirmTimer?.cancel();
    this.confirmTimer = this.clock.setTimeout(() => {
      this.confirmTimer = undefined;
      if (!this.closed) void this.readConf();
    }, this.tuning.confirmMs);
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
    this.polls++;
    const needConf = !this.conf || this.pending !== undefined || this.polls % this.tuning.confEveryPolls === 0 || this.web.nonceDue();
    await Promise.all([this.readApi(), needConf ? this.readConf() : undefined]);
    // back off while the miner does not answer; refused credentials do not slow the readings
    this.failures = this.rpcFault !== undefined ? this.failures + 1 : 0;
  }

  private async readApi(): Promise<void> {
    try {
      if (!this.version) await this.readVersion();
      if (this.identityFault) return;
      const summary = parseSummary(await this.call('summary'));
      const stats = parseStats(await this.call('stats'));
      this.summary = summary;
      this.stats = stats;
      this.lastKw = estimateKw(this.mode ?? WorkMode.Normal, this.ratedKw, summary.ths, stats.idealThs);
      if (this.rpcFault !== undefined) {
        this.log.info({ after: this.rpcFault }, 'miner API answers again');
        if (this.rpcUnreachable) this.counters.reconnects++;
      }
      this.rpcFault = undefined;
      this.rpcUnreachable = false;
    } catch (e) {
      const err = asError(e);
      const fault = `api: ${err.message}`;
      const unreachable = isHashflexError(err) && (err.disconnected || err.timeout) && err.code !== ErrorCode.TransportClosed;
      if (fault !== this.rpcFault && this.clock.monotonic() >= this.graceUntil) this.log.warn({ fault }, 'miner API fault');
      this.rpcFault = fault;
      this.rpcUnreachable = unreachable;
    }
  }

  private async readVersion(): Promise<void> {
    const v = parseVersion(await this.call('version'));
    const other = ['BOSMINER', 'BOSER', 'LUXMINER', 'VNISH', 'HIVEON', 'KAONSU', 'BTMINER', 'BITMICRO', 'AVALON'].find((n) => v.text.includes(n));
    if (other || !v.text.includes('ANTMINER')) {
      const fault = `host is not stock Antminer firmware (version says ${JSON.stringify(v.type || other || 'nothing known')})`;
      if (fault !== this.identityFault) this.log.error({ type: v.type, other }, 'miner host runs other firmware: no commands will be sent');
      this.identityFault = fault;
      return;
    }
    this.identityFault = undefined;
    this.version = v;
    this.ratedKw = ratedKwOf(v.model, this.o.ratedKw);
    this.log.info({ model: v.model, firmware: v.firmware, ratedKw: this.ratedKw }, 'miner identified');
  }

  /** one 4028 request, counted; a reply whose STATUS is an error is a fault */
  private async call(command: string): Promise<Record<string, unknown>> {
    this.counters.requests++;
    try {
      const reply = await rpcCall(this.rpc, command);
      const bad = statusError(reply);
      if (bad) throw new HashflexError(`${command}: ${bad}`, ErrorCode.DeviceFault);
      this.counters.frames++;
      return reply;
    } catch (e) {
      if (isHashflexError(e) && e.timeout) this.counters.timeouts++;
      else this.counters.exceptions++;
      if (isHashflexError(e)) throw e;
      throw new HashflexError(`${command}: ${asError(e).message}`, ErrorCode.FrameInvalid, {}, { cause: e });
    }
  }

  private async readConf(): Promise<void> {
    const gen = this.writeGen;
    let conf: MinerConf;
    try {
      conf = parseConf(await this.web.get('get_miner_conf'));
    } catch (e) {
      const fault = `web: ${asError(e).message}`;
      if (fault !== this.webFault) this.log.warn({ fault }, 'miner web CGI fault');
      this.webFault = fault;
      return;
    }
    if (this.webFault !== undefined) this.log.info({ after: this.webFault }, 'miner web CGI answers again');
    this.webFault = undefined;
    if (this.web.realm && this.web.realm !== 'antMiner Configuration' && !this.realmSaid) {
      this.realmSaid = true;
      this.log.warn({ realm: this.web.realm }, 'miner web realm is not the stock firmware\'s');
    }
    // a write went out while this read was on its way: what it wrote is newer than this
    if (gen !== this.writeGen) return;
    this.conf = conf;
    const got = modeOf(conf);
    if (got === undefined && !this.unknownModeSaid) {
      this.unknownModeSaid = true;
      this.log.warn({ mode: conf['bitmain-work-mode'] }, 'miner reports a work mode this driver does not know; taken as normal');
    }
    const seen = got ?? WorkMode.Normal;
    const p = this.pending;
    if (!p || seen === p.mode) {
      this.pending = undefined;
      this.mode = seen;
      return;
    }
    if (!p.resent) {
      // "M000" and the mode unchanged: a firmware that wants miner-mode the other way, or two
      // writes that crossed on the way; send the wanted mode once more
      p.resent = true;
      if (!p.overlapped) this.modeAsString = !this.modeAsString;
      this.log.warn({ wanted: p.mode, reads: seen, modeAsString: this.modeAsString }, 'miner accepted the work mode but did not apply it: sending it again');
      try {
        const accepted = setAccepted(await this.web.post('set_miner_conf', confBody(conf, p.mode, this.modeAsString)));
        if (!accepted.ok) throw new Error(accepted.why);
        if (gen === this.writeGen) {
          this.conf = withMode(conf, p.mode);
          this.scheduleConfirm();
        }
      } catch (e) {
        this.confirmFault = `mode ${p.mode} not applied: ${asError(e).message}`;
      }
      return;
    }
    this.pending = undefined;
    this.mode = seen;
    this.confirmFault = `miner accepted work mode ${p.mode} but still reports ${String(conf['bitmain-work-mode'])}`;
    this.log.error({ wanted: p.mode, reads: seen }, 'miner does not apply the work mode');
  }
}

function stateOf(mode: WorkMode | undefined, ths: number, idealThs: number): MinerState {
  const known = Number.isFinite(ths);
  if (mode === WorkMode.Sleep) return known && ths > 0 ? 'stopping' : 'sleeping';
  if (!known) return mode === undefined ? 'unknown' : 'waking';
  if (mode === undefined) return ths > 0 ? 'hashing' : 'unknown';
  const expected = Number.isFinite(idealThs) ? idealThs * (mode === WorkMode.LowPower ? LOW_POWER_SHARE : 1) : 0;
  return ths > 0 && ths >= expected * WAKING_SHARE ? 'hashing' : 'waking';
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

export function createAntminer(o: MinerOptions, clock: Clock): NetworkMiner {
  return new AntminerMiner(o, clock);
}
