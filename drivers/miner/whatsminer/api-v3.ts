import type { Clock } from '../../../agent/clock';
import type { LinkCounters } from '../../../agent/hardware';
import { v3Token } from './crypto';
import { both, counted, flag, MinerAuthError, num, refused, unexpected, type WhatsminerReading } from './reply';
import { v3Request, type V3Target } from './v3-frame';

/**
 * Whatsminer API v3 on TCP 4433 (firmware from 2024-11): length-prefixed JSON (v3-frame.ts).
 * Reads are {"cmd","param"}; every `set.*` also carries {"ts","account","token"} with the token
 * derived locally from the account's password and the miner's salt (crypto.ts v3Token). Replies
 * are {"code","when","msg","desc"}; code 0 is success, -1 command error, -2 invalid command,
 * -3 invalid JSON, -4 access denied (pyasic pyasic/rpc/btminer.py BTMinerAPICode).
 *
 * Nothing is fetched per command: the salt is read at start and held, so a stop is one request.
 * `ts` is the miner's clock, not ours: each reply's `when` (the miner's Unix seconds) keeps an
 * offset, so a board whose clock is off (no NTP on an isolated site LAN) still signs in time.
 */
export const V3_CODE = { ok: 0, error: -1, invalidCommand: -2, invalidJson: -3, denied: -4 } as const;

export interface SaltTuning {
  /** read the salt again after this long (ms): it changes only with the password, so rarely */
  refreshMs: number;
}

export class WhatsminerV3 {
  readonly version = 'v3' as const;
  private salt: string | undefined;
  private saltAt = -Infinity;
  /** miner time minus our time (s), from the last reply's `when` */
  private offsetS = 0;
  /** a set.* has been accepted with the held salt and password */
  verified = false;

  constructor(
    private readonly target: V3Target,
    private readonly account: string,
    private readonly password: string,
    private readonly clock: Clock,
    private readonly counters: LinkCounters,
    private readonly tuning: SaltTuning = { refreshMs: 20 * 60_000 },
  ) {}

  /** A read; resolves with `msg` when code is 0. */
  async get(cmd: string, param?: unknown): Promise<Record<string, unknown>> {
    const reply = await this.send(param === undefined ? { cmd } : { cmd, param }, cmd);
    if (reply.code !== V3_CODE.ok) throw refused(cmd, String(reply.code), String(reply.msg ?? ''), this.counters);
    const msg = reply.msg;
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) throw unexpected(cmd, 'msg is not an object');
    return msg as Record<string, unknown>;
  }

  /** device info: the firmware version and model, for identification */
  async deviceInfo(): Promise<{ fw: string; model: string }> {
    const m = await this.get('get.device.info');
    const system = (m.system ?? {}) as Record<string, unknown>;
    const miner = (m.miner ?? {}) as Record<string, unknown>;
    if (typeof system.fwversion !== 'string') throw unexpected('get.device.info', 'no system.fwversion');
    return { fw: system.fwversion, model: typeof miner.type === 'string' ? miner.type : '' };
  }

  async poll(): Promise<WhatsminerReading> {
    const [status, info] = await both(this.get('get.miner.status', 'summary'), this.get('get.device.info', 'miner'));
    const s = status.summary;
    if (!s || typeof s !== 'object') throw unexpected('get.miner.status', 'no summary');
    const sum = s as Record<string, unknown>;
    const miner = (info.miner ?? info) as Record<string, unknown>;
    const working = flag(miner.working);
    const watts = num(sum['power-realtime']);
    const limit = num(sum['power-limit']);
    const chipMax = num(sum['chip-temp-max']);
    return {
      kw: watts >= 0 ? watts / 1000 : NaN,
      ths: Math.max(0, num(sum['hash-realtime']) || 0),
      tempC: chipMax,
      off: working === undefined ? undefined : !working,
      limitKw: limit > 0 ? limit / 1000 : undefined,
    };
  }

  get credentialsDue(): boolean {
    return this.salt === undefined || !this.verified || this.clock.monotonic() - this.saltAt >= this.tuning.refreshMs;
  }

  /**
   * Read the salt; the first time (and whenever it changed) prove the password with the one
   * write that changes nothing a site cares about: the LED back to automatic (`set.system.led`
   * "auto"). The v3 API has no authenticated read to prove it with.
   */
  async refresh(): Promise<void> {
    const before = this.salt;
    await this.fetchSalt();
    if (!this.verified || before !== this.salt) {
      this.verified = false;
      await this.set('set.system.led', 'auto');
    }
  }

  /** A `set.*` with a token; if refused as access denied, the salt once more and one retry (the password may have been changed and back). */
  async set(cmd: string, param?: unknown): Promise<void> {
    if (this.salt === undefined) await this.fetchSalt();
    let reply = await this.send(this.signed(cmd, param), cmd);
    if (reply.code === V3_CODE.denied) {
      this.counters.exceptions++;
      await this.fetchSalt();
      reply = await this.send(this.signed(cmd, param), cmd);
      if (reply.code === V3_CODE.denied) {
        this.counters.exceptions++;
        this.verified = false;
        throw new MinerAuthError(`${cmd} refused: ${String(reply.msg ?? 'access denied')} (code -4): wrong account or password?`);
      }
    }
    if (reply.code !== V3_CODE.ok) throw refused(cmd, String(reply.code), String(reply.msg ?? ''), this.counters);
    this.verified = true;
  }

  powerOff(): Promise<void> {
    return this.set('set.miner.service', 'stop');
  }

  powerOn(): Promise<void> {
    return this.set('set.miner.service', 'start');
  }

  /** the percent as a string: the firmware reads it as cJSON valuestring, though its document says number */
  setPercent(p: number): Promise<void> {
    return this.set('set.miner.power_percent', { percent: String(p), mode: 'normal' });
  }

  private signed(cmd: string, param: unknown): Record<string, unknown> {
    const ts = Math.floor(this.clock.now() / 1000) + this.offsetS;
    const req: Record<string, unknown> = { cmd, ts, account: this.account, token: v3Token(cmd, this.password, this.salt!, ts) };
    if (param !== undefined) req.param = param;
    return req;
  }

  private async fetchSalt(): Promise<void> {
    const m = await this.get('get.device.info', 'salt');
    const salt = m.salt;
    if (typeof salt !== 'string' || salt === '') throw unexpected('get.device.info salt', 'no salt');
    this.salt = salt;
    this.saltAt = this.clock.monotonic();
  }

  private async send(request: Record<string, unknown>, what: string): Promise<Record<string, unknown>> {
    const reply = await counted(this.counters, v3Request(this.target, request));
    if (typeof reply.code !== 'number') throw unexpected(what, 'no code');
    const when = num(reply.when);
    if (Number.isFinite(when) && when > 1e9) this.offsetS = Math.round(when - this.clock.now() / 1000);
    return reply;
  }
}
