import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rig } from './harness/control';

// A thousand network miners can fault or fall due for a retry together: the control core takes
// each faulted load out at once, and re-splits the target once for all of them on the next turn.

test('a fault takes its load to 0 at once; the others are re-split once on the next turn, for every fault of this one', () => {
  const r = rig({ mode: 'setpoint', setpointKw: 3 }, 6);
  r.c.sample(r.clock.monotonic(), 60, 0, 0);
  const before = r.applied.length;
  for (const id of ['hb0', 'hb1', 'hb2']) r.c.fault(`board:${id}`, 'no answer');
  for (const id of ['hb0', 'hb1', 'hb2']) assert.is(r.last().get(id), 0, `${id} off at once`);
  const drops = r.applied.length - before;
  r.clock.advance(0);
  assert.is(r.applied.length - before - drops, 1, 'one re-split for the three faults');
  assert.ok(r.onKw() > 2.5 && r.onKw() <= 3 + 1e-9, `the target on the boards left: ${r.onKw()} kW`);
});

test('retries that fall due together are split once, on the next turn', () => {
  const r = rig({ mode: 'setpoint', setpointKw: 3, boardOnDelayMs: 0 }, 6);
  for (let i = 0; i < 6; i++) r.c.fault(`board:hb${i}`, 'no answer');
  r.clock.advance(0);
  r.c.sample(r.clock.monotonic(), 60, 0, 0);
  assert.is(r.onKw(), 0, 'every board held out');
  const before = r.applied.length;
  for (let i = 0; i < 6; i++) r.c.retryFault(`board:hb${i}`);
  assert.is(r.applied.length, before, 'nothing before the turn ends');
  r.clock.advance(0);
  assert.is(r.applied.length - before, 1, 'one re-split for six retries');
  assert.ok(r.onKw() > 2.5, 'the boards on trial take the target');
});

test('loads that recover in one turn cost one re-split, on the next turn', () => {
  const r = rig({ mode: 'setpoint', setpointKw: 6, boardOnDelayMs: 0 }, 6);
  r.c.sample(r.clock.monotonic(), 60, 0, 0);
  r.c.fault('board:hb0', 'x');
  r.c.fault('board:hb1', 'y');
  r.clock.advance(0);
  const before = r.applied.length;
  r.c.unfault('board:hb0');
  r.c.unfault('board:hb1');
  assert.is(r.applied.length, before, 'nothing before the turn ends');
  r.clock.advance(0);
  assert.ok(r.applied.length - before <= 1, `${r.applied.length - before} splits`);
  assert.ok(r.last().get('hb0')! > 0 && r.last().get('hb1')! > 0, 'both back in the split');
});

test.run();
