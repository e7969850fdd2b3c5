import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reportSchema, type ReportDescriptor } from '../agent/grid/openadr/spec';
import { H, iso, rig, T0, type Rig } from './fixtures/openadr/rig';

/**
 * Reports as the event's reportDescriptors ask, made from the site readings and accepted by the
 * simulated VTN (which checks each against the specification): USAGE, DEMAND, OPERATING_STATE,
 * their intervals, frequency and repeat, and the ones made while the VTN was away sent when it
 * is back.
 */

/** a SIMPLE event of `n` 15-minute intervals from T0 asking for the given reports */
async function reportingEvent(r: Rig, descriptors: ReportDescriptor[], n = 4, level = 1): Promise<string> {
  const p = await r.program();
  return r.event(p, 'SIMPLE', [level], {
    intervalPeriod: { start: iso(T0), duration: 'PT15M' },
    intervals: Array.from({ length: n }, (_, i) => ({ id: 10 + i, payloads: [{ type: 'SIMPLE', values: [level] }] })),
    reportDescriptors: descriptors,
  });
}

const payload = (rep: { resources: { intervals: { payloads: { type: string; values: unknown[] }[] }[] }[] }, i: number, type: string) =>
  rep.resources[0].intervals[i].payloads.find((p) => p.type === type)?.values;

test('With the default reportDescriptor one USAGE report covers every interval, sent when the last ends', async () => {
  const r = await rig();
  try {
    const id = await reportingEvent(r, [{ payloadType: 'USAGE', readingType: 'DIRECT_READ', units: 'KWH' }]);
    r.reading.minersKw = 4;
    await r.ven.start();
    await r.run(59 * 60_000, 5000);
    assert.is(r.vtn.reports.length, 0, 'not before the last interval ends');
    await r.run(2 * 60_000, 5000);
    assert.is(r.vtn.reports.length, 1);
    const rep = reportSchema.parse(r.vtn.reports[0]);
    assert.is(rep.eventID, id);
    assert.is(rep.clientName, 'north-field');
    assert.is(rep.resources[0].resourceName, 'miners');
    assert.equal(rep.resources[0].intervals.map((i) => i.id), [10, 11, 12, 13]);
    assert.equal(rep.resources[0].intervals.map((i) => i.intervalPeriod?.start), [0, 1, 2, 3].map((k) => iso(T0 + k * 15 * 60_000)));
    assert.equal(rep.resources[0].intervals.map((i) => i.intervalPeriod?.duration), ['PT15M', 'PT15M', 'PT15M', 'PT15M']);
    for (let i = 0; i < 4; i++) assert.is(payload(rep, i, 'USAGE')?.[0], 1, `4 kW for 15 minutes is 1 kWh (interval ${i})`);
    assert.is(payload(rep, 0, 'DATA_QUALITY'), undefined, 'every interval watched whole');
    assert.equal(rep.payloadDescriptors?.[0], { objectType: 'REPORT_PAYLOAD_DESCRIPTOR', payloadType: 'USAGE', readingType: 'DIRECT_READ', units: 'KWH' });
  } finally {
    await r.close();
  }
});

test('DEMAND reports the mean power per interval, or its peak, in the units asked for', async () => {
  const r = await rig();
  try {
    await reportingEvent(r, [{ payloadType: 'DEMAND', readingType: 'MEAN', units: 'W' }, { payloadType: 'DEMAND', readingType: 'PEAK' }], 1);
    r.reading.minersKw = 2;
    await r.ven.start();
    await r.run(5 * 60_000);
    r.reading.minersKw = 8;
    await r.run(5 * 60_000);
    r.reading.minersKw = 2;
    await r.run(6 * 60_000);
    assert.is(r.vtn.reports.length, 2);
    const [mean, peak] = r.vtn.reports.map((x) => reportSchema.parse(x));
    assert.is(payload(mean, 0, 'DEMAND')?.[0], 4000, 'mean 4 kW in W');
    assert.is(payload(peak, 0, 'DEMAND')?.[0], 8, 'peak 8 kW');
    assert.is(peak.payloadDescriptors?.[0].readingType, 'PEAK');
  } finally {
    await r.close();
  }
});

test('OPERATING_STATE says whether the miners run or idle, and whether under a curtailment', async () => {
  const r = await rig();
  try {
    await reportingEvent(r, [{ payloadType: 'OPERATING_STATE', frequency: 1, numIntervals: 1, startInterval: 0, repeat: -1 }], 3, 3);
    await r.ven.start();
    r.reading.state = 'curtailed';
    r.reading.minersKw = 0;
    await r.run(16 * 60_000);
    r.reading.state = 'fault';
    await r.run(15 * 60_000);
    assert.is(r.vtn.reports.length, 2, 'one report per interval as frequency 1 asks');
    const states = r.vtn.reports.map((x) => payload(reportSchema.parse(x), 0, 'OPERATING_STATE')?.[0]);
    assert.equal(states, ['IDLE_CURTAILED', 'ERROR']);
  } finally {
    await r.close();
  }
});

test('startInterval, numIntervals, frequency and repeat choose which intervals each report covers and when it is sent', async () => {
  const r = await rig();
  try {
    await reportingEvent(r, [{ payloadType: 'USAGE', startInterval: 1, numIntervals: 2, frequency: 2, repeat: 3 }], 6);
    await r.ven.start();
    await r.run(6 * 15 * 60_000 + 60_000, 5000);
    const covered = r.vtn.reportLog.map((x) => reportSchema.parse(x.report ?? x).resources[0].intervals.map((i) => i.id));
    assert.equal(covered, [[10, 11], [12, 13], [14, 15]]);
  } finally {
    await r.close();
  }
});

test('An interval watched only in part is reported as an estimate, marked so', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    await r.event(p, 'SIMPLE', [1], {
      intervalPeriod: { start: iso(T0 - 10 * 60_000), duration: 'PT20M' },
      reportDescriptors: [{ payloadType: 'USAGE' }],
    });
    r.reading.minersKw = 6;
    await r.ven.start();
    await r.run(11 * 60_000);
    assert.is(r.vtn.reports.length, 1);
    const rep = reportSchema.parse(r.vtn.reports[0]);
    assert.is(payload(rep, 0, 'USAGE')?.[0], 2, '6 kW over the 20-minute interval, from the half watched');
    assert.equal(payload(rep, 0, 'DATA_QUALITY'), ['ESTIMATED']);
  } finally {
    await r.close();
  }
});

test('Reports made while the VTN is away are kept on disk and sent in order when it is back', async () => {
  const r = await rig();
  try {
    await reportingEvent(r, [{ payloadType: 'USAGE', startInterval: 0, numIntervals: 1, frequency: 1, repeat: -1 }], 4);
    await r.ven.start();
    await r.vtn.down();
    await r.run(H + 60_000, 5000);
    assert.is(r.ven.status().connected, false);
    assert.is(r.ven.status().pending_reports, 4);
    await r.ven.stop();
    r.ven = r.newVen();
    await r.ven.start();
    assert.is(r.ven.status().pending_reports, 4, 'kept across a restart');
    await r.vtn.up();
    await r.run(30_000);
    assert.is(r.ven.status().pending_reports, 0);
    const ids = r.vtn.reports.map((x) => reportSchema.parse(x).resources[0].intervals[0].id);
    assert.equal(ids, [10, 11, 12, 13], 'every interval, in order');
  } finally {
    await r.close();
  }
});

test('A report type the agent does not make is skipped with a log line, the others made', async () => {
  const r = await rig();
  try {
    await reportingEvent(r, [{ payloadType: 'STORAGE_CHARGE_LEVEL' }, { payloadType: 'USAGE', historical: false }, { payloadType: 'DEMAND' }], 1);
    await r.ven.start();
    await r.run(16 * 60_000);
    assert.equal(r.vtn.reports.map((x) => reportSchema.parse(x).payloadDescriptors?.[0].payloadType), ['DEMAND']);
    assert.ok(r.log.has(/report not made/));
  } finally {
    await r.close();
  }
});

test.run();
