import { addDuration, durationMs, isNowStart, OPEN_ENDED_YEARS, parseDuration, randomizeOffsetMs, type IsoDuration } from './spec-time';

/**
 * An event's intervals laid out on the wall clock (User Guide §7.3 and §7.4): the event's
 * intervalPeriod is the default for each interval, an interval without a start follows the one
 * before, "0001-01-01" starts when the VEN first saw the event, "P9999Y" never ends,
 * randomizeStart shifts the starts by this VEN's own offset, and event.duration (3.1.0) cuts the
 * intervals short or loops them. Pure: the caller gives the times.
 */

/** the parts of an intervalPeriod this file reads (3.0.1 and 3.1.0 alike) */
export interface PeriodLike {
  start?: string | null;
  duration?: string | null;
  randomizeStart?: string | null;
}

/** the parts of an event this file reads */
export interface TimedEventLike {
  id?: string | null;
  duration?: string | null;
  intervalPeriod?: PeriodLike | null;
  intervals: { id: number; intervalPeriod?: PeriodLike | null; payloads: { type: string; values: unknown[] }[] }[];
}

/** one interval on the wall clock; end may be Infinity */
export interface Window {
  /** the interval's own id (a report quotes it) */
  intervalId: number;
  /** position in the event's sequence, counting loops (reportDescriptor.startInterval counts this) */
  index: number;
  start: number;
  end: number;
  payloads: { type: string; values: unknown[] }[];
}

export interface Layout {
  /** the intervals of one pass, in order */
  windows: Window[];
  /** when the event stops: the last window's end, or start + event.duration */
  end: number;
  /** length of one pass when event.duration loops the intervals (0: no loop) */
  loopMs: number;
}

export interface LayoutContext {
  /** when this VEN first saw the event: what a 'now' start means */
  firstSeenAt: number;
  /** key of this VEN (its name) for the randomizeStart offset */
  venKey: string;
}

/** a start as sent: wall ms, 'now', or undefined when it is not a date-time */
function readStart(text: string): number | 'now' | undefined {
  if (isNowStart(text)) return 'now';
  const t = Date.parse(text);
  return Number.isFinite(t) ? t : undefined;
}

/** a duration as sent, never negative (no interval runs backwards) */
function readSpan(text: string): IsoDuration | undefined {
  const d = parseDuration(text);
  return d && !d.negative ? d : undefined;
}

/** randomizeStart beyond this is a mistake, not a spread (the User Guide's examples are minutes) */
export const MAX_RANDOMIZE_MS = 24 * 3600_000;

/**
 * An event's intervals, or the reason they cannot be laid out (the event is then ignored).
 * One reading differs on purpose from spec-time.ts eventSpans: a duration absent or PT0S is
 * "instantaneous" and holds nothing, because the User Guide's cancellation (§7.9) is exactly
 * start "0001-01-01" with duration "PT0S"; read as open-ended it would start a perpetual event.
 */
export function layout(ev: TimedEventLike, ctx: LayoutContext): Layout | { problem: string } {
  const def = ev.intervalPeriod ?? undefined;
  const defStart = def?.start == null ? undefined : readStart(def.start);
  if (def?.start != null && defStart === undefined) return { problem: `intervalPeriod.start ${quote(def.start)} is not a date-time` };
  const defDuration = def?.duration == null ? undefined : readSpan(def.duration);
  if (def?.duration != null && !defDuration) return { problem: `intervalPeriod.duration ${quote(def.duration)} is not an ISO 8601 duration` };
  const seed = `${ctx.venKey}/${ev.id ?? ''}`;
  const offsetOf = (r: string, salt: string): number | { problem: string } => {
    const span = durationMs(r);
    if (Number.isNaN(span) || span < 0) return { problem: `randomizeStart ${quote(r)} is not an ISO 8601 duration` };
    if (span > MAX_RANDOMIZE_MS) return { problem: `randomizeStart ${r} is beyond a day` };
    return randomizeOffsetMs(r, salt);
  };

  const windows: Window[] = [];
  let offset = 0;
  let prevNominalEnd: number | undefined;
  for (let i = 0; i < ev.intervals.length; i++) {
    const iv = ev.intervals[i];
    const own = iv.intervalPeriod ?? undefined;
    const ownStart = own?.start == null ? undefined : readStart(own.start);
    if (own?.start != null && ownStart === undefined) return { problem: `intervals[${i}].intervalPeriod.start ${quote(own.start)} is not a date-time` };
    let nominal: number;
    if (typeof ownStart === 'number') nominal = ownStart;
    else if (i === 0 && typeof defStart === 'number') nominal = defStart;
    else if (i === 0 && (defStart === 'now' || ownStart === 'now')) nominal = ctx.firstSeenAt;
    else if (i > 0 && prevNominalEnd !== undefined) nominal = prevNominalEnd;
    else return { problem: 'the first interval has no start and the event no intervalPeriod' };
    // the first interval's offset carries on through the intervals that follow it; an interval
    // with its own randomizeStart draws its own (User Guide §7.3 intervalPeriod.randomizeStart)
    const randomize = i === 0 ? (own?.randomizeStart ?? def?.randomizeStart) : own?.randomizeStart;
    if (randomize != null) {
      const o = offsetOf(randomize, i === 0 ? seed : `${seed}/${iv.id}`);
      if (typeof o !== 'number') return o;
      offset = o;
    }
    let dur = defDuration;
    if (own?.duration != null) {
      dur = readSpan(own.duration);
      if (!dur) return { problem: `intervals[${i}].intervalPeriod.duration ${quote(own.duration)} is not an ISO 8601 duration` };
    }
    const nominalEnd = dur ? addDuration(nominal, dur) : nominal;
    prevNominalEnd = nominalEnd;
    windows.push({ intervalId: iv.id, index: i, start: nominal + offset, end: nominalEnd + offset, payloads: iv.payloads });
  }
  if (!windows.length) return { windows, end: -Infinity, loopMs: 0 };
  const first = windows[0].start;
  const passEnd = Math.max(...windows.map((w) => w.end));
  if (ev.duration == null) return { windows, end: passEnd, loopMs: 0 };
  const total = readSpan(ev.duration);
  if (!total) return { problem: `duration ${quote(ev.duration)} is not an ISO 8601 duration` };
  const end = total.years >= OPEN_ENDED_YEARS ? Infinity : addDuration(first, total);
  const pass = passEnd - first;
  // event.duration beyond one pass repeats the intervals (User Guide §7.3 event.duration)
  const loopMs = end > passEnd && Number.isFinite(pass) && pass > 0 ? pass : 0;
  return { windows, end, loopMs };
}

const quote = (s: unknown) => JSON.stringify(String(s).slice(0, 64));

/** the window in force at `now` (the last listed wins where intervals overlap), and the next instant anything changes */
export function windowAt(l: Layout, now: number): { window?: Window; nextChange?: number } {
  if (!l.windows.length || now >= l.end) return {};
  const first = l.windows[0].start;
  const pass = l.loopMs > 0 && now >= first ? Math.floor((now - first) / l.loopMs) : 0;
  const shift = pass * l.loopMs;
  let found: Window | undefined;
  let next = l.end;
  for (const w of l.windows) {
    const start = w.start + shift;
    const end = Math.min(w.end + shift, l.end);
    if (start > now) next = Math.min(next, start);
    else if (end > now) {
      found = { ...w, index: w.index + pass * l.windows.length, start, end };
      next = Math.min(next, end);
    }
  }
  if (l.loopMs > 0) next = Math.min(next, first + (pass + 1) * l.loopMs);
  return { window: found, nextChange: Number.isFinite(next) ? next : undefined };
}

/**
 * The windows of the event in order, looping included, up to `limit` of them: what reports count
 * intervals over. Windows of a pass cut by event.duration end there.
 */
export function sequence(l: Layout, limit = 10_000): Window[] {
  const out: Window[] = [];
  if (!l.windows.length) return out;
  const passes = l.loopMs > 0 ? Math.ceil((l.end - l.windows[0].start) / l.loopMs) : 1;
  for (let p = 0; p < passes && out.length < limit; p++) {
    for (const w of l.windows) {
      const start = w.start + p * l.loopMs;
      if (start >= l.end || out.length >= limit) break;
      out.push({ ...w, index: w.index + p * l.windows.length, start, end: Math.min(w.end + p * l.loopMs, l.end) });
    }
  }
  return out;
}
