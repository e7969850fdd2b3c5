import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { validateConfig } from '../agent/config';
import type { ControlEvent } from '../agent/control/types';
import { Site } from '../agent/site';
import { simBoard } from '../sim/hashboard';
import { Plant } from '../sim/plant';
import { VirtualBoard, VirtualIo, VirtualMeter } from '../sim/virtual';

/** The real Site on a virtual clock over in-process stand-ins (as agent/leap.ts builds them). */
async function site(boards = 3) {
  const clock = new VirtualClock();
  const plant = new Plant();
  const ids = Array.from({ length: boards }, (_, i) => `hb${i}`);
  for (const id of ids) { const b = simBoard(id, 'bm1366', 110); b.enabled = false; plant.boards.set(id, b); }
  plant.generationKw = 4;
  plant.baseLoadKw = 0.5;
  const config = validateConfig({
    agent: { id: 'faults' },
    meter: { tcp: '127.0.0.1:1', poll_ms: 1000, stale_ms: 5000 },
    boards: ids.map((id, i) => ({ id, serial: { tcp: '127.0.0.1:1' }, chips: 110, enable_pin: 22 + i })),
    io: { tcp: '127.0.0.1:1' },
    control: { mode: 'setpoint', setpoint_kw: 3 },
  });
  const io = new VirtualIo(plant, clock, 0);
  const meter = new VirtualMeter(plant, clock, 1000, 5000);
  const hw = ids.map((id) => new VirtualBoard(plant.boards.get(id)!, 'bm1366', clock));
  const s = new Site(config, { meter, boards: hw, io }, clock);
  const events: ControlEvent[] = [];
  s.on('control', (e: ControlEvent) => events.push(e));
  await s.start();
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) { clock.advance(100); plant.tick(100); await new Promise((r) => setImmediate(r)); }
  };
  const hashing = () => ids.filter((id) => { const b = plant.boards.get(id)!; return b.enabled && b.active; });
  // control.board_retry_ms at its default
  return { s, clock, plant, hw, events, run, hashing, retryMs: config.control.board_retry_ms };
}

test('a fault the driver reports on one board is forwarded: that board is left out, the others keep mining, recovery re-includes it', async () => {
  const r = await site(3);
  await r.run(60_000);
  assert.equal(r.hashing(), ['hb0', 'hb1', 'hb2'], 'all three mine to begin with');
  r.hw[1].faults.silent = true; // the chain stops answering: the driver's status reports it
  await r.run(3000);
  assert.ok(r.events.some((e) => e.kind === 'fault' && e.source === 'board:hb1'), 'fault event for board:hb1');
  assert.is(r.s.controller.state, 'fault');
  assert.equal(r.hashing(), ['hb0', 'hb2'], 'the faulted board is out, the rest keep mining');
  assert.is(r.s.controller.frequencies.get('hb1'), 0);
  assert.ok(r.s.minersKw() > 2, `the others took over its share: ${r.s.minersKw().toFixed(2)} kW`);
  await r.run(r.retryMs / 2);
  assert.equal(r.hashing(), ['hb0', 'hb2'], 'held out while the fault stands');
  r.hw[1].faults.silent = false; // repaired
  await r.run(r.retryMs + 60_000);
  assert.ok(r.events.some((e) => e.kind === 'recover' && e.source === 'board:hb1'), 'recover event');
  assert.equal(r.hashing(), ['hb0', 'hb1', 'hb2'], 'recovery re-includes it');
  assert.is(r.s.controller.state, 'running');
  await r.s.stop();
});

test('a board that stays broken is retried, not re-included, and never stops the others', async () => {
  const r = await site(3);
  await r.run(60_000);
  r.hw[2].faults.silent = true;
  await r.run(5 * 60_000);
  assert.ok(!r.hashing().includes('hb2'));
  assert.equal(r.hashing(), ['hb0', 'hb1']);
  const faults = r.events.filter((e) => e.kind === 'fault' && e.source === 'board:hb2').length;
  assert.ok(faults >= 1 && faults <= 12, `retried at most every ${r.retryMs / 1000} s or so: ${faults} fault events in 5 min`);
  await r.s.stop();
});

test('one status sweep per meter sample: control and other listeners share the miners kW', async () => {
  const r = await site(2);
  await r.run(30_000);
  let calls = 0;
  for (const b of r.hw) { const st = b.status.bind(b); b.status = () => { calls++; return st(); }; }
  const perSample: number[] = [];
  r.s.hw.meter.prependListener('sample', () => { calls = 0; }); // runs before the site's own
  r.s.hw.meter.on('sample', () => { assert.ok(r.s.minersKw() > 0); perSample.push(calls); }); // after it, as the ledger
  await r.run(3000);
  assert.equal(perSample, [2, 2, 2], 'one status() per board per sample, however many listeners ask');
  await r.s.stop();
});

test.run();
