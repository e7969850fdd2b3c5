import type { Clock } from '../../../agent/clock';
import { ErrorCode, HashflexError } from '../../../agent/errors';
import { accepted, keepaliveParam, parseLogon } from './api';

/**
 * The miner's one LuxOS session, held for as long as the driver drives it. LuxOS allows a single
 * session at a time and ends it one minute after its last use (docs.luxor.tech/firmware/api/sessions),
 * and every command that changes the miner needs it: a driver that logged on when a trip came
 * would add a round trip to every stop, and fail it whenever another client (the web UI, a
 * script) held the session. So the session is taken at start and kept fresh from a timer
 * (keepalive() when it has been idle `keepaliveMs`); a session the firmware refuses (expired,
 * killed, the firmware restarted) is dropped and logged on again in the background.
 *
 * The cost, said plainly: while the agent drives a LuxOS miner no other client gets a session on
 * it. One that needs one can `kill` the agent's; the driver then re-logs on once that client's
 * own session is gone (logged off, or idle a minute).
 */
export type Request = (command: string, parameter: string | undefined, signal: AbortSignal) => Promise<Record<string, unknown>>;

/** logon refused because another client holds the session */
export class SessionBusy extends HashflexError {
  constructor(message: string) {
    super(message, ErrorCode.DeviceFault);
    this.name = 'SessionBusy';
  }
}

export class LuxosSession {
  id: string | undefined;
  /** why there is no session now, for status() */
  fault: string | undefined;
  logons = 0;
  keepalives = 0;
  /** sessions a stop took from another client (kill + logon) */
  takeovers = 0;
  private usedAt = -Infinity;

  constructor(private readonly request: Request, private readonly clock: Clock, private readonly keepaliveMs: number) {}

  /** held and idle long enough to need a keepalive */
  get due(): boolean {
    return this.id !== undefined && this.clock.monotonic() - this.usedAt >= this.keepaliveMs;
  }

  /** the firmware took a command with the session: its idle minute starts again */
  used(): void {
    this.usedAt = this.clock.monotonic();
  }

  /** the firmware refused the session `sid`: forget it (unless a newer one has replaced it) */
  lost(sid: string, why: string): void {
    if (this.id !== sid) return;
    this.id = undefined;
    this.fault = `session lost (${why}): logging on again`;
  }

  async logon(signal: AbortSignal): Promise<string> {
    const r = parseLogon(await this.request('logon', undefined, signal));
    if (!r.ok) {
      this.fault = r.busy ? `another client holds the miner's one session (${r.why}): a stop would have to take it over` : `logon refused: ${r.why}`;
      throw r.busy ? new SessionBusy(`logon: ${r.why}`) : new HashflexError(`logon: ${r.why}`, ErrorCode.DeviceFault);
    }
    this.id = r.sessionId;
    this.logons++;
    this.fault = undefined;
    this.used();
    return r.sessionId;
  }

  /** refresh the session with a command that changes nothing (api.ts keepaliveParam) */
  async keepalive(redLed: string | undefined, signal: AbortSignal): Promise<void> {
    const sid = this.id;
    if (!sid) return;
    const ok = accepted(await this.request('ledset', keepaliveParam(sid, redLed), signal));
    if (ok.ok) {
      this.used();
      this.keepalives++;
      return;
    }
    if (ok.session) return this.lost(sid, ok.why);
    throw new HashflexError(`keepalive (ledset): ${ok.why}`, ErrorCode.DeviceFault);
  }

  /**
   * A stop's way to a session when the kept one is gone: log on, and where another client holds the
   * session, end theirs first (`kill`): shedding load on a grid signal outranks their work.
   */
  async takeOver(signal: AbortSignal): Promise<string> {
    try {
      return await this.logon(signal);
    } catch (e) {
      if (!(e instanceof SessionBusy)) throw e;
    }
    await this.request('kill', undefined, signal);
    this.takeovers++;
    return this.logon(signal);
  }
}
