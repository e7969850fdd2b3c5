import { ErrorCode, HashflexError } from '../../agent/errors';
import type { SerialSpec } from '../transport/types';

/**
 * Meter options as config gives them (snake_case keys, units in the names). Defaults and ranges
 * here are the ones the README documents; agent/config.ts validates the contract keys first.
 */
export interface MeterOptions {
  id?: string;
  model: 'sdm630' | 'sunspec';
  /** Modbus TCP "HOST:PORT" */
  tcp?: string;
  /** Modbus RTU on a serial line, or RTU bytes over raw TCP (ser2net) */
  serial?: SerialSpec;
  unit: number;
  poll_ms: number;
  /** no valid reply (identical or not) for this long = stale */
  stale_ms: number;
  /** identical readings for this long = stale, reason frozen (default 10000, 50..3600000) */
  frozen_ms?: number;
  /** per-request reply timeout (default 250, 10..10000) */
  timeout_ms?: number;
  /** energy counters read interval (default 5000, 0 = every poll, ..3600000) */
  counters_ms?: number;
  /** longest wait between polls of a failing meter (default 5000, poll_ms..600000) */
  backoff_max_ms?: number;
  /** publish a read identical to the previous one as a fresh sample (default false) */
  allow_repeats?: boolean;
}

export interface MeterTuning {
  unit: number;
  poll_ms: number;
  stale_ms: number;
  frozen_ms: number;
  timeout_ms: number;
  counters_ms: number;
  backoff_max_ms: number;
  allow_repeats: boolean;
}

export const METER_DEFAULTS = { unit: 1, poll_ms: 50, stale_ms: 1000, frozen_ms: 10_000, timeout_ms: 250, counters_ms: 5000, backoff_max_ms: 5000, allow_repeats: false };

function range(path: string, v: number, lo: number, hi: number, problems: string[]): void {
  if (!Number.isFinite(v) || v < lo || v > hi) problems.push(`meter.${path}: expected ${lo}..${hi}, got ${v}`);
}

/** fill defaults and check ranges; every problem at once, as `meter.key: what is wrong` */
export function meterTuning(o: MeterOptions): MeterTuning {
  const t: MeterTuning = {
    unit: o.unit ?? METER_DEFAULTS.unit,
    poll_ms: o.poll_ms ?? METER_DEFAULTS.poll_ms,
    stale_ms: o.stale_ms ?? METER_DEFAULTS.stale_ms,
    frozen_ms: o.frozen_ms ?? METER_DEFAULTS.frozen_ms,
    timeout_ms: o.timeout_ms ?? METER_DEFAULTS.timeout_ms,
    counters_ms: o.counters_ms ?? METER_DEFAULTS.counters_ms,
    backoff_max_ms: o.backoff_max_ms ?? METER_DEFAULTS.backoff_max_ms,
    allow_repeats: o.allow_repeats ?? METER_DEFAULTS.allow_repeats,
  };
  const p: string[] = [];
  if (o.model !== 'sdm630' && o.model !== 'sunspec') p.push(`meter.model: expected sdm630 or sunspec, got ${String(o.model)}`);
  if ((o.tcp === undefined) === (o.serial === undefined)) p.push('meter: give exactly one of tcp or serial');
  // Modbus over Serial Line §2.2: slaves are 1..247 and 0 is broadcast (never answered);
  // over TCP a gateway may be addressed as 0 or 255
  if (o.serial !== undefined) range('unit', t.unit, 1, 247, p);
  else range('unit', t.unit, 0, 255, p);
  range('poll_ms', t.poll_ms, 10, 60_000, p);
  range('stale_ms', t.stale_ms, 50, 600_000, p);
  range('frozen_ms', t.frozen_ms, 50, 3_600_000, p);
  range('timeout_ms', t.timeout_ms, 10, 10_000, p);
  range('counters_ms', t.counters_ms, 0, 3_600_000, p);
  range('backoff_max_ms', t.backoff_max_ms, t.poll_ms, 600_000, p);
  if (p.length) throw new HashflexError(p.join('\n'), ErrorCode.ConfigInvalid);
  return t;
}
