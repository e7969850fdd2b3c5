import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realClock, VirtualClock, type Clock } from '../agent/clock';
import type { MeterSample } from '../agent/hardware';
import { createMeter, MeterError } from '../drivers/meter';
import { flush, ImageReader } from './fixtures/meter/rig';

/**
 * The meter measures every duration on the monotonic clock and uses the wall clock only for the
 * samples' `at`. NTP (chrony, ntpd) or an operator's `date -s` steps the wall clock while a read
 * is on the wire: polling, the counter reads and the stale timer must not notice.
 */
function rig(clock: Clock & { advance?: (ms: number) => void }) {
  const reader = new ImageReader('sdm630');
  const meter = createMeter({ model: 'sdm630', tcp: '127.0.0.1:1', unit: 1, poll_ms: 50, stale_ms: 1000, counters_ms: 500 }, clock, { reader });
  const samples: MeterSample[] = [];
  const faults: MeterError[] = [];
  let stale = 0;
  let slowReads = 0;
  let w = 5000;
  const read = reader.read.bind(reader);
  reader.read = (u: number, fn: 3 | 4, a: number, c: number) => {
    if (c === 4) slowReads++; // the import/export block
    else reader.reading = { ...reader.reading, w: (w += 1) }; // a live meter: every reading new
    return read(u, fn, a, c);
  };
  meter.on('sample', (s) => samples.push(s));
  meter.on('fault', (e) => faults.push(e));
  meter.on('stale', () => stale++);
  return { reader, meter, samples, faults, stale: () => stale, slowReads: () => slowReads };
}

async function run(clock: VirtualClock, ms: number, step = 10): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await flush();
  }
}

for (const stepMs of [-60_000, +60_000]) {
  test(`Polling goes on through a ${stepMs > 0 ? '+' : '−'}60 s wall-clock step during a read: no stale, no gap, and \`at\` follows the wall clock`, async () => {
    const clock = new VirtualClock();
    const r = rig(clock);
    const fail = r.reader.fail;
    r.reader.fail = (n) => {
      if (n === 40) clock.stepWall(stepMs); // the step lands while this read is on the wire
      return fail?.(n);
    };
    await r.meter.start();
    await run(clock, 5000);
    await r.meter.stop();
    assert.equal(r.stale(), 0, 'never stale');
    assert.equal(r.faults.length, 0);
    // poll_ms 50 for 5 s
    assert.ok(r.samples.length >= 99 && r.samples.length <= 101, `${r.samples.length} samples`);
    let jump = 0;
    for (let i = 1; i < r.samples.length; i++) {
      const gap = r.samples[i].mono - r.samples[i - 1].mono;
      assert.ok(gap >= 40 && gap <= 60, `sample ${i}: ${gap} ms after the one before`);
      const wall = r.samples[i].at - r.samples[i - 1].at;
      if (Math.abs(wall - gap) > 1) jump += wall - gap;
    }
    // the samples' wall stamps show the step once, and only it
    assert.equal(jump, stepMs);
    assert.equal(r.samples.at(-1)!.at - r.samples.at(-1)!.mono, r.samples[0].at - r.samples[0].mono + stepMs);
    // counters_ms 500: the energy counters still come every 500 ms
    assert.ok(r.slowReads() >= 9 && r.slowReads() <= 11, `${r.slowReads()} counter reads`);
    assert.equal(clock.pending, 0, 'no timers left after stop');
  });
}

test('A silent meter is stale stale_ms after its last reply on the monotonic clock, whatever the wall clock does', async () => {
  for (const stepMs of [-60_000, +60_000]) {
    const clock = new VirtualClock();
    const r = rig(clock);
    await r.meter.start();
    await run(clock, 1000);
    let silentFrom = -1;
    r.reader.fail = () => {
      if (silentFrom < 0) { silentFrom = clock.monotonic(); clock.stepWall(stepMs); }
      return new MeterError('no reply', 'timeout');
    };
    let staleAt = -1;
    r.meter.on('stale', () => { staleAt = clock.monotonic(); });
    await run(clock, 3000);
    await r.meter.stop();
    assert.equal(r.stale(), 1, `step ${stepMs}: stale once`);
    const after = staleAt - silentFrom;
    assert.ok(after >= 950 && after <= 1000, `step ${stepMs}: stale ${after} ms after the last reply`);
    // backoff: poll_ms for the first two failures, then doubling (100, 200, 400, 800...)
    assert.ok(r.faults.length >= 5 && r.faults.length <= 7, `step ${stepMs}: ${r.faults.length} failed polls in 3 s`);
  }
});

test('On the real clock, a meter whose wall clock steps back 30 s mid-read keeps polling', async () => {
  let skew = 0;
  const clock: Clock = { ...realClock, now: () => Date.now() + skew };
  const r = rig(clock);
  const read = r.reader.read.bind(r.reader);
  let reads = 0;
  r.reader.read = async (u: number, fn: 3 | 4, a: number, c: number) => {
    if (++reads === 10) skew -= 30_000;
    await new Promise((res) => setTimeout(res, 5)); // the reply takes a little while
    return read(u, fn, a, c);
  };
  await r.meter.start();
  await new Promise((res) => setTimeout(res, 2000));
  await r.meter.stop();
  const stepAt = r.samples.findIndex((s, i) => i > 0 && s.at < r.samples[i - 1].at);
  assert.ok(stepAt > 0, 'the step is seen in the wall stamps');
  // at poll_ms 50 about 30 polls follow in the remaining 1.5 s; before the fix there were none
  assert.ok(r.samples.length - stepAt >= 15, `${r.samples.length - stepAt} samples after the step`);
  assert.equal(r.stale(), 0);
});

test.run();
