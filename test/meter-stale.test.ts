import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import type { MeterSample } from '../agent/hardware';
import { createMeter, MeterError, type MeterOptions } from '../drivers/meter';
import { liveReading, MeasurementCycle } from '../sim/meter-image';
import { Plant } from '../sim/plant';
import { flush, ImageReader } from './fixtures/meter/rig';

/** Poll scheduling, staleness and backoff in virtual time, over an in-memory register reader. */
function rig(model: 'sdm630' | 'sunspec' = 'sdm630', extra: Partial<MeterOptions> = {}) {
  const clock = new VirtualClock();
  const reader = new ImageReader(model === 'sdm630' ? 'sdm630' : 'sunspec');
  const meter = createMeter({ model, tcp: '127.0.0.1:1', unit: 1, poll_ms: 50, stale_ms: 1000, counters_ms: 500, ...extra }, clock, { reader });
  const samples: MeterSample[] = [];
  const faults: MeterError[] = [];
  let stale = 0;
  meter.on('sample', (s) => samples.push(s));
  meter.on('fault', (e) => faults.push(e));
  meter.on('stale', () => stale++);
  const run = async (ms: number, step = 10) => {
    for (let t = 0; t < ms; t += step) {
      clock.advance(step);
      await flush();
    }
  };
  return { clock, reader, meter, samples, faults, stale: () => stale, run };
}

test('A healthy meter publishes one sample per poll, stamped with the time it was read', async () => {
  const r = rig();
  await r.meter.start();
  let w = 5000;
  r.reader.fail = () => { r.reader.reading = { ...r.reader.reading, w: (w += 1) }; return undefined; };
  await r.run(500);
  await r.meter.stop();
  assert.ok(r.samples.length >= 9 && r.samples.length <= 11, `${r.samples.length} samples`);
  for (let i = 1; i < r.samples.length; i++) assert.ok(r.samples[i].at > r.samples[i - 1].at, 'strictly increasing times');
  // the first sample goes out before the first (slower) counter read; later ones carry it
  assert.equal(r.samples[1].importKwh, 1);
  assert.equal(r.samples[1].exportKwh, 2);
  assert.equal(r.clock.pending, 0, 'no timers left after stop');
});

/** the sim meter's measurement cycle on the suite's virtual clock: new values refreshHz times a second */
function refreshing(r: ReturnType<typeof rig>, refreshHz: number): MeasurementCycle {
  const plant = new Plant();
  plant.baseLoadKw = 5;
  r.reader.cycle = new MeasurementCycle((n) => liveReading(plant, n), refreshHz, () => r.clock.monotonic());
  return r.reader.cycle;
}

test('A meter refreshing every 2 s is alive: one sample per refresh, the reads between are repeats, never stale', async () => {
  const r = rig();
  refreshing(r, 0.5);
  await r.meter.start();
  await r.run(25_000);
  await r.meter.stop();
  assert.equal(r.stale(), 0, 'identical reads for 2 s are not a lost meter');
  assert.equal(r.meter.counters.stale, 0);
  assert.equal(r.faults.length, 0);
  // refreshes at 0, 2, ... 24 s: 13 measurements, each published once
  assert.equal(r.samples.length, 13);
  for (let i = 1; i < r.samples.length; i++) {
    assert.ok(Math.abs(r.samples[i].mono - r.samples[i - 1].mono - 2000) <= 50, `sample ${i} ${r.samples[i].mono - r.samples[i - 1].mono} ms after the one before`);
    assert.not.equal([r.samples[i].hz, r.samples[i].kw], [r.samples[i - 1].hz, r.samples[i - 1].kw], 'every sample is a new measurement');
  }
  assert.ok(r.meter.counters.repeats > 450, `${r.meter.counters.repeats} repeats`);
  // the last sample is the last measurement, never re-stamped by the repeats after it
  assert.equal(r.meter.last, r.samples.at(-1));
});

test('Identical readings for frozen_ms (10 s by default) make the meter stale once, reason frozen; a new reading ends it', async () => {
  const r = rig();
  await r.meter.start();
  await r.run(100);
  const before = r.samples.length;
  assert.equal(before, 1);
  const firstMono = r.samples[0].mono;
  await r.run(9700);
  assert.equal(r.samples.length, before, 'identical reads are not new samples');
  assert.equal(r.stale(), 0, 'identical reads for 9.8 s, far past stale_ms: still alive');
  assert.equal(r.meter.stale, false);
  await r.run(400);
  assert.equal(r.stale(), 1, 'stale once');
  assert.equal(r.faults.map((f) => f.kind), ['frozen']);
  assert.match(r.faults[0].message, /frozen for 100\d\d ms/);
  assert.ok(r.clock.monotonic() - firstMono >= 10_000);
  await r.run(2000);
  assert.equal(r.stale(), 1, 'still once');
  assert.equal(r.faults.length, 1);
  assert.ok(r.meter.counters.repeats > 200);
  r.reader.reading = { ...r.reader.reading, w: 4321 };
  await r.run(100);
  assert.equal(r.samples.length, before + 1);
  assert.equal(r.samples.at(-1)!.kw, 4.321);
  assert.equal(r.meter.stale, false);
  await r.meter.stop();
});

test('frozen_ms sets how long identical readings may last', async () => {
  const r = rig('sdm630', { frozen_ms: 3000 });
  await r.meter.start();
  await r.run(2900);
  assert.equal(r.stale(), 0);
  await r.run(300);
  assert.equal(r.stale(), 1);
  assert.equal(r.faults.map((f) => f.kind), ['frozen']);
  await r.meter.stop();
});

test('A slow meter that stops answering is stale stale_ms after its last reply, not frozen', async () => {
  const r = rig();
  refreshing(r, 0.5);
  await r.meter.start();
  await r.run(3000);
  assert.equal(r.samples.length, 2);
  let lastReply = 0;
  let silent = true;
  const read = r.reader.read.bind(r.reader);
  r.reader.read = async (u: number, fn: 3 | 4, a: number, c: number) => {
    if (silent) throw new MeterError('no reply', 'timeout');
    lastReply = r.clock.monotonic();
    return read(u, fn, a, c);
  };
  lastReply = r.clock.monotonic() - 10; // the last good poll was one step ago
  let staleAt = -1;
  r.meter.on('stale', () => { staleAt = r.clock.monotonic(); });
  await r.run(3000);
  assert.equal(r.stale(), 1);
  const after = staleAt - lastReply;
  assert.ok(after >= 1000 && after <= 1060, `stale ${after} ms after the last reply`);
  assert.ok(r.faults.every((f) => f.kind === 'timeout'), r.faults.map((f) => f.kind).join());
  silent = false;
  await r.run(4000, 25);
  assert.ok(r.samples.length >= 3, 'recovered at its next refresh');
  assert.equal(r.meter.stale, false);
  await r.meter.stop();
});

test('With allow_repeats, identical reads are published and the meter is never frozen', async () => {
  const r = rig('sdm630', { allow_repeats: true });
  await r.meter.start();
  await r.run(12_000, 50);
  await r.meter.stop();
  assert.equal(r.stale(), 0);
  assert.equal(r.faults.length, 0);
  assert.ok(r.samples.length >= 230, `${r.samples.length} samples`);
  assert.equal(r.meter.counters.repeats, 0);
});

test('A dead meter backs off exponentially, goes stale once, and recovers by itself', async () => {
  const r = rig();
  let dead = true;
  r.reader.fail = () => {
    r.reader.reading = { ...r.reader.reading, w: r.reader.reading.w + 1 };
    return dead ? new MeterError('no reply', 'timeout') : undefined;
  };
  await r.meter.start();
  await r.run(10_000, 25);
  assert.equal(r.samples.length, 0);
  assert.equal(r.stale(), 1);
  // at poll_ms 50 without backoff there would be 200 attempts in 10 s
  assert.ok(r.reader.reads < 20, `${r.reader.reads} attempts`);
  assert.equal(r.meter.counters.timeouts, r.reader.reads);
  assert.ok(r.faults.every((f) => f.kind === 'timeout' && f.timeout));
  dead = false;
  await r.run(6000, 25);
  assert.ok(r.samples.length >= 1, 'recovered');
  assert.equal(r.meter.stale, false);
  await r.meter.stop();
});

test('Energy counters are read less often than frequency and power', async () => {
  const r = rig();
  const sizes: number[] = [];
  const read = r.reader.read.bind(r.reader);
  r.reader.read = (u: number, fn: 3 | 4, a: number, c: number) => { sizes.push(c); r.reader.reading = { ...r.reader.reading, w: r.reader.reading.w + 1 }; return read(u, fn, a, c); };
  await r.meter.start();
  await r.run(2000);
  await r.meter.stop();
  const fast = sizes.filter((c) => c === 20).length;
  const slow = sizes.filter((c) => c === 4).length;
  assert.ok(fast >= 35, `${fast} fast reads`);
  assert.ok(slow >= 3 && slow <= 5, `${slow} slow reads`);
});

test('A SunSpec meter answering exception 02 after discovery is walked again', async () => {
  const r = rig('sunspec');
  let n = 0;
  r.reader.fail = (i) => (i === 6 ? new MeterError('gone', 'exception', 2) : (r.reader.reading = { ...r.reader.reading, w: ++n }, undefined));
  await r.meter.start();
  await r.run(500);
  await r.meter.stop();
  assert.equal(r.meter.counters.exceptions, 1);
  assert.ok(r.samples.length >= 5);
});

test('Bad options are all reported at once with their config paths', () => {
  const clock = new VirtualClock();
  try {
    createMeter({ model: 'sdm630', unit: 300, poll_ms: 1, stale_ms: 10, frozen_ms: 10 } as never, clock, { reader: new ImageReader('sdm630') });
    assert.unreachable();
  } catch (e) {
    const msg = (e as Error).message;
    for (const k of ['meter: give exactly one', 'meter.unit', 'meter.poll_ms', 'meter.stale_ms', 'meter.frozen_ms']) assert.ok(msg.includes(k), k);
  }
});

test.run();
