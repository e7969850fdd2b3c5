import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { VirtualClock } from '../agent/clock';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { createHashboard, hashboardOptionsFrom, hashboardRangeProblems, hashboardTuning } from '../drivers/hashboard';

const schema = z.object({ model: z.enum(['bm1366', 'bm1368', 'bm1370']) }).extend(hashboardTuning).strict();

test('board tuning keys are optional and checked with units and ranges', () => {
  assert.ok(schema.safeParse({ model: 'bm1366' }).success);
  assert.ok(schema.safeParse({ model: 'bm1366', ramp_step_mhz: 12.5, ramp_step_ms: 50, difficulty: 1024 }).success);
  const bad = schema.safeParse({ model: 'bm1366', difficulty: 300, ramp_step_ms: 1 });
  assert.not.ok(bad.success);
  assert.equal(bad.error!.issues.map((i) => i.path.join('.')).sort(), ['difficulty', 'ramp_step_ms']);
});

test('model-dependent limits name the offending key', () => {
  assert.equal(hashboardRangeProblems({ model: 'bm1366' }), []);
  assert.equal(hashboardRangeProblems({ model: 'bm1366', max_mhz: 600 }).map(([k]) => k), ['max_mhz']);
  assert.equal(hashboardRangeProblems({ model: 'bm1370', max_mhz: 600 }), []);
  assert.equal(hashboardRangeProblems({ model: 'bm1366', min_mhz: 400, max_mhz: 300 }).map(([k]) => k), ['min_mhz']);
});

test('config maps to driver options with defaults, and the driver takes the model range', () => {
  const o = hashboardOptionsFrom({ id: 'hb0', model: 'bm1368', serial: { path: '/dev/null' }, chips: 4, max_mhz: 450 });
  const hb = createHashboard(o, new VirtualClock());
  assert.equal([hb.minMhz, hb.maxMhz], [50, 450]);
  assert.is(hb.kwAt(490) > hb.kwAt(450), true);
  assert.is(createHashboard({ ...o, maxMhz: undefined }, new VirtualClock()).maxMhz, 490);
});

test('an impossible frequency range is refused as a config error', () => {
  try {
    createHashboard({ id: 'x', model: 'bm1366', serial: { path: '/dev/null' }, chips: 4, maxMhz: 900 }, new VirtualClock());
    assert.unreachable();
  } catch (e) {
    assert.ok(isHashflexError(e, ErrorCode.ConfigInvalid));
  }
});

test.run();
