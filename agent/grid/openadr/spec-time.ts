/**
 * The time rules of OpenADR 3 (Definitions and User Guide, 3.1.0), read once for the VEN and the
 * simulated VTN: ISO 8601 durations, the "now" start, P9999Y as open-ended, randomizeStart, and
 * where an event's intervals fall (sequential intervals, overrides, 3.1.0 event.duration).
 * Pure: no clock; callers pass the instants.
 */
import { createHash } from 'node:crypto';
import type { OadrEvent, ValuesMap } from './spec';

/** OpenAPI `duration` pattern (ISO 8601), verbatim in meaning: optional sign, Y M D|W, T H M S */
export const DURATION_PATTERN = /^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/**
 * The 'now' start of an intervalPeriod: Definitions 3.1.0 "A start of 0001-01-01 or
 * 0001-01-01T00:00:00 may indicate 'now'"; 3.1.0 issue 339 moved it from the illegal
 * 0000-00-00 to 0000-01-01, so both years are read as 'now'.
 */
const NOW_START = /^000[01]-01-01([Tt ]00:00(:00(\.0+)?)?([Zz]|[+-]00:?00)?)?$/;

export function isNowStart(text: string): boolean {
  return NOW_START.test(text);
}

export interface IsoDuration {
  negative: boolean;
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
}

/** an ISO 8601 duration as the OpenAPI pattern admits it, or undefined */
export function parseDuration(text: string): IsoDuration | undefined {
  const m = DURATION_PATTERN.exec(text);
  if (!m) return undefined;
  const n = (s: string | undefined): number => (s === undefined ? 0 : Number(s));
  return {
    negative: m[1] === '-',
    years: n(m[2]),
    months: n(m[3]),
    weeks: m[5] === 'W' ? n(m[4]) : 0,
    days: m[5] === 'D' ? n(m[4]) : 0,
    hours: n(m[6]),
    minutes: n(m[7]),
    seconds: n(m[8]),
  };
}

/** Definitions 3.1.0: "A duration of P9999Y may indicate infinity"; anything that long is open-ended */
export const OPEN_ENDED_YEARS = 9999;

/** `fromMs` plus the duration, by the UTC calendar (P1M from Jan 31 is Mar 3 or 2); Infinity when open-ended */
export function addDuration(fromMs: number, d: IsoDuration): number {
  if (d.years >= OPEN_ENDED_YEARS) return d.negative ? -Infinity : Infinity;
  const sign = d.negative ? -1 : 1;
  const t = new Date(fromMs);
  t.setUTCFullYear(t.getUTCFullYear() + sign * d.years, t.getUTCMonth() + sign * d.months, t.getUTCDate() + sign * (d.days + 7 * d.weeks));
  return t.getTime() + sign * Math.round(((d.hours * 60 + d.minutes) * 60 + d.seconds) * 1000);
}

/** a duration in ms, counted from `fromMs` where it has years or months; Infinity when open-ended; NaN when not a duration */
export function durationMs(text: string, fromMs = 0): number {
  const d = parseDuration(text);
  return d ? addDuration(fromMs, d) - fromMs : Number.NaN;
}

/**
 * randomizeStart: "absolute range of client applied offset to start" (Definitions 3.1.0). The
 * offset is drawn once per `seed` (say VEN name + event ID) from a hash, not a die, so a restart
 * or a re-poll never moves an event this VEN has already begun. In [0, range) ms.
 */
export function randomizeOffsetMs(range: string | null | undefined, seed: string): number {
  if (!range) return 0;
  const span = durationMs(range);
  if (!Number.isFinite(span) || span <= 0) return 0;
  const h = createHash('sha256').update(seed).digest();
  return Math.floor((h.readUIntBE(0, 6) / 2 ** 48) * span);
}

/** one interval placed in time; endMs may be Infinity (open-ended) */
export interface IntervalSpan {
  id: number;
  startMs: number;
  endMs: number;
  payloads: ValuesMap[];
}

export interface SpanOptions {
  /** what a "now" start means: the wall ms this VEN first saw the event (keep it across restarts) */
  nowStartMs: number;
  /** randomizeStart seed; see randomizeOffsetMs */
  seed: string;
  /** repeating events (event.duration longer than its intervals) are expanded up to here */
  untilMs: number;
}

/** a hostile VTN's one-second interval repeated for P9999Y must not expand without end */
export const MAX_SPANS = 10_000;

/**
 * An event's intervals placed in time (User Guide, interval timing): the event's intervalPeriod
 * gives the default start and duration; an interval's own intervalPeriod overrides them;
 * intervals without their own start follow one another. A duration absent or PT0S is "instantaneous
 * or infinity, depending on payloadType" (OpenAPI intervalPeriod): read here as instantaneous, an
 * interval that holds nothing, because the User Guide cancels an event with a "now" start and PT0S
 * (the VEN's intervals.ts reads it so too); open-ended is said with P9999Y.
 * 3.1.0 event.duration clips the event's span, or, longer than its intervals, repeats them
 * (P9999Y: indefinitely). Intervals that cannot be placed (no start anywhere) are in `unplaced`.
 */
export function eventSpans(event: Pick<OadrEvent, 'intervalPeriod' | 'intervals' | 'duration'>, opts: SpanOptions): { spans: IntervalSpan[]; unplaced: number[] } {
  const base = event.intervalPeriod;
  const startOf = (text: string): number => (isNowStart(text) ? opts.nowStartMs : Date.parse(text));
  const lengthFrom = (startMs: number, text: string | null | undefined): number => {
    const ms = text ? durationMs(text, startMs) : 0;
    return ms > 0 ? ms : 0;
  };
  const eventStart = base ? startOf(base.start) + randomizeOffsetMs(base.randomizeStart, opts.seed) : undefined;
  const spans: IntervalSpan[] = [];
  const unplaced: number[] = [];
  let cursor = eventStart;
  let sequentialOnly = true;
  for (const iv of event.intervals) {
    const own = iv.intervalPeriod;
    if (own) sequentialOnly = false;
    const start = own ? startOf(own.start) + randomizeOffsetMs(own.randomizeStart, `${opts.seed}/${iv.id}`) : cursor;
    if (start === undefined || !Number.isFinite(start)) {
      unplaced.push(iv.id);
      continue;
    }
    const end = start + lengthFrom(start, own?.duration ?? base?.duration);
    spans.push({ id: iv.id, startMs: start, endMs: end, payloads: iv.payloads });
    cursor = end;
  }
  if (!event.duration || eventStart === undefined) return { spans, unplaced };
  const eventEnd = eventStart + lengthFrom(eventStart, event.duration);
  const pass = spans.length > 0 ? spans[spans.length - 1].endMs - eventStart : 0;
  if (sequentialOnly && Number.isFinite(pass) && pass > 0) {
    const first = spans.slice();
    for (let k = 1; eventStart + k * pass < Math.min(eventEnd, opts.untilMs) && spans.length < MAX_SPANS; k++) {
      for (const s of first) spans.push({ ...s, startMs: s.startMs + k * pass, endMs: s.endMs + k * pass });
    }
  }
  const clipped = spans.filter((s) => s.startMs < eventEnd).map((s) => ({ ...s, endMs: Math.min(s.endMs, eventEnd) }));
  return { spans: clipped.slice(0, MAX_SPANS), unplaced };
}
