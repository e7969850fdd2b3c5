import type { Clock } from '../../../agent/clock';
import type { LinkCounters } from '../../../agent/hardware';
import { ErrorCode, HashflexError } from '../../../agent/errors';
import { parseRpcReply, rpcText, type RpcTarget } from '../rpc';
import { aesEcbDecrypt, v2Credentials, v2EncryptRequest, type V2Credentials, type V2TokenMsg } from './crypto';
import { both, counted, flag, MinerAuthError, num, refused, unexpected, v2Status, type WhatsminerReading } from './reply';

/**
 * Whatsminer API v2 on TCP 4028 (firmware before 2024-11): cgminer-style JSON, one request per
 * connection. Reads are plain; writes are encrypted with a token from `get_token` (crypto.ts).
 *
 * Message codes (Whatsminer API v2 document): 14 invalid command, 23 invalid JSON, 45 permission
 * denied, 131 command OK, 132 command error, 134 token message OK, 135 check token error,
 * 136 token over max times. The document's limits: a token lives 30 minutes, one client address
 * can hold 32 tokens, at most 16 client addresses.
 *
 * Tokens are fetched ahead of time and kept: `refresh()` runs from the driver's timer before the
 * held one ages out, so a write (the trip path) is one encrypted request with the token in hand.
 */
export const V2_CODE = { ok: 131, tokenOk: 134, tokenRefused: 135, tokenBudget: 136 } as const;

export interface TokenTuning {
  /** a token's life on the firmware (ms): 30 min per the API v2 document */
  tokenLifeMs: number;
  /** fetch the next token once the held one is this old (ms) */
  refreshMs: number;
  /** a held token this close to its end counts as expired (ms): clock drift, a request in flight */
  expiryMarginMs: number;
}

export const TOKEN_TUNING: TokenTuning = { tokenLifeMs: 30 * 60_000, refreshMs: 20 * 60_000, expiryMarginMs: 60_000 };

interface HeldToken {
  cred: V2Credentials;
  /** clock.monotonic() when get_token answered */
  at: number;
  /**
   * Write requests already encrypted under this token, by command (AES-ECB has no IV: the same
   * command and token give the same text), so the trip path's power_off is encrypted once per token.
   */
  sealed: Map<string, string>;
}

const POWER_OFF = ['power_off', { respbefore: 'true' }] as const;

/** the encrypted request for a command under a token, made once per token and command */
function seal(tok: HeldToken, cmd: string, params: Readonly<Record<string, unknown>>): string {
  const command = { cmd, ...params };
  const key = JSON.stringify(command);
  let request = tok.sealed.get(key);
  if (request === undefined) {
    request = v2EncryptRequest(tok.cred, command);
    if (tok.sealed.size < 32) tok.sealed.set(key, request); // a handful of commands; set_power_pct values are few
  }
  return request;
}

export class WhatsminerV2 {
  readonly version = 'v2' as const;
  private held: HeldToken | undefined;
  private fetching: Promise<HeldToken> | undefined;
  /** the password has been proved by an encrypted read with a fresh token */
  verified = false;

  constructor(
    private readonly target: RpcTarget,
    private readonly password: string,
    private readonly clock: Clock,
    private readonly counters: LinkCounters,
    private readonly tuning: TokenTuning = TOKEN_TUNING,
  ) {}

  /** One plain read ({"command": ...}); the reply must carry a Whatsminer status block, and a good one. */
  async read(command: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const reply = await counted(this.counters, this.exchange(JSON.stringify({ command, ...extra }), command));
    const st = v2Status(reply);
    if (!st) throw unexpected(command, 'no STATUS block');
    if (!st.ok) throw refused(command, st.code, st.msg, this.counters);
    return reply;
  }

  /** summary (power, hashrate, temperatures) and status (mining off or on) */
  async poll(): Promise<WhatsminerReading> {
    const [summary, status] = await both(this.read('summary'), this.read('status'));
    const rows = summary.SUMMARY;
    if (!Array.isArray(rows) || !rows[0] || typeof rows[0] !== 'object') throw unexpected('summary', 'no SUMMARY');
    const s = rows[0] as Record<string, unknown>;
    const watts = num(s.Power);
    const limit = num(s['Power Limit']);
    const chipMax = num(s['Chip Temp Max']);
    const msg = (status.Msg ?? {}) as Record<string, unknown>;
    return {
      // -1 is the firmware's "no reading" (pyasic backends/btminer.py _get_wattage)
      kw: watts >= 0 ? watts / 1000 : NaN,
      ths: Math.max(0, num(s['MHS 1m']) || num(s['MHS av']) || 0) / 1e6,
      tempC: Number.isFinite(chipMax) ? chipMax : num(s.Temperature),
      off: flag(msg.mineroff),
      limitKw: limit > 0 ? limit / 1000 : undefined,
    };
  }

  /** a token is held and not known to be expired */
  get tokenValid(): boolean {
    return this.held !== undefined && this.clock.monotonic() - this.held.at < this.tuning.tokenLifeMs - this.tuning.expiryMarginMs;
  }

  /** time to fetch the next token ahead of time (none held, or the held one is refreshMs old) */
  get credentialsDue(): boolean {
    return this.held === undefined || !this.verified || this.clock.monotonic() - this.held.at >= this.tuning.refreshMs;
  }

  /** Fetch a fresh token and prove it (and the password) with an encrypted read of `status`. */
  async refresh(): Promise<void> {
    const tok = await this.fetchToken();
    const reply = await this.encrypted(tok.cred, { cmd: 'status' }, 'status');
    const st = v2Status(reply);
    if (!st) throw unexpected('encrypted status', 'no STATUS block');
    if (!st.ok) {
      // a token fetched a moment ago cannot be stale: the firmware's key differs from ours
      if (st.code === V2_CODE.tokenRefused) {
        this.counters.exceptions++;
        this.verified = false;
        throw new MinerAuthError(`password refused: encrypted status with a fresh token: ${st.msg || 'check token error'} (code ${st.code})`);
      }
      throw refused('encrypted status', st.code, st.msg, this.counters);
    }
    this.verified = true;
  }

  /**
   * One write command: encrypted with the held token (fetched first only if none is held or the
   * held one is known to be expired). If the firmware refuses the token (it rebooted and forgot
   * its tokens), one fresh token and one retry.
   */
  async write(cmd: string, params: Record<string, unknown> = {}): Promise<void> {
    let tok = this.tokenValid ? this.held! : await this.fetchToken();
    let st = await this.writeOnce(tok, cmd, params);
    if (!st.ok && st.code === V2_CODE.tokenRefused) {
      tok = await this.fetchToken(true);
      st = await this.writeOnce(tok, cmd, params);
      if (!st.ok && st.code === V2_CODE.tokenRefused) {
        this.counters.exceptions++;
        this.verified = false;
        throw new MinerAuthError(`${cmd} refused with a fresh token: ${st.msg || 'check token error'} (code ${st.code}): wrong password?`);
      }
    }
    if (!st.ok || st.code !== V2_CODE.ok) throw refused(cmd, st.code, st.msg, this.counters);
  }

  /** power_off, replying before it acts (respbefore true: the reply is the acceptance, not the end of the ramp-down) */
  powerOff(): Promise<void> {
    return this.write(...POWER_OFF);
  }

  powerOn(): Promise<void> {
    return this.write('power_on');
  }

  /** set_power_pct: the document's range is 0..100, sent as a string */
  setPercent(p: number): Promise<void> {
    return this.write('set_power_pct', { percent: String(p) });
  }

  /** get_version: the firmware and API versions; the reply shape itself (Code 131, Msg.fw_ver) is the Whatsminer's */
  async getVersion(): Promise<{ fw: string; api: string }> {
    const reply = await this.read('get_version');
    const msg = reply.Msg as Record<string, unknown> | undefined;
    if (reply.Code !== V2_CODE.ok || !msg || typeof msg !== 'object' || typeof msg.fw_ver !== 'string') {
      throw unexpected('get_version', 'not a Whatsminer reply (no Code 131 with Msg.fw_ver)');
    }
    return { fw: msg.fw_ver, api: typeof msg.api_ver === 'string' ? msg.api_ver : '' };
  }

  private async writeOnce(tok: HeldToken, cmd: string, params: Record<string, unknown>) {
    const reply = await this.encrypted(tok.cred, seal(tok, cmd, params), cmd);
    const st = v2Status(reply);
    if (!st) throw unexpected(cmd, 'no STATUS block');
    return st;
  }

  /** Send an encrypted command; the reply is encrypted ({"enc": ...}) unless the firmware refused it in plain text. */
  private async encrypted(cred: V2Credentials, command: Record<string, unknown> | string, what: string): Promise<Record<string, unknown>> {
    const request = typeof command === 'string' ? command : v2EncryptRequest(cred, command);
    const reply = await counted(this.counters, this.exchange(request, what));
    if (typeof reply.enc !== 'string') return reply;
    let text: string;
    try {
      text = aesEcbDecrypt(cred.aesKey, reply.enc);
    } catch (e) {
      this.counters.resyncs++;
      throw e;
    }
    try {
      return parseRpcReply(text);
    } catch (e) {
      this.counters.resyncs++;
      throw unexpected(what, `encrypted reply does not decrypt to JSON: ${(e as Error).message}`);
    }
  }

  /** get_token, shared by concurrent callers; `force` ignores a fetch already in flight that started before a refusal */
  private fetchToken(force = false): Promise<HeldToken> {
    if (this.fetching && !force) return this.fetching;
    const p = (async () => {
      const reply = await counted(this.counters, this.exchange(JSON.stringify({ cmd: 'get_token' }), 'get_token'));
      const st = v2Status(reply);
      if (!st) throw unexpected('get_token', 'no STATUS block');
      const msg = reply.Msg;
      if (st.code === V2_CODE.tokenBudget || msg === 'over max connect') {
        this.counters.exceptions++;
        throw new HashflexError(`get_token refused: the firmware's token budget for this address is spent (code ${st.code})`, ErrorCode.DeviceFault);
      }
      if (!st.ok) throw refused('get_token', st.code, st.msg, this.counters);
      const t = (msg ?? {}) as Partial<V2TokenMsg>;
      const valid = (v: unknown) => typeof v === 'string' && /^[./0-9A-Za-z]{1,8}$/.test(v);
      if (!valid(t.salt) || !valid(t.newsalt) || (typeof t.time !== 'string' && typeof t.time !== 'number')) {
        throw unexpected('get_token', 'no time/salt/newsalt');
      }
      const held: HeldToken = { cred: v2Credentials(this.password, { salt: t.salt!, newsalt: t.newsalt!, time: String(t.time) }), at: this.clock.monotonic(), sealed: new Map() };
      this.held = held;
      seal(held, ...POWER_OFF); // ready before the trip that needs it
      return held;
    })();
    this.fetching = p;
    const clear = () => { if (this.fetching === p) this.fetching = undefined; };
    p.then(clear, clear);
    return p;
  }

  private async exchange(request: string, what: string): Promise<Record<string, unknown>> {
    const text = await rpcText(this.target, request);
    if (text === '') throw new HashflexError(`${what}: ${this.target.host}:${this.target.port} closed without a reply`, ErrorCode.TransportClosed, { disconnected: true });
    return parseRpcReply(text);
  }
}
