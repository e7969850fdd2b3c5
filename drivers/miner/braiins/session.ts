import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../../agent/clock';
import { ErrorCode, HashflexError } from '../../../agent/errors';
import { GrpcRefusal, isUnauthenticated, type BosChannel } from './channel';

/**
 * The Braiins OS+ logon (bos-plus-api README, "Authentication"): AuthenticationService/Login with
 * the username and password answers a token, which every other call carries in its
 * `authorization` metadata. API 1.1.0 puts it in LoginResponse.token with its life in timeout_s
 * ("refreshed to this value with each request"); older firmware sends it only as the
 * `authorization` response header, and says nothing of its life (pyasic's client assumes an
 * hour and logs in again after 59 minutes).
 *
 * The token is fetched ahead of time and kept: the driver's poll timer calls renew() once the
 * held one is `refreshShare` of its life old, counted from the logon, not from its last use, so
 * firmware that does not slide the expiry is covered too. A call with the token in hand is one
 * request; only when none is held, or the held one has certainly run out (no accepted call for a
 * whole life), does a call log in first.
 */
export interface SessionTuning {
  /** log in again once the token is this share of its life old */
  refreshShare: number;
  /** a token's life when the firmware does not say (s) */
  defaultTimeoutS: number;
  /** a held token this close to its end counts as expired (ms): clocks apart, a request in flight */
  marginMs: number;
}

export const SESSION_TUNING: SessionTuning = { refreshShare: 0.5, defaultTimeoutS: 3600, marginMs: 30_000 };

/** a month: a longer life is not a token's life but a bad field */
const MAX_TIMEOUT_S = 30 * 24 * 3600;
const LOGIN = 'braiins.bos.v1.AuthenticationService/Login' as const;

/** the username and password were refused: a fault of configuration, not of the link */
export class CredentialsRefused extends HashflexError {
  readonly auth = true;
  constructor(message: string) {
    super(message, ErrorCode.DeviceFault);
    this.name = 'CredentialsRefused';
  }
}

interface HeldToken {
  token: string;
  /** clock.monotonic() at the logon */
  at: number;
  lifeMs: number;
}

export class BosSession {
  private held: HeldToken | undefined;
  /** clock.monotonic() of the last call the held token was accepted on */
  private lastUse = -Infinity;
  private loggingIn: Promise<HeldToken> | undefined;
  /** logons since start (the doctor and tests read it) */
  logins = 0;

  constructor(
    private readonly channel: BosChannel,
    private readonly username: string,
    private readonly password: string,
    private readonly clock: Clock,
    private readonly tuning: SessionTuning = SESSION_TUNING,
  ) {}

  get token(): string | undefined {
    return this.held?.token;
  }

  /** the token's life as the firmware gave it (ms), once logged in */
  get lifeMs(): number | undefined {
    return this.held?.lifeMs;
  }

  /** time to log in again ahead of need: none held, or the held one is refreshShare of its life old */
  get due(): boolean {
    const h = this.held;
    return !h || this.clock.monotonic() - h.at >= this.tuning.refreshShare * h.lifeMs;
  }

  /** none held, or the held one has run out however the firmware counts its life */
  get expired(): boolean {
    const h = this.held;
    if (!h) return true;
    const now = this.clock.monotonic();
    return now >= Math.max(h.at, this.lastUse) + h.lifeMs - this.tuning.marginMs;
  }

  /** log in now (shared with a logon already in flight); resolves when the new token is held */
  async renew(): Promise<void> {
    await this.login();
  }

  /**
   * Run `call` with the held token (logging in first only if none is usable). If the miner says
   * UNAUTHENTICATED (it restarted and forgot its tokens, or the life ran out early), one logon and
   * one retry; a token refused straight after its logon is a refusal of the account.
   */
  async authorized<T>(call: (token: string) => Promise<T>): Promise<T> {
    const first = this.expired ? await this.login() : this.held!;
    try {
      return this.used(first, await call(first.token));
    } catch (e) {
      if (!isUnauthenticated(e)) throw e;
      if (this.held === first) this.held = undefined;
    }
    // a renewal that landed while the call was out is as fresh as a logon now
    const fresh = this.held && this.held !== first ? this.held : await this.login();
    try {
      return this.used(fresh, await call(fresh.token));
    } catch (e) {
      if (isUnauthenticated(e)) throw new CredentialsRefused(`a token from a fresh Login was refused: ${e.message}`);
      throw e;
    }
  }

  private used<T>(h: HeldToken, value: T): T {
    if (this.held === h) this.lastUse = this.clock.monotonic();
    return value;
  }

  private login(): Promise<HeldToken> {
    if (this.loggingIn) return this.loggingIn;
    const p = this.loginOnce().finally(() => { if (this.loggingIn === p) this.loggingIn = undefined; });
    this.loggingIn = p;
    return p;
  }

  private async loginOnce(): Promise<HeldToken> {
    let r;
    try {
      r = await this.channel.call<{ token?: string; timeout_s?: number }>(LOGIN, { username: this.username, password: this.password });
    } catch (e) {
      if (e instanceof GrpcRefusal && (e.status === grpc.status.UNAUTHENTICATED || e.status === grpc.status.PERMISSION_DENIED)) {
        throw new CredentialsRefused(`Login as ${JSON.stringify(this.username)} refused: ${e.message}`);
      }
      throw e;
    }
    const header = r.headers.get('authorization')[0];
    const token = typeof r.response.token === 'string' && r.response.token !== '' ? r.response.token : typeof header === 'string' ? header : '';
    // a metadata value the next call can carry: printable ASCII, and not a page of text
    if (!/^[\x21-\x7e]{1,512}$/.test(token)) throw new HashflexError('Login answered no usable token (neither LoginResponse.token nor an authorization header)', ErrorCode.FrameInvalid);
    const s = r.response.timeout_s ?? 0;
    const lifeS = Number.isInteger(s) && s > 0 && s <= MAX_TIMEOUT_S ? s : this.tuning.defaultTimeoutS;
    const held = { token, at: this.clock.monotonic(), lifeMs: lifeS * 1000 };
    this.held = held;
    this.lastUse = held.at;
    this.logins++;
    return held;
  }
}
