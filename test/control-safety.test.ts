import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { PinFault } from '../agent/hardware';
import { virtualSite } from './harness/virtual-site';
import { rig } from './harness/control';

// Regression tests of the safety review (issue 18): sensors, a flaky meter, clock steps, pin faults.

test('an open thermistor on a running board is a fault and trips the site (on_sensor_lost: trip); telemetry shows it unknown', async () => {
  const r = await virtualSite({ boards: 1 });
  let temp = 70;
  const status = r.hw[0].status.bind(r.hw[0]);
  r.hw[0].status = () => ({ ...status(), tempC: temp });
  await r.start();
  await r.run(60_000);
  assert.equal(r.hashing(), ['hb0']);
  temp = Number.NaN; // the NTC's wire breaks
  await r.run(2000);
  assert.is(r.count('fault', 'sensor:hb0'), 1);
  assert.equal(r.s.controller.tripSources, ['overtemp']);
  assert.equal(r.hashing(), []);
  assert.is(r.s.telemetry().boards[0].temp_c, null, 'unknown, not 0');
  temp = 60; // mended
  await r.run(2000);
  assert.is(r.count('recover', 'sensor:hb0'), 1);
  assert.equal(r.s.controller.tripSources, []);
  await r.s.stop();
});

test('a shorted thermistor (an impossible reading) with on_sensor_lost: throttle holds its board at the lowest frequency', async () => {
  const r = await virtualSite({ boards: 2, config: { control: { on_sensor_lost: 'throttle', setpoint_kw: 6 } } });
  let temp = 70;
  const status = r.hw[0].status.bind(r.hw[0]);
  r.hw[0].status = () => ({ ...status(), tempC: temp });
  await r.start();
  await r.run(60_000);
  const before = r.s.controller.frequencies.get('hb0')!;
  assert.ok(before > r.hw[0].minMhz);
  temp = 400;
  await r.run(2000);
  assert.is(r.count('fault', 'sensor:hb0'), 1);
  assert.equal(r.s.controller.tripSources, []);
  assert.is(r.s.controller.frequencies.get('hb0'), r.hw[0].minMhz);
  assert.ok(r.s.controller.frequencies.get('hb1')! > r.hw[1].minMhz, 'the other board is not throttled');
  await r.s.stop();
});

test('a configured thermistor that never reads is lost from the start', () => {
  const r = rig({ sensors: ['tank'], onSensorLost: 'trip' });
  r.c.temperatures({ tank: Number.NaN });
  assert.equal(r.sheds.map((s) => s.source), ['overtemp']);
  assert.ok(r.events.some((e) => e.kind === 'fault' && e.source === 'sensor:tank'));
});

test('a meter answering one poll in three trips meter-lost once and holds it: no enable-line toggling', async () => {
  const r = await virtualSite({ boards: 2, pollMs: 500, staleMs: 1000 });
  await r.start();
  await r.run(60_000);
  assert.equal(r.hashing(), ['hb0', 'hb1']);
  const raisedBefore = { ...r.raised };
  let n = 0;
  const poll = (r.meter as unknown as { poll(): void }).poll.bind(r.meter);
  (r.meter as unknown as { poll(): void }).poll = () => { r.meter.faults.timeout = n++ % 3 !== 0; poll(); };
  await r.run(10 * 60_000);
  assert.equal(r.trips.map((t) => t.source), ['meter-lost']);
  assert.is(r.count('release', 'meter-lost'), 0);
  assert.equal(r.raised, raisedBefore, 'no board switched on while the meter comes and goes');
  // healed: released after meter.release_ms of unbroken samples
  (r.meter as unknown as { poll(): void }).poll = () => { r.meter.faults.timeout = false; poll(); };
  await r.run(r.config.meter.release_ms + 1000);
  assert.is(r.count('release', 'meter-lost'), 1);
  await r.s.stop();
});

test('each meter loss soon after a release doubles the clean window the next release needs', () => {
  const r = rig({ meterReleaseMs: 1000 });
  const windowNeeded = () => {
    r.c.meterStale();
    let ms = 0;
    while (r.c.tripSources.includes('meter-lost')) { r.c.sample(r.clock.monotonic(), 60, 0, 0); r.clock.advance(100); ms += 100; }
    return ms;
  };
  const first = windowNeeded();
  const second = windowNeeded();
  const third = windowNeeded();
  assert.ok(first >= 1000, `the first release waited meter.release_ms: ${first} ms`);
  assert.ok(second >= 2 * first - 100 && third >= 2 * second - 100, `windows ${first}, ${second}, ${third} ms`);
  r.clock.advance(3_600_000); // an hour of good readings
  assert.ok(windowNeeded() <= first + 100, 'back to meter.release_ms after a long healthy spell');
});

test('wall-clock steps (NTP) neither stretch nor skip the under-frequency sustain', async () => {
  for (const stepMs of [-60_000, 60_000, 150]) {
    const r = await virtualSite({ boards: 1, pollMs: 50, staleMs: 1000 });
    await r.start();
    await r.run(60_000);
    assert.equal(r.hashing(), ['hb0']);
    // the meter polls every 50 ms: the next sample reads 59.5 Hz, the crossing of 59.7 Hz is
    // put 30 ms into that interval, and sustain_ms 100 ends 130 ms from now
    r.clock.stepWall(stepMs);
    r.plant.hz = 59.5;
    await r.run(100);
    assert.equal(r.trips.length, 0, `step ${stepMs} ms: no trip before the sustain has run`);
    await r.run(100);
    assert.equal(r.trips.map((t) => t.source), ['underfrequency'], `step ${stepMs} ms: tripped when the sustain ran out`);
    await r.s.stop();
  }
});

test('a wall-clock step does not shorten board_on_delay_ms', async () => {
  const r = await virtualSite({ boards: 2, config: { control: { mode: 'surplus', board_on_delay_ms: 30_000 } } });
  const minKw = r.hw[0].kwAt(r.hw[0].minMhz);
  r.plant.generationKw = r.plant.baseLoadKw + 1.6 * minKw; // one board's worth, not two at 30 % headroom
  await r.start();
  await r.run(60_000);
  assert.equal(r.hashing().length, 1, 'one board for 1 kW of surplus');
  // room for two, yet within what the one running board can draw flat out: only the delay holds the second back
  r.plant.generationKw = r.plant.baseLoadKw + r.hw[0].kwAt(r.hw[0].maxMhz) - 0.1;
  await r.run(2000);
  r.clock.stepWall(120_000);
  await r.run(5000);
  assert.equal(r.hashing().length, 1, 'the second board waits out its delay on the monotonic clock');
  await r.run(30_000);
  assert.equal(r.hashing().length, 2);
  await r.s.stop();
});

test('a fan pin the I/O board cannot drive is a fault of that fan alone: no io-lost trip, the boards keep mining', async () => {
  const r = await virtualSite({ boards: 2 });
  await r.start();
  await r.run(60_000);
  const fault: PinFault = { function: 'fan', id: 'bad', error: 'PWM of fan bad: pin 14 cannot do mode 3 on this board' };
  r.io.emit('ready');
  r.io.emit('pin-fault', fault);
  await r.run(5000);
  assert.equal(r.s.controller.tripSources, []);
  assert.is(r.count('fault', 'io:fan:bad'), 1);
  assert.equal(r.hashing(), ['hb0', 'hb1']);
  // the board reconnects with the pin mended (a config fix and a restart of the firmware)
  r.io.emit('ready');
  await r.run(1000);
  assert.is(r.count('recover', 'io:fan:bad'), 1);
  await r.s.stop();
});

test('an enable line the I/O board cannot drive holds that board out, without retries, until the pin is mended', async () => {
  const r = await virtualSite({ boards: 2 });
  await r.start();
  await r.run(60_000);
  r.io.emit('ready');
  r.io.emit('pin-fault', { function: 'enable', id: 'hb1', error: 'enable line of hb1: pin 23 cannot do mode 1 on this board' } satisfies PinFault);
  const raised = r.raised.hb1 ?? 0;
  await r.run(5 * 60_000);
  assert.equal(r.s.controller.tripSources, []);
  assert.equal(r.hashing(), ['hb0']);
  assert.is(r.raised.hb1 ?? 0, raised, 'no bring-up tried on a line that cannot be driven');
  r.io.emit('ready');
  await r.run(60_000);
  assert.equal(r.hashing(), ['hb0', 'hb1']);
  await r.s.stop();
});

test('a relay input the I/O board cannot read trips the site (relay) until it reads again', async () => {
  const r = await virtualSite({ boards: 1 });
  await r.start();
  await r.run(60_000);
  r.io.emit('ready');
  r.io.emit('pin-fault', { function: 'relay', id: 'relay', error: 'grid relay input: pin 70 cannot do mode 11 on this board' } satisfies PinFault);
  await r.run(1000);
  assert.equal(r.s.controller.tripSources, ['relay']);
  assert.is(r.count('fault', 'io:relay:relay'), 1);
  r.io.emit('ready');
  await r.run(60_000);
  assert.equal(r.s.controller.tripSources, []);
  assert.equal(r.hashing(), ['hb0']);
  await r.s.stop();
});

test('a curtail cannot be confirmed for a board with no enable line whose chain did not take the stop', async () => {
  const r = await virtualSite({ boards: 3, noEnable: ['hb1', 'hb2'] });
  await r.start();
  await r.run(60_000);
  r.hw[1].trip = async () => { throw new Error('hb1: link down'); };
  r.hw[2].trip = async () => { throw new Error('hb2: link down'); };
  const notOff = await r.s.curtail();
  assert.is(notOff.length, 2);
  assert.match(notOff[0], /^hb1: no enable line/);
  assert.is(r.s.controller.state, 'curtailed', 'the curtailment stands');
  r.s.controller.release();
  await r.run(60_000);
  r.hw[1].trip = async () => {}; // its link is back
  r.hw[2].trip = async () => {};
  assert.equal(await r.s.curtail(), [], 'confirmed once every chain took the stop');
  await r.s.stop();
});

test.run();
