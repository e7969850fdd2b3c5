import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { virtualSite } from './harness/virtual-site';

async function site(boards = 3) {
  const r = await virtualSite({ boards });
  await r.start();
  return r;
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

test('a board that stays broken is tried again every board_retry_ms, with one fault event, and never stops the others', async () => {
  const r = await site(3);
  await r.run(60_000);
  let bringUps = 0;
  const start = r.hw[2].start.bind(r.hw[2]);
  r.hw[2].start = () => { bringUps++; return start(); };
  r.hw[2].faults.silent = true;
  await r.run(5 * 60_000);
  assert.equal(r.hashing(), ['hb0', 'hb1']);
  assert.is(r.count('fault', 'board:hb2'), 1, 'one fault event, however often it is tried');
  assert.is(r.count('recover', 'board:hb2'), 0, 'no recovery while it does not answer');
  const expected = (5 * 60_000) / r.retryMs;
  assert.ok(bringUps >= expected - 1 && bringUps <= expected + 1, `${bringUps} bring-ups in 5 min, one per ${r.retryMs / 1000} s`);
  assert.match(r.s.telemetry().boards[2].fault ?? '', /unresponsive/, 'telemetry says why it is off');
  r.hw[2].faults.silent = false; // repaired
  await r.run(r.retryMs + 60_000);
  assert.equal(r.hashing(), ['hb0', 'hb1', 'hb2']);
  assert.is(r.count('recover', 'board:hb2'), 1);
  assert.is(r.s.controller.state, 'running');
  await r.s.stop();
});

test('a bring-up that fails once after a release is tried again although control\'s targets do not move', async () => {
  const r = await site(3);
  await r.run(5 * 60_000);
  assert.equal(r.hashing(), ['hb0', 'hb1', 'hb2']);
  let failNext = false; // a transient at power-up: hb2's next enumeration gets no reply
  const start = r.hw[2].start.bind(r.hw[2]);
  r.hw[2].start = async () => { if (failNext) { failNext = false; throw new Error('hb2: no reply to chip-id read'); } return start(); };
  await r.s.curtail();
  failNext = true;
  r.s.controller.release();
  await r.run(r.retryMs + 60_000);
  for (const id of ['hb0', 'hb1', 'hb2']) {
    const f = r.s.controller.frequencies.get(id) ?? 0;
    assert.ok(f > 0, `${id} has a target`);
  }
  assert.equal(r.hashing(), ['hb0', 'hb1', 'hb2'], 'every board with a target hashes');
  assert.is(r.count('fault', 'board:hb2'), 1);
  assert.is(r.count('recover', 'board:hb2'), 1);
  assert.is(r.s.controller.state, 'running');
  await r.s.stop();
});

test('a board whose port does not exist is tried once per board_retry_ms in surplus mode, not every few seconds', async () => {
  const r = await virtualSite({ config: { control: { mode: 'surplus' } } });
  r.plant.generationKw = 8;
  r.hw[1].start = async () => { throw new Error('hb1: /dev/ttyUSB1: No such file or directory'); };
  await r.start();
  await r.run(30 * 60_000, () => { r.plant.generationKw = 8 + Math.sin(r.clock.now() / 7000); });
  assert.is(r.count('fault', 'board:hb1'), 1);
  assert.is(r.count('recover', 'board:hb1'), 0);
  const tries = r.raised.hb1 ?? 0;
  assert.ok(tries >= 1 && tries <= (30 * 60_000) / r.retryMs + 1, `enable line raised ${tries} times in 30 min`);
  assert.equal(r.hashing(), ['hb0', 'hb2']);
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
