import type { VtnEventRun } from '../openadr-rig';
import { clock } from './svg';
import type { TripSeen } from './summary';

/**
 * The site's response to a scenario's OpenADR events, read off the run: for each event what it
 * asks of the site (the agent's own reading of the payload types: DESIGN.md §9), when the site
 * first showed it after the event's start, and, for a deleted event, when its effect ended.
 * Pure: the run's log in, the report's rows out, so the checker is tested without a run.
 */

/** the agent's controller as its telemetry showed it (recorded on change) */
export interface OpenAdrSample {
  tS: number;
  targetKw?: number;
  state: string;
}

export interface OpenAdrLog {
  events: VtnEventRun[];
  samples: OpenAdrSample[];
  /** the agent's control.max_kw, simple_levels and max_price: what the events mean in kW */
  maxKw: number;
  simpleLevels: Record<string, number>;
  maxPrice?: number;
}

/** what an event asks of the site */
export type Effect =
  | { kind: 'curtail' }
  | { kind: 'cap'; kw: number }
  | { kind: 'setpoint'; kw: number }
  | { kind: 'reduce' }
  | { kind: 'none'; why: string };

export interface OpenAdrResponse {
  name: string;
  program: string;
  type: string;
  value: number | string;
  priority?: number;
  created_s: number;
  start_s: number;
  end_s?: number;
  deleted_s?: number;
  /** what the event asks, in words ("curtail", "target <= 3 kW", "target reduced", "none: …") */
  asks: string;
  /** seconds after its start the site first showed it; null: never (within the event) */
  seen_after_s: number | null;
  target_kw?: number;
  state?: string;
  /** a deleted curtailment: seconds after the deletion the site was no longer curtailed */
  ended_after_s?: number | null;
  /** outweighed by an event of the same type and a higher priority: its effect is not expected */
  outweighed_by?: string;
  error?: string;
}

/** a target within this of the cap still meets it (telemetry rounds to the watt, ramps overshoot a step) */
const KW_SLACK = 0.05;
/** a target this close to a dispatch setpoint meets it */
const SETPOINT_SLACK_KW = 0.1;
/** a reduction smaller than this is noise of the surplus, not the event's */
const REDUCE_MIN_KW = 0.2;

const r1 = (x: number) => Math.round(x * 10) / 10;

export function effectOf(e: VtnEventRun, log: Pick<OpenAdrLog, 'maxKw' | 'simpleLevels' | 'maxPrice'>): Effect {
  const n = typeof e.value === 'number' ? e.value : Number.NaN;
  switch (e.type) {
    case 'ALERT_GRID_EMERGENCY': return { kind: 'curtail' };
    case 'SIMPLE': {
      const share = log.simpleLevels[String(n)];
      if (share === undefined) return { kind: 'none', why: `level ${e.value} has no share` };
      return share === 0 ? { kind: 'curtail' } : { kind: 'cap', kw: share * log.maxKw };
    }
    case 'PRICE':
      if (log.maxPrice === undefined) return { kind: 'none', why: 'no max_price' };
      return n > log.maxPrice ? { kind: 'cap', kw: 0 } : { kind: 'none', why: `at or below max_price ${log.maxPrice}` };
    case 'DISPATCH_SETPOINT': return { kind: 'setpoint', kw: n };
    case 'IMPORT_CAPACITY_LIMIT': return { kind: 'reduce' };
  }
}

function asks(x: Effect): string {
  switch (x.kind) {
    case 'curtail': return 'curtail';
    case 'cap': return `target <= ${r1(x.kw)} kW`;
    case 'setpoint': return `target ${r1(x.kw)} kW`;
    case 'reduce': return 'target reduced';
    case 'none': return `none (${x.why})`;
  }
}

/** the sample in force at tS (the last at or before it) */
function sampleAt(samples: readonly OpenAdrSample[], tS: number): OpenAdrSample | undefined {
  let s: OpenAdrSample | undefined;
  for (const x of samples) {
    if (x.tS > tS) break;
    s = x;
  }
  return s;
}

/** an event of the same type in force beside this one with a higher priority (lower number) */
function outweighing(e: VtnEventRun, all: readonly VtnEventRun[]): VtnEventRun | undefined {
  const p = e.priority ?? Infinity;
  const endOf = (x: VtnEventRun) => Math.min(x.endS ?? Infinity, x.deletedS ?? Infinity);
  const over = (o: VtnEventRun) => o.startS < endOf(e) && e.startS < endOf(o);
  return all.find((o) => o !== e && !o.error && o.type === e.type && (o.priority ?? Infinity) < p && over(o));
}

const curtailed = (s: OpenAdrSample | undefined) => s?.state === 'curtailed' || s?.state === 'tripped';

export function openAdrResponses(log: OpenAdrLog, trips: readonly TripSeen[], runEndS: number): OpenAdrResponse[] {
  return log.events.map((e) => {
    const effect = effectOf(e, log);
    const until = Math.min(e.endS ?? Infinity, e.deletedS ?? Infinity, runEndS);
    const out: OpenAdrResponse = {
      name: e.name, program: e.program, type: e.type, value: e.value, ...(e.priority !== undefined ? { priority: e.priority } : {}),
      created_s: r1(e.createdS), start_s: r1(e.startS), ...(e.endS !== undefined ? { end_s: r1(e.endS) } : {}), ...(e.deletedS !== undefined ? { deleted_s: r1(e.deletedS) } : {}),
      asks: asks(effect), seen_after_s: null, ...(e.error ? { error: e.error } : {}),
    };
    const above = outweighing(e, log.events);
    if (above) out.outweighed_by = `${above.name} (priority ${above.priority})`;
    if (e.error || effect.kind === 'none') return out;
    let seenAt: number | undefined;
    /** the controller's figures that showed it (telemetry comes a moment after the trip event) */
    let shown: OpenAdrSample | undefined;
    if (effect.kind === 'curtail' && !above) {
      seenAt = trips.find((t) => t.source === 'openadr' && t.tS >= e.startS - 0.5 && t.tS <= until)?.tS;
      if (seenAt !== undefined) shown = log.samples.find((s) => s.tS >= seenAt! && curtailed(s));
    }
    else if (effect.kind !== 'curtail') {
      const before = sampleAt(log.samples, e.startS)?.targetKw;
      const meets = (s: OpenAdrSample) => s.targetKw !== undefined && (
        effect.kind === 'cap' ? s.targetKw <= effect.kw + KW_SLACK
          // a setpoint replaces the mode's target (it may raise it); a stricter cap beside it is that event's to show
          : effect.kind === 'setpoint' ? Math.abs(s.targetKw - effect.kw) <= SETPOINT_SLACK_KW
            : before !== undefined && s.targetKw <= before - REDUCE_MIN_KW);
      // the figure in force at the start counts too: a cap the site already keeps is met at once
      const inForce = sampleAt(log.samples, e.startS);
      const hit = [...(inForce ? [inForce] : []), ...log.samples.filter((s) => s.tS > e.startS && s.tS <= until)].find(meets);
      if (hit) {
        seenAt = Math.max(hit.tS, e.startS);
        shown = hit;
      }
    }
    if (seenAt !== undefined) {
      out.seen_after_s = r1(seenAt - e.startS);
      if (shown?.targetKw !== undefined) out.target_kw = Math.round(shown.targetKw * 100) / 100;
      if (shown) out.state = shown.state;
    }
    if (effect.kind === 'curtail' && !above && e.deletedS !== undefined) {
      const back = log.samples.find((s) => s.tS >= e.deletedS! && !curtailed(s));
      out.ended_after_s = back ? r1(back.tS - e.deletedS) : null;
    }
    return out;
  });
}

export interface ObeyedVerdict {
  pass: boolean;
  /** some evidence may still come: the run ended before an event's start + limit */
  later: boolean;
  measured: string;
}

/**
 * openadr-obeyed-within: every event created in the run shows its effect within `limitS` of its
 * start, every deleted curtailment ends within `limitS` of the deletion, and an outweighed
 * curtailment never curtails (no openadr trip while only it asked for one).
 */
export function checkObeyed(rows: readonly OpenAdrResponse[], trips: readonly TripSeen[], limitS: number, runEndS: number): ObeyedVerdict {
  if (!rows.length) return { pass: false, later: true, measured: 'no OpenADR event was created in this run' };
  const problems: string[] = [];
  let later = false;
  let slowest: { s: number; name: string } | undefined;
  for (const x of rows) {
    if (x.error) { problems.push(`${x.name}: the VTN refused it (${x.error})`); continue; }
    if (x.outweighed_by) {
      const wrongTrip = x.asks === 'curtail' && trips.some((t) => t.source === 'openadr' && t.tS >= x.start_s && t.tS < (x.end_s ?? Infinity) && !rows.some((o) => o !== x && !o.outweighed_by && o.asks === 'curtail' && t.tS >= o.start_s - 0.5 && t.tS <= (o.deleted_s ?? o.end_s ?? Infinity)));
      if (wrongTrip) problems.push(`${x.name}: curtailed although ${x.outweighed_by} outweighs it`);
      continue;
    }
    if (x.asks.startsWith('none')) continue;
    if (x.seen_after_s === null) {
      if (runEndS < x.start_s + limitS) later = true;
      else problems.push(`${x.name}: no effect seen`);
    } else {
      if (x.seen_after_s > limitS) problems.push(`${x.name}: seen ${x.seen_after_s} s after its start`);
      if (!slowest || x.seen_after_s > slowest.s) slowest = { s: x.seen_after_s, name: x.name };
    }
    if (x.deleted_s !== undefined && x.ended_after_s !== undefined) {
      if (x.ended_after_s === null) {
        if (runEndS < x.deleted_s + limitS) later = true;
        else problems.push(`${x.name}: still curtailed after its deletion`);
      } else if (x.ended_after_s > limitS) problems.push(`${x.name}: its curtailment ended ${x.ended_after_s} s after the deletion`);
    }
  }
  const parts = [`${rows.length} event${rows.length === 1 ? '' : 's'}`];
  if (slowest) parts.push(`slowest effect ${slowest.s} s after its start (${slowest.name})`);
  parts.push(...problems.slice(0, 5));
  return { pass: problems.length === 0 && !later, later, measured: parts.join('; ') };
}

/** the summary's line on the OpenADR events and the site's response (the report has the table) */
export function openAdrLine(rows: readonly OpenAdrResponse[]): string {
  const one = (x: OpenAdrResponse) => {
    const how = x.error ? 'refused by the VTN'
      : x.outweighed_by ? `outweighed by ${x.outweighed_by}`
        : x.seen_after_s === null ? (x.asks.startsWith('none') ? 'nothing asked' : 'no effect seen')
          : `${x.asks}, seen after ${x.seen_after_s} s${x.ended_after_s != null ? `, ended ${x.ended_after_s} s after its deletion` : ''}`;
    return `${x.name} ${x.type} at ${clock(x.start_s, true)} (${how})`;
  };
  return `openadr: ${rows.length ? rows.map(one).join(', ') : 'no event created'}`;
}
