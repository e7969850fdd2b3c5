import type { LinkCounters } from '../../../agent/hardware';
import { ErrorCode, HashflexError, isHashflexError } from '../../../agent/errors';

/**
 * What the two Whatsminer APIs have in common: one reading per poll, the counters every request
 * updates, and the v2 reply's status block (which comes either as one object with Code and Msg
 * at the top level, as `get_version` and the write commands do, or as a STATUS array, as the
 * cgminer-style `summary` and `devdetails` do).
 */
export interface WhatsminerReading {
  /** the miner's own input power (kW); NaN when it reports none */
  kw: number;
  /** TH/s */
  ths: number;
  /** hottest chip (°C), NaN if unknown */
  tempC: number;
  /** the firmware reports mining off (after power_off / service stop); undefined if it does not say */
  off: boolean | undefined;
  /** the miner's power limit (kW), its full-power draw, when it reports one */
  limitKw?: number;
}

export interface V2Status {
  ok: boolean;
  code: number;
  msg: string;
}

/** The status of a v2 reply, or undefined if the object has no status block at all (not a Whatsminer reply). */
export function v2Status(reply: Record<string, unknown>): V2Status | undefined {
  let s: unknown = reply.STATUS;
  let holder: Record<string, unknown> = reply;
  if (Array.isArray(s)) {
    holder = (s[0] ?? {}) as Record<string, unknown>;
    s = holder.STATUS;
  }
  if (s !== 'S' && s !== 'E') return undefined;
  const msg = typeof holder.Msg === 'string' ? holder.Msg : '';
  return { ok: s === 'S', code: Number(holder.Code ?? NaN), msg };
}

/** a finite number from a field that firmware sends as number or string; NaN otherwise */
export function num(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : NaN;
}

/** "true" / "false" / booleans; undefined for anything else */
export function flag(v: unknown): boolean | undefined {
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  return undefined;
}

/** Count one request's outcome in the link counters, and pass the result or error through. */
export async function counted<T>(c: LinkCounters, p: Promise<T>): Promise<T> {
  c.requests++;
  try {
    const v = await p;
    c.frames++;
    return v;
  } catch (e) {
    if (isHashflexError(e, ErrorCode.TransportTimeout)) c.timeouts++;
    else if (isHashflexError(e, ErrorCode.FrameInvalid)) c.resyncs++;
    throw e;
  }
}

/** The miner answered, and said no (an API error code); counted as an exception on the link. */
export function refused(what: string, code: number | string, msg: string, c?: LinkCounters): HashflexError {
  if (c) c.exceptions++;
  return new HashflexError(`${what} refused: ${msg || 'no message'} (code ${code})`, ErrorCode.DeviceFault);
}

/** The miner answered with something that is not what the command returns. */
export function unexpected(what: string, detail: string): HashflexError {
  return new HashflexError(`${what}: unexpected reply (${detail})`, ErrorCode.FrameInvalid);
}

/** Credentials refused: a wrong password (or account); a fault of configuration, not of the link. */
export class MinerAuthError extends HashflexError {
  readonly auth = true;
  constructor(message: string) {
    super(message, ErrorCode.DeviceFault);
    this.name = 'MinerAuthError';
  }
}

/** Both requests, each run to its end (so no socket outlives the poll), then the first error if any. */
export async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === 'rejected') throw x.reason;
  if (y.status === 'rejected') throw y.reason;
  return [x.value, y.value];
}
