import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAN_DEFAULTS, FanController, curveDuty } from '../agent/control/fans';

test('The curve interpolates between points and holds at the ends', () => {
  assert.is(curveDuty(20), 0.3);
  assert.is(curveDuty(35), 0.3);
  assert.ok(Math.abs(curveDuty(47.5) - 0.45) < 1e-9);
  assert.ok(Math.abs(curveDuty(67.5) - 0.8) < 1e-9);
  assert.is(curveDuty(90), 1);
});

test('The duty never falls below the minimum, and an unknown temperature means full duty', () => {
  const s = { ...FAN_DEFAULTS, points: [[30, 0], [80, 1]] as [number, number][], min_duty: 0.25 };
  assert.is(curveDuty(10, s), 0.25);
  assert.is(curveDuty(NaN, s), 1);
});

test('Duty rises at once and falls no faster than fall_per_s', () => {
  const fc = new FanController();
  const fans = [{ id: 'f', duty: 0, rpm: 3000 }];
  assert.is(fc.update(0, 30, fans).duty.f, 0.3);
  assert.is(fc.update(1000, 80, fans).duty.f, 1); // up at once
  const d = fc.update(3000, 30, fans).duty.f; // 2 s later: down by 0.1 only
  assert.ok(Math.abs(d - 0.9) < 1e-9, String(d));
  assert.is(fc.update(60_000, 30, fans).duty.f, 0.3); // settles on the curve
});

test('A fan commanded high that stays stopped fails after after_ms, once, and the others go to full', () => {
  const fc = new FanController();
  const read = (rpm: number) => [{ id: 'a', duty: 0.8, rpm }, { id: 'b', duty: 0.8, rpm: 4000 }];
  assert.equal(fc.update(0, 60, read(0)).newlyFailed, []);
  assert.equal(fc.update(9_999, 60, read(50)).newlyFailed, []);
  const r = fc.update(10_000, 60, read(50));
  assert.equal(r.newlyFailed, ['a']);
  assert.equal(r.failed, ['a']);
  assert.equal(r.duty, { a: 1, b: 1 });
  assert.equal(fc.update(11_000, 60, read(0)).newlyFailed, []); // reported once
  const back = fc.update(12_000, 60, read(2500));
  assert.equal(back.recovered, ['a']);
  assert.equal(back.failed, []);
});

test('A stopped fan at low duty, or an unknown rpm, is not a failure', () => {
  const fc = new FanController();
  for (let t = 0; t <= 60_000; t += 1000) {
    assert.equal(fc.update(t, 20, [{ id: 'low', duty: 0.3, rpm: 0 }, { id: 'lost', duty: 1, rpm: NaN }]).failed, []);
  }
});

test('A spin-up shorter than after_ms is not a failure', () => {
  const fc = new FanController();
  fc.update(0, 60, [{ id: 'a', duty: 1, rpm: 0 }]);
  fc.update(4000, 60, [{ id: 'a', duty: 1, rpm: 200 }]);
  assert.equal(fc.update(20_000, 60, [{ id: 'a', duty: 1, rpm: 5000 }]).failed, []);
  assert.equal(fc.update(29_000, 60, [{ id: 'a', duty: 1, rpm: 0 }]).failed, []);
});

test.run();
