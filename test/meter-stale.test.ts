import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import type { MeterSample } from '../agent/hardware';
import { createMeter, MeterError } from '../drivers/meter';
import { flush, ImageReader } from './fixtures/meter/rig';

/** Poll scheduling, staleness and backoff in virtual time, over an in-memory register reader. */
function rig(model: 'sdm630' | 'sunspec' = 'sdm630') {
  const clock = new VirtualClock();
  const reader = new ImageReader(model === 'sdm630' ? 'sdm630' : 'sunspec');
  const meter = createMeter({ model, tcp: '127.0.0.1:1', unit: 1, poll_ms: 50, stale_ms: 1000, counters_ms: 500 }, clock, { reader });
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

test('A frozen meter is never republished with a fresh time, goes stale and says it is frozen', async () => {
  const r = rig();
  await r.meter.start();
  await r.run(100);
  const before = r.samples.length;
  assert.ok(before >= 1);
  await r.run(1500);
  assert.equal(r.samples.length, before, 'identical reads are not new samples');
  assert.equal(r.stale(), 1, 'stale once');
  assert.ok(r.faults.some((f) => f.kind === 'frozen'));
  assert.ok(r.meter.counters.repeats > 10);
  r.reader.reading = { ...r.reader.reading, w: 4321 };
  await r.run(100);
  assert.equal(r.samples.length, before + 1);
  assert.equal(r.samples.at(-1)!.kw, 4.321);
  await r.meter.stop();
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
    createMeter({ model: 'sdm630', unit: 300, poll_ms: 1, stale_ms: 10 } as never, clock, { reader: new ImageReader('sdm630') });
    assert.unreachable();
  } catch (e) {
    const msg = (e as Error).message;
    for (const k of ['meter: give exactly one', 'meter.unit', 'meter.poll_ms', 'meter.stale_ms']) assert.ok(msg.includes(k), k);
  }
});

test.run();
