import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realClock, VirtualClock } from '../agent/clock';
import { validateConfig } from '../agent/config';
import type { MeterSample } from '../agent/hardware';
import { Site, type TripRecord } from '../agent/site';
import { BusRegistry, createMeter, MeterError } from '../drivers/meter';
import { simBoard } from '../sim/hashboard';
import { DEFAULT_REFRESH_HZ, liveReading, MeasurementCycle } from '../sim/meter-image';
import { startSimMeter } from '../sim/meter';
import { Plant } from '../sim/plant';
import { SimSite } from '../sim/site';
import type { Scenario } from '../sim/scenarios/types';
import { VirtualBoard, VirtualIo } from '../sim/virtual';
import { flush, ImageReader, nextEvent, tmpDir } from './fixtures/meter/rig';

/**
 * A slow meter must not trip the site. Real meters refresh their registers once a second or
 * slower, and the simulated one has a measurement cycle too (5 Hz by default, `refreshHz`): the
 * reads in between return the same values. Identical reads are the meter alive, not lost; only
 * no reply for stale_ms, or identical readings for frozen_ms, trips `meter-lost`.
 */

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('The simulated meter measures 5 times a second by default: reads within one cycle are identical, the next cycle is new', async () => {
  let t = 0;
  const plant = new Plant();
  const c = new MeasurementCycle((n) => liveReading(plant, n), undefined, () => t);
  assert.equal(c.refreshHz, DEFAULT_REFRESH_HZ);
  assert.equal(DEFAULT_REFRESH_HZ, 5);
  const a = c.reading();
  t = 199;
  assert.is(c.reading(), a, 'same measurement inside the 200 ms cycle');
  t = 200;
  const b = c.reading();
  assert.is.not(b, a);
  assert.not.equal([b.hz, b.w], [a.hz, a.w], 'a new measurement differs by its noise');
  c.refreshHz = 0.5;
  t = 2100;
  const d = c.reading();
  t = 3999;
  assert.is(c.reading(), d);
  c.refreshHz = 0;
  assert.is.not(c.reading(), c.reading(), 'refreshHz 0: a new measurement every read');
  assert.throws(() => new MeasurementCycle(() => a, -1));
});

test('meter.frozen_ms is a config key: 10 s by default, 50 ms to an hour', () => {
  const base = { agent: { id: 'cfg' }, meter: { tcp: '127.0.0.1:502' }, boards: [{ id: 'hb0', serial: { tcp: '127.0.0.1:1' } }] };
  assert.equal(validateConfig(base).meter.frozen_ms, 10_000);
  assert.equal(validateConfig({ ...base, meter: { ...base.meter, frozen_ms: 30_000 } }).meter.frozen_ms, 30_000);
  for (const bad of [10, 3_600_001, 1.5]) {
    assert.throws(() => validateConfig({ ...base, meter: { ...base.meter, frozen_ms: bad } }), /meter\.frozen_ms/, String(bad));
  }
});

/** the real Site and control core on a virtual clock, with the real meter driver over an in-memory image */
function site(meterKeys: Record<string, unknown> = {}) {
  const clock = new VirtualClock();
  const plant = new Plant();
  const ids = ['hb0', 'hb1'];
  for (const id of ids) { const b = simBoard(id, 'bm1366', 110); b.enabled = false; plant.boards.set(id, b); }
  plant.generationKw = 6;
  plant.baseLoadKw = 0.5;
  const config = validateConfig({
    agent: { id: 'slow-meter' }, meter: { tcp: '127.0.0.1:1', poll_ms: 50, ...meterKeys },
    boards: ids.map((id, i) => ({ id, serial: { tcp: '127.0.0.1:1' }, chips: 110, enable_pin: 22 + i })),
    io: { tcp: '127.0.0.1:1' }, control: { mode: 'setpoint', setpoint_kw: 3 },
  });
  const reader = new ImageReader('sdm630');
  // a meter refreshing every 2 s
  const cycle = new MeasurementCycle((n) => liveReading(plant, n), 0.5, () => clock.monotonic());
  reader.cycle = cycle;
  const meter = createMeter({ id: 'grid', ...config.meter }, clock, { reader });
  const s = new Site(config, { meter, boards: ids.map((id) => new VirtualBoard(plant.boards.get(id)!, 'bm1366', clock)), io: new VirtualIo(plant, clock, 0) }, clock);
  const trips: TripRecord[] = [];
  const samples: MeterSample[] = [];
  s.on('trip', (t: TripRecord) => trips.push(t));
  meter.on('sample', (x: MeterSample) => samples.push(x));
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      plant.tick(10);
      await flush();
    }
  };
  return { clock, plant, reader, cycle, meter, site: s, trips, samples, run, lost: () => trips.filter((t) => t.source === 'meter-lost').length };
}

test('A meter refreshing every 2 s does not trip the site under the defaults (25 s)', async () => {
  const r = site();
  await r.site.start();
  await r.run(25_000);
  assert.equal(r.lost(), 0, `meter-lost trips: ${r.trips.map((t) => t.source).join()}`);
  assert.equal(r.site.controller.state, 'running');
  assert.ok(r.samples.length >= 12 && r.samples.length <= 13, `${r.samples.length} samples`);
  assert.ok(r.meter.counters.repeats > 400);
  assert.equal(r.meter.counters.stale, 0);
  await r.site.stop();
});

test('The same meter with frozen_ms as short as its refresh does trip: the suite can see the difference', async () => {
  const r = site({ frozen_ms: 1000 });
  await r.site.start();
  await r.run(25_000);
  assert.ok(r.lost() >= 1, 'identical readings for 1 s count as frozen');
  assert.ok(r.meter.counters.stale >= 5, `${r.meter.counters.stale} times stale`);
  await r.site.stop();
});

test('A silent meter still trips meter-lost stale_ms after its last reply', async () => {
  const r = site();
  await r.site.start();
  await r.run(10_000);
  assert.equal(r.lost(), 0);
  const silentAt = r.clock.monotonic();
  r.reader.fail = () => new MeterError('no reply', 'timeout');
  await r.run(3000);
  assert.equal(r.lost(), 1, r.trips.map((t) => t.source).join());
  const trip = r.trips.find((t) => t.source === 'meter-lost')!;
  // wall stamp of the trip; the virtual clock's wall and monotonic start together here
  const after = trip.at - (r.clock.now() - r.clock.monotonic()) - silentAt;
  assert.ok(after >= 900 && after <= 1100, `trip ${after} ms after the meter went silent`);
  assert.equal(r.site.controller.state, 'tripped');
  await r.site.stop();
});

test('A meter whose readings stop changing trips meter-lost after frozen_ms (10 s)', async () => {
  const r = site();
  await r.site.start();
  await r.run(5000);
  r.reader.cycle = undefined;
  r.reader.reading = r.cycle.reading(); // the registers as last measured, from now on
  const since = r.samples.at(-1)!.mono; // ... which is when they were first read
  await r.run(since + 9500 - r.clock.monotonic());
  assert.equal(r.lost(), 0, 'identical for 9.5 s: not yet');
  await r.run(1000);
  assert.equal(r.lost(), 1);
  assert.equal(r.meter.counters.stale, 1);
  await r.site.stop();
});

test('Over Modbus TCP, the sim meter at 0.5 Hz: the driver publishes one sample per refresh and stays fresh; silenced, it goes stale', async () => {
  const plant = new Plant();
  plant.baseLoadKw = 2;
  const sim = await startSimMeter({ plant, model: 'sdm630', unit: 1, refreshHz: 0.5 });
  assert.equal(sim.refreshHz, 0.5);
  const meter = createMeter({ model: 'sdm630', tcp: sim.tcp, unit: 1, poll_ms: 50, stale_ms: 1000 }, realClock, { buses: new BusRegistry() });
  const samples: MeterSample[] = [];
  let stale = 0;
  meter.on('sample', (s: MeterSample) => samples.push(s));
  meter.on('stale', () => stale++);
  try {
    await meter.start();
    await wait(4500);
    assert.equal(stale, 0, 'a 2 s refresh is not a lost meter');
    assert.ok(samples.length >= 2 && samples.length <= 4, `${samples.length} samples in 4.5 s`);
    assert.ok(meter.counters.repeats >= 30, `${meter.counters.repeats} repeats`);
    // the first sample comes at start, part-way through a cycle; after it, one per refresh
    for (let i = 2; i < samples.length; i++) assert.ok(samples[i].mono - samples[i - 1].mono >= 1500, 'one sample per 2 s refresh');
    // a test engineer can change the rate while it runs
    sim.refreshHz = 10;
    const n = samples.length;
    await wait(1000);
    assert.ok(samples.length - n >= 5, `${samples.length - n} samples in 1 s at 10 Hz`);
    sim.faults.timeout = true;
    await nextEvent(meter, 'stale', () => true, 3000);
    assert.equal(stale, 1);
  } finally {
    await meter.stop();
    await sim.close();
  }
});

test('SimSite hands its meterRefreshHz option to the simulated grid meter', async () => {
  const dir = tmpDir();
  const steady: Scenario = { name: 'steady', description: 'steady', durationS: 60, at: () => ({ hz: 60, generationKw: 0, baseLoadKw: 1, relay: false }) };
  const s = await SimSite.start({ dir, boards: 1, chips: 4, scenario: steady, meterRefreshHz: 0.5 });
  const d = await SimSite.start({ dir: `${dir}/d`, boards: 1, chips: 4, scenario: steady });
  try {
    assert.equal(s.meter.refreshHz, 0.5);
    assert.equal(d.meter.refreshHz, 5);
  } finally {
    await s.close();
    await d.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
