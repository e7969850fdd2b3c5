import type { Logger } from '../../log';
import type { SiteReading } from './directive';
import { layout, sequence, type Window } from './intervals';
import { AGGREGATED_REPORT, type ReportDescriptor, type ReportRequest, type ValuesMap } from './spec';
import type { HeldEvent } from './store';
import { isoDuration, isoTime } from './timing';

/**
 * Reports as an event's reportDescriptors ask for them (User Guide §7.5 "Report Management"),
 * from the same site readings as telemetry: USAGE (the miners' energy over each interval), DEMAND
 * (their mean power, or the peak for readingType PEAK) and OPERATING_STATE (Definitions, Table 4).
 *
 * The timing fields read as the User Guide's examples draw them: report k is made when interval
 * startInterval + k·frequency ends (startInterval -1: the last interval; frequency -1: as
 * numIntervals; numIntervals -1: every interval since the report before), it covers the
 * numIntervals intervals up to that one, and repeat bounds how many are made (-1: no bound).
 * Forecasts (historical false) are not made: the agent has no honest forecast to give. Reports
 * whose interval ended before the VEN first saw the event are not made (§7.5 "do it now"
 * reporting). An interval the agent did not watch whole is reported with a DATA_QUALITY payload.
 */

export const PRODUCED = ['USAGE', 'DEMAND', 'OPERATING_STATE'] as const;

/** what the VEN gathered for one interval */
interface Acc {
  /** kW·ms of the miners over the watched part (energy = kWms / 3.6e6 kWh) */
  kwMs: number;
  watchedMs: number;
  peakKw: number;
  state?: string;
}

/** the book's part of the VEN's stored state: per event, the figures per interval start and the reports made */
export type ReportBookState = Record<string, { acc?: Record<string, Acc>; made?: string[] }>;

interface Plan {
  held: HeldEvent;
  windows: Window[];
  /** whether the event's intervals loop (an anchor of -1 then means the end of each pass) */
  passLength: number;
  descriptors: ReportDescriptor[];
}

/** a watched span shorter than this share of its interval is reported as estimated */
const WATCHED_WHOLE = 0.95;
/** below this the miners are idle (kW) */
const IDLE_KW = 0.05;

const ENERGY_UNITS: Record<string, number> = { KWH: 1, WH: 1000, MWH: 0.001 };
const POWER_UNITS: Record<string, number> = { KW: 1, W: 1000, MW: 0.001 };

export interface ReportBookOptions {
  venName: string;
  resourceName: string;
  log: Logger;
}

export class ReportBook {
  private plans = new Map<string, Plan>();
  private last?: { reading: SiteReading; constrained: boolean };
  private readonly warned = new Set<string>();

  constructor(private readonly o: ReportBookOptions, private book: ReportBookState = {}) {}

  /** the events held now: plans for those that ask for reports; figures of the others dropped */
  track(events: readonly HeldEvent[]): void {
    this.plans.clear();
    for (const h of events) {
      const id = h.event.id;
      const wanted = (h.event.reportDescriptors ?? []).filter((d) => this.supported(id, d));
      if (!wanted.length) continue;
      const l = layout(h.event, { firstSeenAt: h.firstSeenAt, venKey: this.o.venName });
      if ('problem' in l) continue;
      this.plans.set(id, { held: h, windows: sequence(l, 2000), passLength: l.loopMs > 0 ? l.windows.length : 0, descriptors: wanted });
    }
    for (const id of Object.keys(this.book)) if (!this.plans.has(id)) delete this.book[id];
  }

  /**
   * One site reading. The span since the reading before is credited to every interval it
   * overlaps, at the earlier reading's figures; a span longer than `maxGapMs` (the agent was
   * stopped, or stalled) is not credited at all.
   */
  sample(reading: SiteReading, constrained: boolean, maxGapMs: number): void {
    const prev = this.last;
    this.last = { reading, constrained };
    if (!prev || reading.at <= prev.reading.at || reading.at - prev.reading.at > maxGapMs) return;
    const a = prev.reading.at;
    const b = reading.at;
    const kw = Math.max(0, finite(prev.reading.minersKw));
    const state = operatingState(prev.reading, prev.constrained);
    for (const [id, plan] of this.plans) {
      for (const w of plan.windows) {
        const ms = Math.min(b, w.end) - Math.max(a, w.start);
        if (ms <= 0) continue;
        const accs = (this.entry(id).acc ??= {});
        const acc = (accs[String(w.start)] ??= { kwMs: 0, watchedMs: 0, peakKw: 0 });
        acc.kwMs += kw * ms;
        acc.watchedMs += ms;
        acc.peakKw = Math.max(acc.peakKw, kw);
        acc.state = state;
      }
    }
  }

  /** the reports due by `now`, each made once */
  due(now: number): ReportRequest[] {
    const out: ReportRequest[] = [];
    for (const [id, plan] of this.plans) {
      const entry = this.entry(id);
      const made = new Set(entry.made ?? []);
      plan.descriptors.forEach((d, di) => {
        let prevAnchor = -1;
        for (const anchor of anchors(d, plan)) {
          const w = plan.windows[anchor];
          const key = `${di}:${anchor}`;
          if (!w || w.end > now || !Number.isFinite(w.end)) break;
          const from = (d.numIntervals ?? -1) > 0 ? Math.max(0, anchor - (d.numIntervals as number) + 1) : prevAnchor + 1;
          prevAnchor = anchor;
          if (made.has(key)) continue;
          made.add(key);
          // its interval ended before this VEN knew of the event: nothing watched, nothing to say
          if (w.end <= plan.held.firstSeenAt) continue;
          out.push(this.report(plan, d, plan.windows.slice(from, anchor + 1), entry.acc ?? {}));
        }
      });
      entry.made = [...made];
    }
    return out;
  }

  /** the book as stored */
  state(): ReportBookState {
    return this.book;
  }

  private entry(id: string) {
    return (this.book[id] ??= {});
  }

  private supported(eventId: string, d: ReportDescriptor): boolean {
    const once = (why: string) => {
      const k = `${eventId}/${d.payloadType}/${why}`;
      if (this.warned.has(k)) return;
      this.warned.add(k);
      this.o.log.warn({ event: eventId, payload_type: d.payloadType.slice(0, 64) }, `openadr report not made: ${why}`);
    };
    if (!(PRODUCED as readonly string[]).includes(d.payloadType)) return once('a payload type this agent does not report'), false;
    if (d.historical === false) return once('forecasts (historical false) are not made'), false;
    const units = d.units?.toUpperCase();
    if (d.payloadType === 'USAGE' && units && ENERGY_UNITS[units] === undefined) return once(`USAGE in ${units} (not KWH, WH or MWH)`), false;
    if (d.payloadType === 'DEMAND' && units && POWER_UNITS[units] === undefined) return once(`DEMAND in ${units} (not KW, W or MW)`), false;
    return true;
  }

  private report(plan: Plan, d: ReportDescriptor, windows: Window[], accs: Record<string, Acc>): ReportRequest {
    const ev = plan.held.event;
    const type = d.payloadType;
    const units = (d.units ?? (type === 'USAGE' ? 'KWH' : type === 'DEMAND' ? 'KW' : '')).toUpperCase();
    const readingType = type === 'DEMAND' ? (d.readingType === 'PEAK' ? 'PEAK' : 'MEAN') : (d.readingType ?? 'DIRECT_READ');
    const intervals = windows.map((w) => {
      const acc = accs[String(w.start)];
      const span = w.end - w.start;
      const watched = acc?.watchedMs ?? 0;
      const quality = watched <= 0 ? 'MISSING' : watched < WATCHED_WHOLE * span ? 'ESTIMATED' : 'OK';
      const meanKw = acc && watched > 0 ? acc.kwMs / watched : 0;
      const payloads: ValuesMap[] = [];
      if (type === 'USAGE') {
        // an interval watched in part: its mean power over the whole interval (an estimate, marked so)
        const kwh = quality === 'OK' ? (acc as Acc).kwMs / 3.6e6 : (meanKw * span) / 3.6e6;
        payloads.push({ type, values: [round(kwh * ENERGY_UNITS[units])] });
      } else if (type === 'DEMAND') {
        payloads.push({ type, values: [round((readingType === 'PEAK' ? acc?.peakKw ?? 0 : meanKw) * POWER_UNITS[units])] });
      } else {
        payloads.push({ type, values: acc?.state ? [acc.state] : [] });
      }
      if (quality !== 'OK') payloads.push({ type: 'DATA_QUALITY', values: [quality] });
      return { id: w.intervalId, intervalPeriod: { start: isoTime(w.start), duration: isoDuration(span) }, payloads };
    });
    return {
      // 3.0.1 requires programID in a report; 3.1.0 dropped it and ignores it
      programID: ev.programID,
      eventID: ev.id,
      clientName: this.o.venName,
      reportName: `${type} ${ev.eventName ?? ev.id}`.slice(0, 128),
      payloadDescriptors: [{ objectType: 'REPORT_PAYLOAD_DESCRIPTOR', payloadType: type, readingType, ...(units ? { units } : {}) }],
      resources: [{ resourceName: d.aggregate ? AGGREGATED_REPORT : this.o.resourceName, intervals }],
    };
  }
}

/** the indices of the intervals each report of a descriptor ends with, in order */
function* anchors(d: ReportDescriptor, plan: Plan): Generator<number> {
  const n = plan.windows.length;
  const num = d.numIntervals ?? -1;
  const freq = d.frequency ?? -1;
  const repeat = d.repeat ?? 1;
  let start = d.startInterval ?? -1;
  let step = freq > 0 ? freq : num > 0 ? num : n;
  // looping intervals: -1 is the end of every pass (User Guide §7.5 "Looping intervals")
  if (start < 0 && plan.passLength > 0) {
    start = plan.passLength - 1;
    if (freq <= 0 && num <= 0) step = plan.passLength;
  } else if (start < 0) start = n - 1;
  for (let k = 0; (repeat < 0 || k < repeat) && start + k * step < n; k++) yield start + k * step;
}

/** OPERATING_STATE of the miners from a site reading (Definitions, Table 4) */
export function operatingState(r: SiteReading, constrained: boolean): string {
  if (r.state === 'fault') return 'ERROR';
  const idle = r.state === 'curtailed' || r.state === 'tripped' || !(finite(r.minersKw) >= IDLE_KW);
  if (constrained) return idle ? 'IDLE_CURTAILED' : 'RUNNING_CURTAILED';
  return idle ? 'IDLE_NORMAL' : 'RUNNING_NORMAL';
}

const finite = (x: number) => (Number.isFinite(x) ? x : 0);
const round = (x: number) => Math.round(x * 1e6) / 1e6;
