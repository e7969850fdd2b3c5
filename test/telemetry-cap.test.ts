import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { virtualSite } from './harness/virtual-site';

test('a set_power cap shows in telemetry with its expiry while in force, and is gone when it lapses', async () => {
  const r = await virtualSite({ boards: 2 });
  await r.start();
  await r.run(10_000);
  assert.is(r.s.telemetry().miners.cap_kw, undefined, 'no cap, no field');
  const at = r.clock.now();
  assert.ok(r.s.controller.setPower(1.5, 60).ok);
  const m = r.s.telemetry().miners;
  assert.is(m.cap_kw, 1.5);
  assert.is(m.cap_until, new Date(at + 60_000).toISOString());
  await r.run(61_000);
  assert.is(r.s.telemetry().miners.cap_kw, undefined, 'lapsed');
  assert.ok(r.s.controller.setPower(1, 600).ok);
  r.s.controller.clearPower();
  assert.is(r.s.telemetry().miners.cap_until, undefined, 'lifted');
  await r.s.stop();
});

test.run();
