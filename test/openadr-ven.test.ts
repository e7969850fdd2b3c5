import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { H, iso, rig, T0 } from './fixtures/openadr/rig';

/**
 * The VEN against the simulated VTN over real loopback HTTP (127.28.N.1), on one virtual clock:
 * enrolment, every payload type obeyed for its interval, deletion and shortening, and the
 * directive handed to the site only when it changes.
 */

test('At its first start the VEN creates its VEN object and resource once, and finds them at the next', async () => {
  const r = await rig();
  try {
    await r.ven.start();
    assert.is(r.vtn.vens.length, 1);
    assert.is(r.vtn.vens[0].venName, 'north-field');
    assert.is(r.vtn.resources.length, 1);
    assert.is(r.vtn.resources[0].resourceName, 'miners');
    assert.is(r.vtn.resources[0].venID, r.vtn.vens[0].id);
    const s = r.ven.status();
    assert.is(s.connected, true);
    assert.is(s.ven_id, r.vtn.vens[0].id);
    await r.ven.stop();
    r.ven = r.newVen();
    await r.ven.start();
    assert.is(r.vtn.vens.length, 1, 'no second VEN object');
    assert.is(r.vtn.resources.length, 1, 'no second resource');
    assert.is(r.ven.status().ven_id, r.vtn.vens[0].id);
  } finally {
    await r.close();
  }
});

test('A SIMPLE event is obeyed from the poll that finds it until its interval ends, without news from the VTN', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    await r.ven.start();
    assert.is(r.directives.length, 0, 'nothing asked, nothing said');
    await r.event(p, 'SIMPLE', [1], { intervalPeriod: { start: iso(T0 + 60_000), duration: 'PT1H' } });
    await r.run(30_000);
    assert.equal(r.last, { curtail: false, active: [], nextChangeAt: T0 + 60_000 }, 'polled: nothing asked yet, the start announced');
    await r.run(30_000);
    assert.is(r.last?.minersMaxKw, 6);
    assert.equal(r.last?.active.map((a) => [a.program, a.type, a.value]), [['ers-30', 'SIMPLE', 1]]);
    const n = r.directives.length;
    await r.vtn.down();
    await r.run(H);
    assert.is(r.last?.minersMaxKw, undefined, 'ended at the end of its interval');
    assert.is(r.last?.active.length, 0);
    assert.is(r.directives.length, n + 1, 'one change, said once');
  } finally {
    await r.close();
  }
});

test('Each payload type the agent obeys reaches the site as the directive asks', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    await r.ven.start();
    const cases: [string, unknown[], string | undefined, (d: NonNullable<typeof r.last>) => void][] = [
      ['SIMPLE', [3], undefined, (d) => assert.is(d.curtail, true)],
      ['SIMPLE', [2], undefined, (d) => assert.is(d.minersMaxKw, 3)],
      ['IMPORT_CAPACITY_LIMIT', [5000], 'W', (d) => assert.is(d.importLimitKw, 5)],
      ['DISPATCH_SETPOINT', [7.5], 'KW', (d) => assert.is(d.setpointKw, 7.5)],
      ['PRICE', [0.2], 'KWH', (d) => assert.is(d.minersMaxKw, 0)],
      ['PRICE', [0.05], 'KWH', (d) => { assert.is(d.minersMaxKw, undefined); assert.is(d.active[0].value, 0.05); }],
      ['ALERT_GRID_EMERGENCY', ['Shed load now'], undefined, (d) => { assert.is(d.curtail, true); assert.is(d.active[0].value, 'Shed load now'); }],
    ];
    for (const [type, values, units, check] of cases) {
      const id = await r.event(p, type, values, units ? { payloadDescriptors: [{ payloadType: type, units }] } : {});
      await r.ven.poll();
      assert.ok(r.last, type);
      check(r.last!);
      await r.vtn.deleteEvent(id);
      await r.ven.poll();
      assert.is(r.last?.active.length, 0, `${type} ended by its deletion`);
    }
  } finally {
    await r.close();
  }
});

test('An event deleted at the VTN ends its effect at the next poll', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    const id = await r.event(p, 'SIMPLE', [3], { intervalPeriod: { start: iso(T0), duration: 'PT4H' } });
    await r.ven.start();
    assert.is(r.last?.curtail, true);
    await r.vtn.deleteEvent(id);
    await r.run(30_000);
    assert.is(r.last?.curtail, false);
    assert.ok(r.log.has(/gone from the VTN/));
  } finally {
    await r.close();
  }
});

test('An event shortened at the VTN ends at its new end', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    const id = await r.event(p, 'SIMPLE', [3], { intervalPeriod: { start: iso(T0), duration: 'PT4H' } });
    await r.ven.start();
    await r.run(10 * 60_000);
    assert.is(r.last?.curtail, true);
    await r.vtn.updateEvent(id, { intervalPeriod: { start: iso(T0), duration: 'PT15M' } });
    await r.run(4 * 60_000);
    assert.is(r.last?.curtail, true, 'not yet at the new end');
    await r.run(2 * 60_000);
    assert.is(r.last?.curtail, false, 'ended at T0 + 15 min');
  } finally {
    await r.close();
  }
});

test('Overlapping events reach the site resolved by priority, then by the strictest value', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    await r.event(p, 'SIMPLE', [3], { priority: 4 });
    await r.event(p, 'SIMPLE', [1], { priority: 1 });
    await r.event(p, 'SIMPLE', [2], { priority: 1 });
    await r.ven.start();
    assert.is(r.last?.curtail, false, 'the priority-4 curtailment is outweighed');
    assert.is(r.last?.minersMaxKw, 3, 'level 2 is the stricter of the priority-1 pair');
  } finally {
    await r.close();
  }
});

test('Only the programs named in openadr.programs are followed, and a missing one is a fault', async () => {
  const r = await rig({ settings: { programs: ['ers-30', 'absent'] } });
  try {
    const p = await r.program('ers-30');
    const other = await r.program('tou');
    await r.event(other, 'SIMPLE', [3]);
    await r.event(p, 'SIMPLE', [1]);
    await r.ven.start();
    assert.is(r.last?.minersMaxKw, 6);
    assert.is(r.last?.curtail, false, 'the other program\'s event is not obeyed');
    const s = r.ven.status();
    assert.equal(s.programs, ['ers-30']);
    assert.match(s.fault ?? '', /absent/);
  } finally {
    await r.close();
  }
});

test('A "now" event runs its duration from when the VEN first saw it, and a restart does not start it again', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    await r.ven.start();
    await r.run(5 * 60_000);
    await r.event(p, 'SIMPLE', [3], { intervalPeriod: { start: '0001-01-01', duration: 'PT30M' } });
    await r.ven.poll();
    const seenAt = r.clock.now();
    assert.is(r.last?.curtail, true);
    assert.is(r.last?.nextChangeAt, seenAt + 30 * 60_000);
    await r.ven.stop();
    await r.run(10 * 60_000);
    r.ven = r.newVen();
    await r.ven.start();
    assert.is(r.last?.nextChangeAt, seenAt + 30 * 60_000, 'the end kept across the restart');
    await r.run(21 * 60_000);
    assert.is(r.last?.curtail, false);
  } finally {
    await r.close();
  }
});

test('Under strict targeting the VEN names the targets granted to it, and obeys the events aimed at them', async () => {
  const r = await rig({ vtn: { strictTargets: true } });
  try {
    const p = await r.program();
    await r.event(p, 'SIMPLE', [3], { targets: ['feeder-7'] });
    await r.event(p, 'SIMPLE', [1], { targets: ['feeder-9'] });
    await r.ven.start();
    assert.is(r.directives.length, 0, 'nothing granted yet: nothing seen');
    await r.vtn.grantTargets(r.ven.status().ven_id!, ['feeder-7']);
    // the VEN reads its VEN object again every 20 polls
    await r.run(21 * 30_000, 5000);
    assert.is(r.last?.curtail, true, 'the feeder-7 event obeyed');
    assert.equal(r.last?.active.map((a) => a.value), [3], 'and not the feeder-9 one');
    assert.ok(r.vtn.requests.some((q) => q.path === '/events' && q.query.includes('targets=feeder-7')));
  } finally {
    await r.close();
  }
});

test('An event whose 3.0.1 targets name another VEN is left alone', async () => {
  const r = await rig();
  try {
    const p = await r.program();
    // a 3.0.1 VTN lists every event to every VEN, with valuesMap targets (served as they are)
    const raw = (id: string, level: number, vens: string[]) => ({
      id, programID: p, objectType: 'EVENT', createdDateTime: iso(T0), modificationDateTime: iso(T0),
      targets: [{ type: 'VEN_NAME', values: vens }],
      intervalPeriod: { start: iso(T0), duration: 'PT1H' },
      intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [level] }] }],
    });
    r.vtn.injectRawEvent(raw('for-south', 3, ['south-field']));
    r.vtn.injectRawEvent(raw('for-both', 1, ['north-field', 'south-field']));
    await r.ven.start();
    assert.is(r.last?.curtail, false, 'the south-field curtailment left alone');
    assert.is(r.last?.minersMaxKw, 6, 'the one naming this VEN obeyed');
  } finally {
    await r.close();
  }
});

test.run();
