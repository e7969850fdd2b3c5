import type { OpenAdrDirective } from './directive';
import { layout, windowAt, type TimedEventLike } from './intervals';
import { PAYLOAD_RULES, type Contribution, type PayloadContext, type PayloadDescriptorLike } from './payloads';

/**
 * What the events in force ask of the site at one instant (pure: events + now + settings in,
 * directive out). Each event's intervals are laid out on the clock (intervals.ts), the payloads
 * of the interval in force are read by their type's rule (payloads.ts), and where events of one
 * payload type overlap the highest priority wins (lower number = higher priority, absent = lowest:
 * User Guide §7.1), then the most restrictive value among those of equal priority. Different
 * types do not conflict (a price and an alert both hold): every cap applies.
 * Whatever cannot be read is ignored with its reason, never guessed at.
 */

/** the parts of an event resolve reads (the spec's event object satisfies it) */
export interface ResolvableEvent extends TimedEventLike {
  id?: string | null;
  programID: string;
  eventName?: string | null;
  priority?: number | null;
  payloadDescriptors?: PayloadDescriptorLike[] | null;
}

/** an event the VEN holds, with what resolve needs besides the event */
export interface EventInForce {
  event: ResolvableEvent;
  /** the program's name (for telemetry) */
  programName: string;
  /** the program's payloadDescriptors: defaults for its events (User Guide §7.6) */
  programDescriptors?: PayloadDescriptorLike[] | null;
  /** when this VEN first saw the event (wall ms): what a 'now' start means */
  firstSeenAt: number;
}

export interface ResolveContext extends PayloadContext {
  now: number;
  /** this VEN's name: the key of its randomizeStart offsets */
  venKey: string;
}

export interface Ignored {
  program: string;
  event: string;
  type?: string;
  reason: string;
}

export interface Resolution {
  directive: OpenAdrDirective;
  /** payloads and events left out, with why (logged once by the VEN) */
  ignored: Ignored[];
  /** payloads in force but outweighed by a higher priority or a stricter value of their type */
  outweighed: Ignored[];
}

interface Candidate extends Contribution {
  program: string;
  event: string;
  type: string;
  priority: number;
  until?: number;
}

export function resolve(events: readonly EventInForce[], ctx: ResolveContext): Resolution {
  const ignored: Ignored[] = [];
  const outweighed: Ignored[] = [];
  const byType = new Map<string, Candidate[]>();
  let nextChangeAt = Infinity;
  for (const held of events) {
    const ev = held.event;
    const name = ev.eventName || ev.id || '(unnamed)';
    const skip = (reason: string, type?: string) => ignored.push({ program: held.programName, event: name, ...(type ? { type } : {}), reason });
    const l = layout(ev, { firstSeenAt: held.firstSeenAt, venKey: ctx.venKey });
    if ('problem' in l) {
      skip(l.problem);
      continue;
    }
    const { window, nextChange } = windowAt(l, ctx.now);
    if (nextChange !== undefined) nextChangeAt = Math.min(nextChangeAt, nextChange);
    if (!window) continue;
    const priority = typeof ev.priority === 'number' && Number.isInteger(ev.priority) && ev.priority >= 0 ? ev.priority : Infinity;
    for (const p of window.payloads) {
      const rule = PAYLOAD_RULES[p.type];
      if (!rule) {
        skip(`payload type ${JSON.stringify(String(p.type).slice(0, 64))} is not one this agent acts on`, String(p.type).slice(0, 64));
        continue;
      }
      const values = Array.isArray(p.values) ? p.values : [];
      if (!values.length) {
        skip('no value', p.type);
        continue;
      }
      // several values share the interval evenly, one sub-interval each (User Guide §7.3 multi-valued payloads)
      let value = values[0];
      let until = Number.isFinite(window.end) ? window.end : undefined;
      if (values.length > 1 && rule.numeric) {
        if (!Number.isFinite(window.end)) {
          skip(`${values.length} values over an open-ended interval`, p.type);
          continue;
        }
        const sub = (window.end - window.start) / values.length;
        const i = Math.min(values.length - 1, Math.floor((ctx.now - window.start) / sub));
        value = values[i];
        until = window.start + (i + 1) * sub;
        nextChangeAt = Math.min(nextChangeAt, until);
      }
      const descriptor = findDescriptor(p.type, ev.payloadDescriptors, held.programDescriptors);
      const got = rule.read(value, descriptor, ctx);
      if ('problem' in got) {
        skip(got.problem, p.type);
        continue;
      }
      const list = byType.get(p.type) ?? [];
      list.push({ ...got, program: held.programName, event: name, type: p.type, priority, until });
      byType.set(p.type, list);
    }
  }

  const directive: OpenAdrDirective = { curtail: false, active: [] };
  let cap = Infinity;
  let setpoint = Infinity;
  let importLimit = Infinity;
  for (const [type, list] of byType) {
    const best = Math.min(...list.map((c) => c.priority));
    const top = list.filter((c) => c.priority === best);
    for (const c of list) if (c.priority !== best) outweighed.push({ program: c.program, event: c.event, type, reason: `priority ${show(c.priority)} is below ${show(best)}` });
    // most restrictive first: the lowest power allowed; a curtailment is the lowest of all
    const strictness = (c: Candidate) => (c.curtail ? -Infinity : Math.min(c.capKw ?? Infinity, c.setpointKw ?? Infinity, c.importLimitKw ?? Infinity));
    const winners = PAYLOAD_RULES[type].cumulative ? top : [top.reduce((a, b) => (strictness(b) < strictness(a) ? b : a))];
    for (const c of top) if (!winners.includes(c)) outweighed.push({ program: c.program, event: c.event, type, reason: 'a stricter value of the same priority is in force' });
    for (const c of winners) {
      if (c.curtail) directive.curtail = true;
      if (c.capKw !== undefined) cap = Math.min(cap, c.capKw);
      if (c.setpointKw !== undefined) setpoint = Math.min(setpoint, c.setpointKw);
      if (c.importLimitKw !== undefined) importLimit = Math.min(importLimit, c.importLimitKw);
      directive.active.push({ program: c.program, event: c.event, type, value: c.shown, ...(c.until !== undefined ? { until: c.until } : {}) });
    }
  }
  if (directive.curtail) cap = 0;
  if (Number.isFinite(cap)) directive.minersMaxKw = round(cap);
  if (Number.isFinite(setpoint)) directive.setpointKw = round(Math.min(setpoint, cap, ctx.maxKw));
  if (Number.isFinite(importLimit)) directive.importLimitKw = round(importLimit);
  directive.active.sort((a, b) => a.program.localeCompare(b.program) || a.event.localeCompare(b.event) || a.type.localeCompare(b.type));
  if (Number.isFinite(nextChangeAt)) directive.nextChangeAt = nextChangeAt;
  return { directive, ignored, outweighed };
}

/** the event's descriptor for a payload type, else the program's (User Guide §7.6) */
function findDescriptor(type: string, own?: PayloadDescriptorLike[] | null, program?: PayloadDescriptorLike[] | null): PayloadDescriptorLike | undefined {
  const match = (list?: PayloadDescriptorLike[] | null) => (Array.isArray(list) ? list.find((d) => d && d.payloadType === type && d.objectType !== 'REPORT_PAYLOAD_DESCRIPTOR') : undefined);
  return match(own) ?? match(program);
}

const show = (p: number) => (Number.isFinite(p) ? String(p) : 'none');
/** kW to the watt: the figures travel to telemetry and Modbus registers */
const round = (kw: number) => Math.round(kw * 1000) / 1000;
