import type { Clock, Timer } from '../../../agent/clock';
import { ErrorCode, HashflexError, isHashflexError } from '../../../agent/errors';
import { newCounters, type MinerSettings, type MinerState, type MinerStatus, type NetworkMiner } from '../../../agent/hardware';
import { logger } from '../../../agent/log';
import type { MinerOptions } from '../options';
import { TOKEN_TUNING, WhatsminerV2, type TokenTuning } from './api-v2';
import { WhatsminerV3 } from './api-v3';
import { apiForFirmware, cleanFirmware, normaliseModel } from './identify';
import { MinerAuthError, type WhatsminerReading } from './reply';

/**
 * A MicroBT Whatsminer (M30/M50/M60 class, stock firmware) behind the NetworkMiner seam.
 *
 * start() asks 4028 `get_version` and 4433 `get.device.info` at once and picks the API by the
 * firmware's date (identify.ts), then fetches and proves the write credentials (a v2 token, the
 * v3 salt) and polls. From then on the credentials are renewed ahead of time from the poll
 * timer, so stop() is one request with everything in hand: on v2 one encrypted `power_off`, on
 * v3 one signed `set.miner.service stop`. Nothing is sent to a host that did not identify as a
 * Whatsminer.
 *
 * Scale: power percent (`set_power_pct` / `set.miner.power_percent`, 0..100 in the API
 * documents), offered as 10..100 in steps of 5; 0 is sleep (power_off). kW at a setting is
 * linear from the miner's power limit (its full-power draw, read from the summary) or rated_kw.
 */
export interface WhatsminerTuning extends TokenTuning {
  /** longest wait between polls while the miner does not answer (ms) */
  backoffMaxMs: number;
  /** longest wait before fetching credentials again after a failure (ms) */
  credentialBackoffMaxMs: number;
}

export const WHATSMINER_TUNING: WhatsminerTuning = { ...TOKEN_TUNING, backoffMaxMs: 30_000, credentialBackoffMaxMs: 5 * 60_000 };

/** ports of the stock firmware: API v2 (and v2 reads on v3 firmware), API v3 */
export const WHATSMINER_PORTS = { api: 4028, v3: 4433 } as const;
const DEFAULT_PASSWORD = { v2: 'admin', v3: 'super' } as const;
const DEFAULT_ACCOUNT = 'super';
/** an M30S++ / M50 at its normal power (kW), until the miner reports its limit */
const DEFAULT_RATED_KW = 3.4;
/** the control board and fans with hashboards off (kW) */
const STANDBY_KW = 0.03;

type Api = WhatsminerV2 | WhatsminerV3;

export class WhatsminerMiner implements NetworkMiner {
  readonly driver = 'whatsminer';
  readonly id: string;
  readonly settings: MinerSettings;
  /** what start() found: model, firmware and the API in use */
  identity: { model: string; firmware: string; api: 'v2' | 'v3' } | undefined;

  private readonly log;
  private readonly counters = newCounters();
  private readonly tuning: WhatsminerTuning;
  private api: Api | undefined;
  private ratedKw: number;
  /** the percent in force as far as the API has accepted it (0 asleep) */
  private pct = 100;
  private last: Omit<MinerStatus, 'id' | 'counters' | 'fault'> = { on: false, kw: 0, kwMeasured: false, ths: NaN, tempC: NaN, state: 'unknown', setting: 0 };
  private pollFault: string | undefined;
  private credFault: string | undefined;
  private reportedFault: string | undefined;
  private fails = 0;
  private credFails = 0;
  private credRetryAt = -Infinity;
  private timer: Timer | undefined;
  private cycling: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly o: MinerOptions, private readonly clock: Clock, tuning: Partial<WhatsminerTuning> = {}) {
    this.id = o.id;
    this.tuning = { ...WHATSMINER_TUNING, ...tuning };
    this.ratedKw = o.ratedKw ?? DEFAULT_RATED_KW;
    this.log = logger('miner').child({ miner: o.id, host: o.host, driver: 'whatsminer' });
    this.settings = {
      min: 10,
      max: 100,
      step: 5,
      unit: 'percent',
      kwAt: (s: number) => (s <= 0 ? STANDBY_KW : STANDBY_KW + ((this.ratedKw - STANDBY_KW) * Math.min(s, 100)) / 100),
    };
  }

  async start(): Promise<void> {
    this.closed = false;
    await this.runCycle(true);
    this.schedule();
  }

  async stop(): Promise<void> {
    const api = this.requireApi('stop');
    try {
      await api.powerOff();
    } catch (e) {
      throw this.wrap('stop', e);
    }
    this.pct = 0;
    this.last = { ...this.last, on: false, state: 'stopping', setting: 0 };
    this.log.debug({ api: api.version }, 'stop accepted');
  }

  async set(setting: number): Promise<void> {
    if (!(setting > 0)) return this.stop();
    const p = this.clampSetting(setting);
    const api = this.requireApi('set');
    const asleep = this.pct === 0 || this.last.state === 'sleeping' || this.last.state === 'stopping';
    try {
      if (asleep) await api.powerOn();
      await api.setPercent(p);
    } catch (e) {
      throw this.wrap(`set ${p}%`, e);
    }
    this.pct = p;
    this.last = { ...this.last, on: true, state: asleep ? 'waking' : this.last.state, setting: p };
  }

  status(): MinerStatus {
    return { id: this.id, ...this.last, fault: this.pollFault ?? this.credFault, counters: { ...this.counters } };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    await this.idle();
  }

  /** resolves when no poll or credential fetch is in flight (tests on a virtual clock wait on it) */
  async idle(): Promise<void> {
    while (this.cycling || this.refreshing) {
      await Promise.allSettled([this.cycling, this.refreshing]);
    }
  }

  // --- the poll cycle -------------------------------------------------------------------------

  private schedule(): void {
    if (this.closed) return;
    // after failures: 2, 4, 8 ... poll periods, at most backoffMaxMs (never less than one period)
    const delay = this.fails === 0 ? this.o.pollMs : Math.min(this.o.pollMs * 2 ** this.fails, Math.max(this.o.pollMs, this.tuning.backoffMaxMs));
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.runCycle(false).then(() => this.schedule());
    }, delay);
  }

  private runCycle(first: boolean): Promise<void> {
    const p = this.cycle(first).finally(() => { if (this.cycling === p) this.cycling = undefined; });
    this.cycling = p;
    return p;
  }

  /** identify if needed, renew credentials when due, read status; never rejects */
  private async cycle(first: boolean): Promise<void> {
    try {
      if (!this.api) await this.identifyApi();
      const api = this.api!;
      if (api.credentialsDue && !this.refreshing && this.clock.monotonic() >= this.credRetryAt) {
        const r = this.refreshCredentials(api);
        // at start the credentials are in hand before start() resolves; later they renew beside the polls
        if (first) await r;
      }
      const reading = await api.poll();
      this.apply(reading);
      if (this.pollFault) this.counters.reconnects++;
      this.fails = 0;
      this.pollFault = undefined;
    } catch (e) {
      this.fails++;
      this.pollFault = this.describe(e);
      const unreachable = isHashflexError(e) && (e.disconnected || e.timeout);
      this.last = { ...this.last, kwMeasured: false, state: unreachable ? 'unreachable' : 'unknown' };
    }
    this.reportFault();
  }

  private refreshCredentials(api: Api): Promise<void> {
    const p = api
      .refresh()
      .then(() => {
        this.credFails = 0;
        this.credRetryAt = -Infinity;
        this.credFault = undefined;
        this.log.debug({ api: api.version }, 'write credentials renewed');
      })
      .catch((e: unknown) => {
        this.credFails++;
        const auth = e instanceof MinerAuthError;
        const wait = auth ? this.tuning.credentialBackoffMaxMs : Math.min(5_000 * 2 ** (this.credFails - 1), this.tuning.credentialBackoffMaxMs);
        this.credRetryAt = this.clock.monotonic() + wait;
        // the miner can still be stopped while the held credentials last; after that it is a fault
        const stillHeld = api instanceof WhatsminerV2 ? api.tokenValid : api.verified;
        this.credFault = auth ? `credentials refused: ${(e as Error).message}` : stillHeld ? undefined : `no write credentials: ${this.describe(e)}`;
      })
      .finally(() => {
        if (this.refreshing === p) this.refreshing = undefined;
        this.reportFault();
      });
    this.refreshing = p;
    return p;
  }

  private async identifyApi(): Promise<void> {
    const host = this.o.host;
    const timeoutMs = this.o.timeoutMs;
    const apiPort = this.o.ports.api ?? WHATSMINER_PORTS.api;
    const v3Port = this.o.ports.v3 ?? WHATSMINER_PORTS.v3;
    const v2 = new WhatsminerV2({ host, port: apiPort, timeoutMs }, this.o.password ?? DEFAULT_PASSWORD.v2, this.clock, this.counters, this.tuning);
    const v3 = new WhatsminerV3(
      { host, port: v3Port, timeoutMs },
      this.o.username ?? DEFAULT_ACCOUNT,
      this.o.password ?? DEFAULT_PASSWORD.v3,
      this.clock,
      this.counters,
      { refreshMs: this.tuning.refreshMs },
    );
    const [byV2, byV3] = await Promise.allSettled([v2.getVersion(), v3.deviceInfo()]);
    let api: Api;
    let fw: string;
    let model = '';
    if (byV2.status === 'fulfilled' && apiForFirmware(byV2.value.fw) === 'v2') {
      api = v2;
      fw = byV2.value.fw;
      model = await v2.read('devdetails').then(modelFromDevdetails, () => '');
    } else if (byV3.status === 'fulfilled') {
      api = v3;
      fw = byV3.value.fw;
      model = byV3.value.model ? normaliseModel(byV3.value.model) : '';
    } else {
      const r2 = byV2.status === 'rejected' ? (byV2.reason as Error) : new Error(`firmware ${byV2.value.fw} speaks API v3, and 4433 does not answer`);
      const r3 = byV3.status === 'rejected' ? (byV3.reason as Error) : undefined;
      const code = isHashflexError(r2) ? r2.code : ErrorCode.DeviceUnresponsive;
      const flags = isHashflexError(r2) && isHashflexError(r3) ? { disconnected: r2.disconnected && r3.disconnected, timeout: r2.timeout || r3.timeout } : {};
      throw new HashflexError(`no Whatsminer API at ${host}: ${apiPort}: ${r2.message}; ${v3Port}: ${r3?.message ?? 'not tried'}`, code, flags);
    }
    this.api = api;
    this.identity = { model: model || 'unknown', firmware: cleanFirmware(fw), api: api.version };
    this.log.info({ model: this.identity.model, firmware: this.identity.firmware, api: api.version }, 'whatsminer identified');
  }

  private apply(r: WhatsminerReading): void {
    if (r.limitKw !== undefined && this.o.ratedKw === undefined) this.ratedKw = r.limitKw;
    const measured = Number.isFinite(r.kw);
    const kw = measured ? r.kw : this.settings.kwAt(this.pct);
    let state: MinerState;
    if (r.off === true) state = kw > STANDBY_KW + 0.1 * this.ratedKw ? 'stopping' : 'sleeping';
    else if (r.off === false) state = r.ths > 0 ? 'hashing' : 'waking';
    else state = r.ths > 0 ? 'hashing' : kw < 0.1 * this.ratedKw ? 'sleeping' : 'unknown';
    const on = state === 'hashing' || state === 'waking';
    if (!on) this.pct = 0;
    else if (this.pct === 0) this.pct = this.settings.max;
    this.last = { on, kw, kwMeasured: measured, ths: r.ths, tempC: r.tempC, state, setting: on ? this.pct : 0 };
  }

  // --- helpers --------------------------------------------------------------------------------

  private clampSetting(s: number): number {
    const { min, max, step } = this.settings;
    return Math.min(max, Math.max(min, Math.round(s / step) * step));
  }

  private requireApi(what: string): Api {
    if (this.closed) throw new HashflexError(`miner ${this.id}: ${what}: driver closed`, ErrorCode.DeviceUnresponsive);
    if (!this.api) {
      throw new HashflexError(
        `miner ${this.id}: ${what} not sent: ${this.o.host} has not identified as a Whatsminer (${this.pollFault ?? 'not started'})`,
        ErrorCode.DeviceUnresponsive,
      );
    }
    return this.api;
  }

  private wrap(what: string, e: unknown): HashflexError {
    const msg = `miner ${this.id} (${this.o.host}): ${what}: ${(e as Error)?.message ?? String(e)}`;
    if (e instanceof MinerAuthError) return new MinerAuthError(msg);
    if (isHashflexError(e)) return new HashflexError(msg, e.code, { disconnected: e.disconnected, timeout: e.timeout }, { cause: e });
    return new HashflexError(msg, ErrorCode.DeviceFault, {}, { cause: e });
  }

  private describe(e: unknown): string {
    return (e as Error)?.message ?? String(e);
  }

  /** one log line per change of fault, never per failed poll */
  private reportFault(): void {
    const f = this.pollFault ?? this.credFault;
    if (f === this.reportedFault) return;
    if (f) this.log.warn({ fault: f }, 'miner fault');
    else this.log.info('miner answering again');
    this.reportedFault = f;
  }
}

function modelFromDevdetails(reply: Record<string, unknown>): string {
  const rows = reply.DEVDETAILS;
  const raw = Array.isArray(rows) ? (rows[0] as Record<string, unknown> | undefined)?.Model : undefined;
  return typeof raw === 'string' ? normaliseModel(raw) : '';
}

export function createWhatsminer(o: MinerOptions, clock: Clock): NetworkMiner {
  return new WhatsminerMiner(o, clock);
}
