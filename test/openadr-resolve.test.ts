import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolve, type EventInForce, type ResolvableEvent, type ResolveContext } from '../agent/grid/openadr/resolve';
import { layout, windowAt, MAX_RANDOMIZE_MS } from '../agent/grid/openadr/intervals';

/**
 * resolve.ts with plain objects: every payload type the agent obeys, units, overlaps by priority
 * and by the strictest value, the spec's 'now' start, open-ended and looping events,
 * randomizeStart, and the values it must leave alone.
 */

const T0 = Date.UTC(2026, 0, 1, 12);
const H = 3600_000;
const iso = (ms: number) => new Date(ms).toISOString();

const ctx = (over: Partial<ResolveContext> = {}): ResolveContext => ({
  now: T0,
  venKey: 'north-field',
  maxKw: 12,
  simpleLevels: { 1: 0.5, 2: 0.25, 3: 0 },
  maxPrice: 0.08,
  ...over,
});

let n = 0;
/** one event of one interval from T0 for an hour (unless told otherwise) */
function ev(type: string, values: unknown[], over: Partial<ResolvableEvent> = {}, units?: string): ResolvableEvent {
  n++;
  return {
    id: `e${n}`,
    programID: 'p1',
    eventName: `event-${n}`,
    intervalPeriod: { start: iso(T0), duration: 'PT1H' },
    payloadDescriptors: units ? [{ payloadType: type, units }] : undefined,
    intervals: [{ id: 0, payloads: [{ type, values }] }],
    ...over,
  };
}
const held = (event: ResolvableEvent, over: Partial<EventInForce> = {}): EventInForce => ({ event, programName: 'ers-30', firstSeenAt: T0, ...over });
const run = (events: ResolvableEvent[], c: Partial<ResolveContext> = {}) => resolve(events.map((e) => held(e)), ctx(c));

test('With no event in force the directive asks nothing', () => {
  const r = run([]);
  assert.equal(r.directive, { curtail: false, active: [] });
});

test('A SIMPLE level caps the miners at its share of max_kw until the interval ends', () => {
  const { directive } = run([ev('SIMPLE', [1])]);
  assert.is(directive.curtail, false);
  assert.is(directive.minersMaxKw, 6);
  assert.is(directive.active.length, 1);
  assert.equal(directive.active[0], { program: 'ers-30', event: 'event-' + n, type: 'SIMPLE', value: 1, until: T0 + H });
  assert.is(directive.nextChangeAt, T0 + H);
});

test('A SIMPLE level whose share is 0 curtails', () => {
  const { directive } = run([ev('SIMPLE', [3])]);
  assert.is(directive.curtail, true);
  assert.is(directive.minersMaxKw, 0);
});

test('SIMPLE level 0 is normal operation: in force, listed, asking nothing', () => {
  const { directive, ignored } = run([ev('SIMPLE', [0])]);
  assert.is(directive.curtail, false);
  assert.is(directive.minersMaxKw, undefined);
  assert.is(directive.active[0].value, 0);
  assert.is(ignored.length, 0);
});

test('A SIMPLE level with no share in simple_levels is ignored with its reason', () => {
  const { directive, ignored } = run([ev('SIMPLE', [2])], { simpleLevels: { 3: 0 } });
  assert.equal(directive, { curtail: false, active: [], nextChangeAt: T0 + H });
  assert.match(ignored[0].reason, /level 2 has no share/);
});

test('SIMPLE values that are not 0..3 integers are ignored, never rounded or parsed', () => {
  for (const v of [7, -1, 1.5, '1', null, true]) {
    const { directive, ignored } = run([ev('SIMPLE', [v])]);
    assert.is(directive.minersMaxKw, undefined, `value ${String(v)}`);
    assert.is(directive.curtail, false);
    assert.match(ignored[0].reason, /is not 0, 1, 2 or 3/);
  }
});

test('A PRICE above max_price stops mining; at or below it asks nothing', () => {
  assert.is(run([ev('PRICE', [0.09])]).directive.minersMaxKw, 0);
  const at = run([ev('PRICE', [0.08])]).directive;
  assert.is(at.minersMaxKw, undefined);
  assert.is(at.active[0].value, 0.08);
  assert.is(run([ev('PRICE', [-0.02])]).directive.minersMaxKw, undefined, 'a negative price mines');
});

test('Without max_price a PRICE is shown and never obeyed', () => {
  const { directive } = run([ev('PRICE', [5])], { maxPrice: undefined });
  assert.is(directive.minersMaxKw, undefined);
  assert.equal(directive.active.map((a) => a.value), [5]);
});

test('A PRICE is converted from the units of its descriptor to a price per kWh', () => {
  assert.is(run([ev('PRICE', [80], {}, 'MWH')]).directive.minersMaxKw, undefined, '80 per MWh is 0.08 per kWh');
  assert.is(run([ev('PRICE', [81], {}, 'MWH')]).directive.minersMaxKw, 0);
  assert.is(run([ev('PRICE', [0.00009], {}, 'WH')]).directive.minersMaxKw, 0, '0.00009 per Wh is 0.09 per kWh');
  const therms = run([ev('PRICE', [0.01], {}, 'THERMS')]);
  assert.is(therms.directive.minersMaxKw, undefined);
  assert.match(therms.ignored[0].reason, /not a price of electric energy/);
});

test('A PRICE in another currency than max_price is ignored', () => {
  const e = ev('PRICE', [1]);
  e.payloadDescriptors = [{ payloadType: 'PRICE', units: 'KWH', currency: 'EUR' }];
  const r = run([e], { currency: 'USD' });
  assert.is(r.directive.minersMaxKw, undefined);
  assert.match(r.ignored[0].reason, /EUR/);
  assert.is(run([e], { currency: 'EUR' }).directive.minersMaxKw, 0);
});

test('A payload without a descriptor of its own takes the program\'s', () => {
  const e = ev('PRICE', [81]);
  const r = resolve([held(e, { programDescriptors: [{ payloadType: 'PRICE', units: 'MWH', currency: 'USD' }] })], ctx());
  assert.is(r.directive.minersMaxKw, 0, '81 per MWh is above 0.08 per kWh');
  const cheap = resolve([held(ev('PRICE', [79]), { programDescriptors: [{ payloadType: 'PRICE', units: 'MWH' }] })], ctx());
  assert.is(cheap.directive.minersMaxKw, undefined);
});

test('Several prices in one interval share it evenly, and the directive changes at each sub-interval', () => {
  const e = ev('PRICE', [0.05, 0.2, 0.03], { intervalPeriod: { start: iso(T0), duration: 'PT3H' } });
  const at = (ms: number) => run([e], { now: ms }).directive;
  assert.is(at(T0 + 10 * 60_000).minersMaxKw, undefined);
  assert.is(at(T0 + 10 * 60_000).nextChangeAt, T0 + H);
  assert.is(at(T0 + 1.5 * H).minersMaxKw, 0);
  assert.is(at(T0 + 1.5 * H).active[0].until, T0 + 2 * H);
  assert.is(at(T0 + 2.5 * H).minersMaxKw, undefined);
});

test('IMPORT_CAPACITY_LIMIT is read in the units its descriptor gives', () => {
  assert.is(run([ev('IMPORT_CAPACITY_LIMIT', [5000], {}, 'W')]).directive.importLimitKw, 5);
  assert.is(run([ev('IMPORT_CAPACITY_LIMIT', [0.004], {}, 'MW')]).directive.importLimitKw, 4);
  assert.is(run([ev('IMPORT_CAPACITY_LIMIT', [7])]).directive.importLimitKw, 7, 'no units: kW');
  assert.is(run([ev('IMPORT_CAPACITY_LIMIT', [-2])]).directive.importLimitKw, -2, 'a limit below zero asks for export');
});

test('An IMPORT_CAPACITY_LIMIT in energy units or beyond any site is ignored', () => {
  const kwh = run([ev('IMPORT_CAPACITY_LIMIT', [5], {}, 'KWH')]);
  assert.is(kwh.directive.importLimitKw, undefined);
  assert.match(kwh.ignored[0].reason, /not a power/);
  for (const v of [1e12, Number.NaN, 'lots']) {
    const r = run([ev('IMPORT_CAPACITY_LIMIT', [v])]);
    assert.is(r.directive.importLimitKw, undefined, String(v));
    assert.is(r.ignored.length, 1);
  }
});

test('DISPATCH_SETPOINT sets the miners\' target, never above a cap in force or max_kw', () => {
  assert.is(run([ev('DISPATCH_SETPOINT', [4])]).directive.setpointKw, 4);
  assert.is(run([ev('DISPATCH_SETPOINT', [4000], {}, 'W')]).directive.setpointKw, 4);
  assert.is(run([ev('DISPATCH_SETPOINT', [0.25], {}, 'PERCENT')]).directive.setpointKw, 3, 'a quarter of max_kw');
  assert.is(run([ev('DISPATCH_SETPOINT', [30])]).directive.setpointKw, 12, 'held at max_kw');
  const both = run([ev('DISPATCH_SETPOINT', [10]), ev('SIMPLE', [1])]).directive;
  assert.is(both.setpointKw, 6, 'under the SIMPLE cap');
  assert.is(both.minersMaxKw, 6);
});

test('A DISPATCH_SETPOINT below zero is ignored: miners do not generate', () => {
  const r = run([ev('DISPATCH_SETPOINT', [-3])]);
  assert.is(r.directive.setpointKw, undefined);
  assert.match(r.ignored[0].reason, /below zero/);
});

test('ALERT_GRID_EMERGENCY curtails whatever its text, and the text is shown clean', () => {
  const { directive } = run([ev('ALERT_GRID_EMERGENCY', ['Grid\u0007 emergency\nshed now'])]);
  assert.is(directive.curtail, true);
  assert.is(directive.minersMaxKw, 0);
  assert.is(directive.active[0].value, 'Grid  emergency shed now');
  assert.is(run([ev('ALERT_GRID_EMERGENCY', [42])]).directive.curtail, true);
});

test('Where events of one type overlap, the higher priority (lower number) wins over a stricter value', () => {
  const shed = ev('SIMPLE', [3], { priority: 5 });
  const mild = ev('SIMPLE', [1], { priority: 0 });
  const r = run([shed, mild]);
  assert.is(r.directive.curtail, false);
  assert.is(r.directive.minersMaxKw, 6);
  assert.equal(r.directive.active.map((a) => a.event), [mild.eventName]);
  assert.is(r.outweighed.length, 1);
  assert.is(r.outweighed[0].event, shed.eventName);
});

test('An event without a priority ranks below every numbered one', () => {
  const r = run([ev('SIMPLE', [3]), ev('SIMPLE', [1], { priority: 9 })]);
  assert.is(r.directive.curtail, false);
  assert.is(r.directive.minersMaxKw, 6);
});

test('Where events of one type and priority overlap, the most restrictive value wins', () => {
  const r = run([ev('SIMPLE', [1], { priority: 2 }), ev('SIMPLE', [2], { priority: 2 })]);
  assert.is(r.directive.minersMaxKw, 3);
  const limits = run([ev('IMPORT_CAPACITY_LIMIT', [9]), ev('IMPORT_CAPACITY_LIMIT', [4])]);
  assert.is(limits.directive.importLimitKw, 4);
  const setpoints = run([ev('DISPATCH_SETPOINT', [8]), ev('DISPATCH_SETPOINT', [5])]);
  assert.is(setpoints.directive.setpointKw, 5);
  const prices = run([ev('PRICE', [0.01]), ev('PRICE', [0.5])]);
  assert.is(prices.directive.minersMaxKw, 0);
});

test('Events of different types do not conflict: every cap applies, the strictest together', () => {
  const r = run([ev('SIMPLE', [1], { priority: 0 }), ev('PRICE', [0.5], { priority: 9 }), ev('IMPORT_CAPACITY_LIMIT', [3])]);
  assert.is(r.directive.minersMaxKw, 0, 'the price stops mining despite its lower priority');
  assert.is(r.directive.importLimitKw, 3);
  assert.is(r.directive.active.length, 3);
});

test('Every grid emergency in force is listed, whatever its priority', () => {
  const r = run([ev('ALERT_GRID_EMERGENCY', ['a'], { priority: 1 }), ev('ALERT_GRID_EMERGENCY', ['b'], { priority: 1 })]);
  assert.is(r.directive.curtail, true);
  assert.is(r.directive.active.length, 2);
});

test('An event not yet begun asks nothing but says when it will', () => {
  const { directive } = run([ev('SIMPLE', [3])], { now: T0 - 10 * 60_000 });
  assert.equal(directive, { curtail: false, active: [], nextChangeAt: T0 });
});

test('An event whose intervals are over asks nothing and schedules nothing', () => {
  assert.equal(run([ev('SIMPLE', [3])], { now: T0 + H }).directive, { curtail: false, active: [] });
});

test('A "now" start begins when the VEN first saw the event and runs its duration from there', () => {
  const e = ev('SIMPLE', [3], { intervalPeriod: { start: '0001-01-01', duration: 'PT30M' } });
  const seen = T0 + 5 * 60_000;
  const at = (now: number) => resolve([held(e, { firstSeenAt: seen })], ctx({ now })).directive;
  assert.is(at(seen).curtail, true);
  assert.is(at(seen).nextChangeAt, seen + 30 * 60_000);
  assert.is(at(seen + 29 * 60_000).curtail, true);
  assert.is(at(seen + 30 * 60_000).curtail, false);
  const t = ev('SIMPLE', [3], { intervalPeriod: { start: '0001-01-01T00:00:00Z', duration: 'PT30M' } });
  assert.is(resolve([held(t, { firstSeenAt: seen })], ctx({ now: seen })).directive.curtail, true, 'with a time and zone');
});

test('P9999Y never ends: the event is in force with no end and no next change', () => {
  const e = ev('ALERT_GRID_EMERGENCY', ['x'], { intervalPeriod: { start: '0001-01-01', duration: 'P9999Y' } });
  const d = resolve([held(e)], ctx({ now: T0 + 400 * 24 * H })).directive;
  assert.is(d.curtail, true);
  assert.is(d.active[0].until, undefined);
  assert.is(d.nextChangeAt, undefined);
});

test('The User Guide\'s cancellation (a "now" start with duration PT0S) holds nothing', () => {
  const e = ev('SIMPLE', [3], { intervalPeriod: { start: '0001-01-01', duration: 'PT0S' } });
  assert.equal(run([e]).directive, { curtail: false, active: [] });
  const none = ev('SIMPLE', [3], { intervalPeriod: { start: iso(T0) } });
  assert.equal(run([none]).directive, { curtail: false, active: [] }, 'no duration is PT0S');
});

test('Intervals without their own start follow one another, each with its own duration where given', () => {
  const e = ev('SIMPLE', [], {
    intervals: [
      { id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] },
      { id: 1, intervalPeriod: { start: '0001-01-01', duration: 'PT2H' }, payloads: [{ type: 'SIMPLE', values: [2] }] },
      { id: 2, payloads: [{ type: 'SIMPLE', values: [3] }] },
    ],
  });
  const at = (now: number) => run([e], { now }).directive;
  assert.is(at(T0).minersMaxKw, 6);
  assert.is(at(T0).nextChangeAt, T0 + H);
  assert.is(at(T0 + H).minersMaxKw, 3);
  assert.is(at(T0 + 2.9 * H).minersMaxKw, 3, 'the second interval lasts its own two hours');
  assert.is(at(T0 + 3 * H).curtail, true);
  assert.is(at(T0 + 4 * H).curtail, false);
});

test('event.duration longer than the intervals loops them; shorter cuts them off', () => {
  const looped = ev('SIMPLE', [], {
    duration: 'P1D',
    intervalPeriod: { start: iso(T0), duration: 'PT1H' },
    intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }, { id: 1, payloads: [{ type: 'SIMPLE', values: [3] }] }],
  });
  const at = (e: ResolvableEvent, now: number) => run([e], { now }).directive;
  assert.is(at(looped, T0 + 4.5 * H).minersMaxKw, 6, 'third pass, first interval');
  assert.is(at(looped, T0 + 5.5 * H).curtail, true);
  assert.is(at(looped, T0 + 4.5 * H).nextChangeAt, T0 + 5 * H);
  assert.is(at(looped, T0 + 24 * H).minersMaxKw, undefined, 'ends after the day');
  const cut = { ...looped, id: 'cut', duration: 'PT90M' };
  assert.is(at(cut, T0 + 1.25 * H).curtail, true);
  assert.is(at(cut, T0 + 1.5 * H).curtail, false);
});

test('randomizeStart shifts the start by this VEN\'s own offset, the same on every reading', () => {
  const e = ev('SIMPLE', [3], { intervalPeriod: { start: iso(T0), duration: 'PT1H', randomizeStart: 'PT10M' } });
  const startOf = (venKey: string) => {
    const l = layout(e, { firstSeenAt: T0, venKey });
    if ('problem' in l) throw new Error(l.problem);
    return l.windows[0].start;
  };
  const offsets = ['north-field', 'south-field', 'east-field', 'west-field', 'ven-5', 'ven-6'].map((k) => startOf(k) - T0);
  for (const o of offsets) assert.ok(o >= 0 && o < 10 * 60_000, `offset ${o} within PT10M`);
  assert.ok(new Set(offsets).size > 1, 'VENs spread out');
  assert.is(startOf('north-field'), startOf('north-field'), 'a restart keeps the offset');
  const offset = offsets[0];
  assert.is(run([e], { now: T0 + offset - 1 }).directive.curtail, false);
  assert.is(run([e], { now: T0 + offset }).directive.curtail, true);
  assert.is(run([e], { now: T0 + H + offset - 1 }).directive.curtail, true, 'the end moves with the start');
});

test('A randomizeStart beyond a day is refused rather than delaying an event for weeks', () => {
  const e = ev('SIMPLE', [3], { intervalPeriod: { start: iso(T0), duration: 'PT1H', randomizeStart: 'PT25H' } });
  const r = run([e]);
  assert.is(r.directive.curtail, false);
  assert.match(r.ignored[0].reason, /beyond a day/);
  assert.is(MAX_RANDOMIZE_MS, 24 * H);
});

test('An unknown payload type is ignored with its reason while the others of the interval are obeyed', () => {
  const e = ev('SIMPLE', [], { intervals: [{ id: 0, payloads: [{ type: 'GHG', values: [300] }, { type: 'PRIVATE_THING', values: [1] }, { type: 'SIMPLE', values: [1] }] }] });
  const r = run([e]);
  assert.is(r.directive.minersMaxKw, 6);
  assert.equal(r.ignored.map((i) => i.type), ['GHG', 'PRIVATE_THING']);
});

test('An event whose times cannot be read is ignored whole, with its reason', () => {
  for (const intervalPeriod of [{ start: 'yesterday', duration: 'PT1H' }, { start: iso(T0), duration: '1 hour' }, { start: iso(T0), duration: '-PT1H' }]) {
    const r = run([ev('SIMPLE', [3], { intervalPeriod })]);
    assert.is(r.directive.curtail, false);
    assert.is(r.ignored.length, 1);
  }
  const r = run([ev('SIMPLE', [3], { intervalPeriod: undefined })]);
  assert.match(r.ignored[0].reason, /no start/);
});

test('Several values over an open-ended interval cannot be split and are ignored', () => {
  const e = ev('PRICE', [0.01, 0.5], { intervalPeriod: { start: iso(T0), duration: 'P9999Y' } });
  const r = run([e]);
  assert.is(r.directive.minersMaxKw, undefined);
  assert.match(r.ignored[0].reason, /open-ended/);
});

test('windowAt gives the interval in force and the next boundary', () => {
  const l = layout(ev('SIMPLE', [1]), { firstSeenAt: T0, venKey: 'v' });
  if ('problem' in l) throw new Error(l.problem);
  assert.is(windowAt(l, T0 - 1).window, undefined);
  assert.is(windowAt(l, T0 - 1).nextChange, T0);
  assert.is(windowAt(l, T0).window?.intervalId, 0);
  assert.equal(windowAt(l, T0 + H), {});
});

test.run();
