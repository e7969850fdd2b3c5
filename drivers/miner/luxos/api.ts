import { ErrorCode, HashflexError } from '../../../agent/errors';
import { parseStats, parseSummary } from '../antminer/api';
import { statusOf } from '../avalon/ascset';

/**
 * LuxOS (Luxor's LUXminer) on the cgminer-style API, TCP 4028, as pure functions. Command names,
 * parameters and reply shapes from Luxor's API documents (docs.luxor.tech/firmware/api: sessions,
 * logon, session, curtail, profileset) and the open clients (pyasic pyasic/rpc/luxminer.py and
 * pyasic/miners/backends/luxminer.py; Luxor's luxos-tooling src/luxos/asyncops.py):
 *  - `logon`: SESSION[0].SessionID, STATUS code 316 "Session created"; while another session is
 *    live, no SESSION and code 402 "Another session is active" (one session at a time).
 *  - a session expires one minute after its last use; a command that changes the miner takes the
 *    session id as its first parameter: `curtail` `<sid>,sleep` | `<sid>,wakeup` (code 335
 *    "Curtailment command sent"), `profileset` `<sid>,<profile name>` (code 321 "Profile Set"; the
 *    profile applies to the whole machine), `ledset` `<sid>,red,<on|off|blink>`, `logoff` `<sid>`.
 *    `kill` ends whatever session is live, with no session of its own.
 *  - reads need no session: `version` (VERSION[0].LUXminer, Type), `power` (POWER[0].Watts),
 *    `summary` (SUMMARY[0]."GHS 5s", as bmminer), `stats` (bmminer's STATS[1] block),
 *    `profiles` (PROFILES[]: "Profile Name", Watts, Hashrate, Step), `config` (CONFIG[0]:
 *    CurtailMode, Profile, RedLed, IsAtmEnabled). Several go in one request joined by "+"
 *    (cgminer's multi-command: {"power":[reply], "summary":[reply], …}), as pyasic's multicommand.
 * Every reply's STATUS Description names the program ("LUXminer 2024.5.1…").
 */
type Obj = Record<string, unknown>;

export const CODE = { sessionCreated: 316, sessionInfo: 319, anotherSession: 402, curtailSent: 335, profileSet: 321 } as const;

/** the poll: everything status() needs in one connection */
export const POLL_COMMANDS = ['power', 'summary', 'config', 'stats'] as const;
export const POLL_COMMAND = POLL_COMMANDS.join('+');

/** what goes into a comma-separated parameter: a comma or a control character would smuggle in another */
const SAFE_TOKEN = /^[A-Za-z0-9._+-]{1,64}$/;
/** far above any air- or hydro-cooled miner (W): a bigger figure is a misreading */
const MAX_WATTS = 100_000;

const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

function num(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : NaN;
}

function first(reply: Obj, key: string): Obj | undefined {
  const a = reply[key];
  return Array.isArray(a) && isObj(a[0]) ? a[0] : undefined;
}

function invalid(what: string): HashflexError {
  return new HashflexError(what, ErrorCode.FrameInvalid);
}

/** why a reply is not a success (no cgminer STATUS, or STATUS E/F); undefined if it is one */
export function replyError(reply: Obj): string | undefined {
  const st = statusOf(reply);
  if (!st) return 'reply has no cgminer STATUS';
  if (st.status === 'S' || st.status === 'I') return undefined;
  return `STATUS ${st.status}${st.code === undefined ? '' : ` code ${st.code}`}: ${st.msg || 'no message'}`;
}

/** the program the reply says it comes from (STATUS Description), if it says */
export function programOf(reply: Obj): string | undefined {
  const s = Array.isArray(reply.STATUS) ? reply.STATUS[0] : undefined;
  return isObj(s) && typeof s.Description === 'string' ? s.Description : undefined;
}

/** a session id or profile name fit to put in a parameter; anything else is not one */
export function isParamToken(v: unknown): v is string {
  return typeof v === 'string' && SAFE_TOKEN.test(v);
}

export type Logon = { ok: true; sessionId: string } | { ok: false; busy: boolean; why: string };

/** `logon`'s reply: a session, or why not (busy: another client holds the miner's one session) */
export function parseLogon(reply: Obj): Logon {
  const st = statusOf(reply);
  const sid = first(reply, 'SESSION')?.SessionID;
  if (st?.code === CODE.anotherSession || (st?.status === 'E' && /another session/i.test(st.msg))) {
    return { ok: false, busy: true, why: st.msg || 'another session is active' };
  }
  const bad = replyError(reply);
  if (bad) return { ok: false, busy: false, why: bad };
  if (!isParamToken(sid)) return { ok: false, busy: false, why: `logon reply has no usable SessionID (${JSON.stringify(sid ?? null).slice(0, 40)})` };
  return { ok: true, sessionId: sid };
}

export type Accepted = { ok: true } | { ok: false; why: string; session: boolean };

/**
 * Did the firmware take a command sent with a session? `session`: it refused the session itself
 * (expired, killed, never issued): a new logon, not another try, is what helps.
 */
export function accepted(reply: Obj): Accepted {
  const bad = replyError(reply);
  if (!bad) return { ok: true };
  return { ok: false, why: bad, session: /session/i.test(statusOf(reply)?.msg ?? '') };
}

export const curtailParam = (sid: string, action: 'sleep' | 'wakeup'): string => `${sid},${action}`;
export const profileParam = (sid: string, profile: string): string => `${sid},${profile}`;

/**
 * The keepalive: a session is refreshed by any command that uses it, and the one with no effect on
 * mining is setting the red LED to what it already shows (config's RedLed; off when unknown).
 */
export function keepaliveParam(sid: string, redLed: string | undefined): string {
  return `${sid},red,${redLed === 'on' || redLed === 'blink' ? redLed : 'off'}`;
}

export interface LuxosProfile {
  name: string;
  /** the firmware's estimate at this profile (W, TH/s) */
  watts: number;
  ths: number;
  /** steps from the default profile (negative: under-clocked), where the firmware says */
  step?: number;
}

/**
 * `profiles`: the named frequency/voltage steps (LuxOS makes 16 under-clocked, the default from
 * the machine's EEPROM, and over-clocked ones: docs.luxor.tech/firmware/features). A profile with
 * no usable name (one a parameter cannot carry) or an absurd power estimate is left out.
 */
export function parseProfiles(reply: Obj): LuxosProfile[] {
  const bad = replyError(reply);
  if (bad) throw invalid(`profiles: ${bad}`);
  if (!Array.isArray(reply.PROFILES)) throw invalid('profiles: no PROFILES list');
  const out: LuxosProfile[] = [];
  for (const p of reply.PROFILES) {
    if (!isObj(p)) continue;
    const name = p['Profile Name'] ?? p.Name ?? p.Profile;
    const watts = num(p.Watts);
    if (!isParamToken(name) || out.some((o) => o.name === name)) continue;
    if (!(watts > 0 && watts < MAX_WATTS)) continue;
    const step = num(p.Step);
    out.push({ name, watts, ths: Math.max(0, num(p.Hashrate)) || NaN, ...(Number.isFinite(step) ? { step } : {}) });
  }
  return out;
}

export interface LuxosVersion {
  /** VERSION[0].Type, e.g. "Antminer S19j Pro" */
  type: string;
  /** LUXminer's own version */
  firmware: string;
}

export function parseVersion(reply: Obj): LuxosVersion {
  const v = first(reply, 'VERSION');
  if (!v) throw invalid('version: no VERSION block');
  const fw = [v.LUXminer, v.Miner, programOf(reply)?.replace(/^LUXminer\s*/i, '')].find((x): x is string => typeof x === 'string' && x.trim() !== '');
  return { type: typeof v.Type === 'string' ? v.Type.trim() : '', firmware: fw?.trim() ?? '' };
}

export interface LuxosReading {
  /** POWER[0].Watts, undefined when absent or absurd */
  watts?: number;
  ths: number;
  tempC: number;
  /** CONFIG[0].CurtailMode says sleep; undefined when it does not say */
  asleep?: boolean;
  /** the profile in force (CONFIG[0].Profile) */
  profile?: string;
  redLed?: string;
  atm?: boolean;
}

/** the sub-replies of a multi-command reply, by command */
export function splitMulti(reply: Obj, commands: readonly string[]): Record<string, Obj> {
  const out: Record<string, Obj> = {};
  for (const c of commands) {
    const part = first(reply, c);
    if (!part) throw invalid(`${commands.join('+')}: no "${c}" reply in it${replyError(reply) ? ` (${replyError(reply)})` : ''}`);
    const bad = replyError(part);
    if (bad) throw invalid(`${c}: ${bad}`);
    out[c] = part;
  }
  return out;
}

/** the poll's multi-command reply */
export function parsePoll(reply: Obj): LuxosReading {
  const parts = splitMulti(reply, POLL_COMMANDS);
  let summary;
  try {
    summary = parseSummary(parts.summary);
  } catch (e) {
    throw invalid((e as Error).message);
  }
  const config = first(parts.config, 'CONFIG');
  if (!config) throw invalid('config: no CONFIG block');
  const watts = num(first(parts.power, 'POWER')?.Watts);
  let tempC = NaN;
  try {
    tempC = parseStats(parts.stats).tempC;
  } catch { /* temperatures are not worth failing a poll for */ }
  const mode = typeof config.CurtailMode === 'string' ? config.CurtailMode : undefined;
  return {
    watts: watts >= 0 && watts < MAX_WATTS ? watts : undefined,
    ths: Math.max(0, summary.ths),
    tempC,
    asleep: mode === undefined ? undefined : /sleep/i.test(mode),
    profile: isParamToken(config.Profile) ? config.Profile : undefined,
    redLed: typeof config.RedLed === 'string' ? config.RedLed.toLowerCase() : undefined,
    atm: typeof config.IsAtmEnabled === 'boolean' ? config.IsAtmEnabled : undefined,
  };
}
