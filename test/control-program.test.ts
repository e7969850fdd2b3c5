import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rig } from './harness/control';

// A grid program's terms (OpenADR events in force) on the control core: caps lower the target at
// once, a dispatch setpoint replaces the mode's target, an import limit follows the meter.

test('a program cap lowers the miners at once and lifting it lets the mode back', () => {
  const r = rig({ mode: 'setpoint', setpointKw: 6 });
  r.c.sample(r.clock.monotonic(), 60, 0, 0);
  assert.ok(r.onKw() > 5);
  r.c.setProgramLimits({ maxKw: 2 });
  assert.ok(r.onKw() <= 2, `capped at once, not at the next sample: ${r.onKw()} kW`);
  r.c.sample(r.clock.monotonic(), 60, 0, r.onKw());
  assert.ok(r.c.target <= 2);
  r.c.setProgramLimits({});
  r.c.sample(r.clock.monotonic(), 60, 0, r.onKw());
  assert.ok(r.onKw() > 5, 'the mode\'s target again');
});

test('a dispatch setpoint replaces the mode\'s target but stays under max_kw, the lease and the program cap', () => {
  const r = rig({ mode: 'setpoint', setpointKw: 2, maxKw: 5 });
  r.c.sample(r.clock.monotonic(), 60, 0, 0);
  r.c.setProgramLimits({ setpointKw: 4 });
  r.c.sample(r.clock.monotonic(), 60, 0, r.onKw());
  assert.ok(Math.abs(r.c.target - 4) < 1e-9, `target ${r.c.target}`);
  r.c.setProgramLimits({ setpointKw: 9 });
  r.c.sample(r.clock.monotonic(), 60, 0, r.onKw());
  assert.is(r.c.target, 5, 'never above max_kw');
  r.c.setProgramLimits({ setpointKw: 9, maxKw: 3 });
  r.c.sample(r.clock.monotonic(), 60, 0, r.onKw());
  assert.is(r.c.target, 3);
  assert.equal(r.c.setPower(1, 60), { ok: true });
  r.c.sample(r.clock.monotonic(), 60, 0, r.onKw());
  assert.is(r.c.target, 1, 'a set_power lease still caps it');
});

test('off mode stays off under a dispatch setpoint', () => {
  const r = rig({ mode: 'off' });
  r.c.setProgramLimits({ setpointKw: 4 });
  r.c.sample(r.clock.monotonic(), 60, 0, 0);
  assert.is(r.c.target, 0);
  assert.is(r.onKw(), 0);
});

test('an import capacity limit holds the grid import under it, less the margin, as the site\'s other load changes', () => {
  const r = rig({ mode: 'setpoint', setpointKw: 6, marginKw: 0.2 });
  const otherKw = 3; // the site's own load besides the miners, no generation
  const sample = () => r.c.sample(r.clock.monotonic(), 60, otherKw + r.onKw(), r.onKw());
  sample();
  assert.ok(r.onKw() > 5);
  r.c.setProgramLimits({ importLimitKw: 5 });
  sample();
  sample();
  assert.ok(otherKw + r.onKw() <= 5 - 0.2 + 1e-9, `import ${otherKw + r.onKw()} kW`);
  assert.ok(r.onKw() > 0, 'the miners run on what the limit leaves');
  r.c.setProgramLimits({ importLimitKw: 2 });
  sample();
  assert.is(r.onKw(), 0, 'a limit below the other load leaves nothing for the miners');
});

test.run();
