import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  clientCredentialResponseSchema,
  durationMs,
  eventSchema,
  eventSpans,
  isNowStart,
  notificationSchema,
  notifiersResponseSchema,
  parseDuration,
  randomizeOffsetMs,
  reportDescriptorSchema,
  reportSchema,
  targetStrings,
  valuesMapSchema,
  type OadrEvent,
} from '../agent/grid/openadr/spec';

// the specification's objects and time rules as agent/grid/openadr/spec.ts reads them (no sockets)

const H = 3_600_000;
const T0 = Date.UTC(2026, 5, 1, 12);
const at = (h: number) => new Date(T0 + h * H).toISOString();
const opts = { nowStartMs: T0, seed: 'north-field/event-1', untilMs: T0 + 1000 * H };

const served = (extra: Record<string, unknown>) => ({
  id: 'event-1',
  createdDateTime: '2026-06-01T11:00:00Z',
  modificationDateTime: '2026-06-01T11:00:00Z',
  objectType: 'EVENT',
  programID: 'program-1',
  intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }],
  ...extra,
});

test('ISO 8601 durations read as the OpenAPI pattern allows them, to milliseconds', () => {
  assert.is(durationMs('PT1H'), H);
  assert.is(durationMs('PT15M'), 15 * 60_000);
  assert.is(durationMs('PT0.5S'), 500);
  assert.is(durationMs('P1DT2H'), 26 * H);
  assert.is(durationMs('P2W'), 14 * 24 * H);
  assert.is(durationMs('P1M', Date.UTC(2026, 1, 1)), 28 * 24 * H, 'a month counted from the instant it starts');
  assert.is(durationMs('-PT1H'), -H);
  assert.equal(parseDuration('P1Y2M3DT4H5M6S'), { negative: false, years: 1, months: 2, weeks: 0, days: 3, hours: 4, minutes: 5, seconds: 6 });
  for (const bad of ['1H', 'PT', 'P', 'PT1.5H', 'P1H', 'pt1h', 'PT-1H', 'PT1H ']) assert.ok(Number.isNaN(durationMs(bad)), bad);
});

test('P9999Y is open-ended and the 0001-01-01 (or 0000-01-01) start means now', () => {
  assert.is(durationMs('P9999Y'), Infinity);
  assert.is(durationMs('P10000Y'), Infinity);
  assert.ok(Number.isFinite(durationMs('P9998Y')));
  for (const now of ['0001-01-01', '0001-01-01T00:00:00', '0001-01-01T00:00:00Z', '0000-01-01T00:00:00.000Z']) assert.ok(isNowStart(now), now);
  for (const not of ['0001-01-02', '2026-01-01T00:00:00Z', '0001-01-01T00:00:01Z']) assert.not.ok(isNowStart(not), not);
});

test('randomizeStart gives a stable offset within its range for one seed, and differs between seeds', () => {
  const a = randomizeOffsetMs('PT10M', 'north-field/event-1');
  assert.is(randomizeOffsetMs('PT10M', 'north-field/event-1'), a, 'the same after a restart');
  assert.ok(a >= 0 && a < 10 * 60_000);
  const offsets = new Set(Array.from({ length: 50 }, (_, i) => randomizeOffsetMs('PT10M', `ven-${i}/event-1`)));
  assert.ok(offsets.size > 45, 'spread across VENs');
  assert.is(randomizeOffsetMs(undefined, 'x'), 0);
  assert.is(randomizeOffsetMs('PT0S', 'x'), 0);
  assert.is(randomizeOffsetMs('-PT5M', 'x'), 0);
});

test('Intervals without their own period follow one another from the event start', () => {
  const e = { intervalPeriod: { start: at(0), duration: 'PT1H' }, intervals: [0, 1, 2].map((id) => ({ id, payloads: [] })) };
  const { spans, unplaced } = eventSpans(e, opts);
  assert.equal(spans.map((s) => [s.id, s.startMs, s.endMs]), [[0, T0, T0 + H], [1, T0 + H, T0 + 2 * H], [2, T0 + 2 * H, T0 + 3 * H]]);
  assert.equal(unplaced, []);
});

test('An interval period overrides the event period, and later intervals follow it', () => {
  const e = {
    intervalPeriod: { start: at(0), duration: 'PT1H' },
    intervals: [
      { id: 0, payloads: [] },
      { id: 1, intervalPeriod: { start: at(5), duration: 'PT30M' }, payloads: [] },
      { id: 2, payloads: [] },
    ],
  };
  const { spans } = eventSpans(e, opts);
  assert.equal(spans.map((s) => [s.id, (s.startMs - T0) / H, (s.endMs - T0) / H]), [[0, 0, 1], [1, 5, 5.5], [2, 5.5, 6.5]]);
});

test('A now start, an open-ended, zero or missing duration, and an unplaceable interval are read as the specification says', () => {
  const now = eventSpans({ intervalPeriod: { start: '0001-01-01T00:00:00', duration: 'P9999Y' }, intervals: [{ id: 0, payloads: [] }] }, { ...opts, nowStartMs: T0 + 7 * H });
  assert.equal(now.spans.map((s) => [s.startMs, s.endMs]), [[T0 + 7 * H, Infinity]]);
  const bare = eventSpans({ intervalPeriod: { start: at(0) }, intervals: [{ id: 0, payloads: [] }] }, opts);
  assert.is(bare.spans[0].endMs, T0, 'no duration: instantaneous, holding nothing');
  const cancel = eventSpans({ intervalPeriod: { start: '0001-01-01', duration: 'PT0S' }, intervals: [{ id: 0, payloads: [] }] }, opts);
  assert.equal(cancel.spans.map((s) => s.endMs - s.startMs), [0], 'the User Guide’s cancellation: now, PT0S');
  const lost = eventSpans({ intervals: [{ id: 4, payloads: [] }] }, opts);
  assert.equal(lost, { spans: [], unplaced: [4] });
});

test('randomizeStart moves the whole event by the VEN’s offset', () => {
  const e = { intervalPeriod: { start: at(0), duration: 'PT1H', randomizeStart: 'PT20M' }, intervals: [{ id: 0, payloads: [] }, { id: 1, payloads: [] }] };
  const off = randomizeOffsetMs('PT20M', opts.seed);
  const { spans } = eventSpans(e, opts);
  assert.equal(spans.map((s) => s.startMs - T0), [off, off + H]);
});

test('event.duration clips the intervals, or repeats them up to the horizon (P9999Y: indefinitely)', () => {
  const base = { intervalPeriod: { start: at(0), duration: 'PT1H' }, intervals: [{ id: 0, payloads: [] }, { id: 1, payloads: [] }] };
  const clipped = eventSpans({ ...base, duration: 'PT90M' }, opts);
  assert.equal(clipped.spans.map((s) => [s.id, (s.endMs - T0) / H]), [[0, 1], [1, 1.5]]);
  const repeated = eventSpans({ ...base, duration: 'PT5H' }, opts);
  assert.equal(repeated.spans.map((s) => s.id), [0, 1, 0, 1, 0]);
  assert.is(repeated.spans[4].endMs, T0 + 5 * H);
  const forever = eventSpans({ ...base, duration: 'P9999Y' }, { ...opts, untilMs: T0 + 10 * H });
  assert.is(forever.spans.length, 10);
  const hostile = eventSpans({ intervalPeriod: { start: at(0), duration: 'PT1S' }, intervals: [{ id: 0, payloads: [] }], duration: 'P9999Y' }, { ...opts, untilMs: Infinity });
  assert.is(hostile.spans.length, 10_000, 'a one-second interval forever stops at MAX_SPANS');
});

test('An event from a VTN keeps unknown fields and private payload types, and refuses what it cannot act on', () => {
  const ok = eventSchema.parse(served({ myPrivateObject: 'whatever', intervals: [{ id: 0, payloads: [{ type: 'PRIVATE_ALGORITHM', values: [0.17, 'x', true, { x: 1, y: 2 }] }] }] }));
  assert.is((ok as OadrEvent & { myPrivateObject: string }).myPrivateObject, 'whatever');
  const refused = (extra: Record<string, unknown>) => !eventSchema.safeParse(served(extra)).success;
  assert.ok(refused({ intervals: [{ id: 0, payloads: [{ type: 'PRICE', values: [Infinity] }] }] }), 'Infinity (JSON 1e999)');
  assert.ok(refused({ intervalPeriod: { start: '2026-06-01T12:00:00' } }), 'a start without zone');
  assert.ok(refused({ intervalPeriod: { start: 'tomorrow' } }));
  assert.ok(refused({ intervalPeriod: { start: '2026-06-01T12:00:00Z', duration: '1 hour' } }));
  assert.ok(refused({ intervalPeriod: { start: '2026-06-01T12:00:00Z', randomizeStart: '-PT5M' } }));
  assert.ok(refused({ priority: -1 }));
  assert.ok(refused({ priority: 1.5 }));
  assert.ok(refused({ id: 'has space' }));
  assert.ok(refused({ objectType: 'PROGRAM' }));
  assert.ok(refused({ intervals: 'soon' }));
  assert.ok(eventSchema.safeParse(served({ intervalPeriod: { start: '2026-06-01T14:00:00+02:00', duration: 'PT1H' }, priority: null, duration: null })).success);
});

test('Targets read the same from 3.1.0 strings and 3.0.1 valuesMaps', () => {
  assert.equal(targetStrings(['feeder-7', { type: 'GROUP', values: ['north', 3] }]), ['feeder-7', 'north', '3']);
  assert.equal(targetStrings(null), []);
  assert.ok(eventSchema.safeParse(served({ targets: [{ type: 'VEN_NAME', values: ['north-field'] }] })).success);
});

test('Notifications take the 3.1.0 operation names and read 3.0.1 HTTP verbs as them', () => {
  const n = (operation: string) => notificationSchema.safeParse({ objectType: 'EVENT', operation, object: {} });
  const op = (operation: string) => { const r = n(operation); return r.success ? r.data.operation : 'refused'; };
  assert.equal(['CREATE', 'UPDATE', 'DELETE', 'POST', 'PUT', 'GET', 'PATCH'].map(op), ['CREATE', 'UPDATE', 'DELETE', 'CREATE', 'UPDATE', 'READ', 'refused']);
  assert.not.ok(notificationSchema.safeParse({ objectType: 'WIDGET', operation: 'CREATE', object: {} }).success);
});

test('Reports tolerate the 3.0.1 programID; report descriptors keep bounded interval counts', () => {
  const report = { id: 'report-1', createdDateTime: '2026-06-01T11:00:00Z', modificationDateTime: '2026-06-01T11:00:00Z', objectType: 'REPORT', eventID: 'event-1', clientName: 'north-field', resources: [] };
  assert.ok(reportSchema.safeParse(report).success);
  assert.ok(reportSchema.safeParse({ ...report, programID: 'program-1' }).success);
  assert.not.ok(reportSchema.safeParse({ ...report, eventID: undefined }).success);
  assert.ok(reportDescriptorSchema.safeParse({ payloadType: 'USAGE', frequency: -1, repeat: -1, numIntervals: 4 }).success);
  assert.not.ok(reportDescriptorSchema.safeParse({ payloadType: 'USAGE', frequency: 2 ** 31 }).success);
  assert.not.ok(reportDescriptorSchema.safeParse({ payloadType: 'USAGE', numIntervals: -2 }).success);
});

test('Token replies, notifier bindings and valuesMaps hold to the specification', () => {
  assert.ok(clientCredentialResponseSchema.safeParse({ access_token: 'a', token_type: 'bearer', expires_in: 3600 }).success, 'token_type is case-insensitive (RFC 6749 §5.1)');
  assert.not.ok(clientCredentialResponseSchema.safeParse({ access_token: 'a', token_type: 'MAC' }).success);
  assert.not.ok(clientCredentialResponseSchema.safeParse({ access_token: 'a', token_type: 'Bearer', expires_in: 0 }).success);
  assert.not.ok(clientCredentialResponseSchema.safeParse({ access_token: 'a', token_type: 'Bearer', expires_in: 1e12 }).success);
  const mqtt = { URIS: ['mqtts://broker.vtn.example:8883'], serialization: 'JSON', authentication: { method: 'OAUTH2_BEARER_TOKEN', username: '{clientID}' } };
  assert.ok(notifiersResponseSchema.safeParse({ WEBHOOK: true, MQTT: mqtt }).success);
  assert.not.ok(notifiersResponseSchema.safeParse({ WEBHOOK: true, MQTT: { ...mqtt, authentication: { method: 'PASSWORD' } } }).success);
  assert.not.ok(notifiersResponseSchema.safeParse({ MQTT: mqtt }).success, 'WEBHOOK is required');
  assert.not.ok(valuesMapSchema.safeParse({ type: '', values: [1] }).success);
  assert.not.ok(valuesMapSchema.safeParse({ type: 'PRICE', values: [null] }).success);
});

test.run();
