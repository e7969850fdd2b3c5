import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { BoardRunner } from '../agent/board-runner';
import { VirtualClock } from '../agent/clock';
import type { Hashboard } from '../agent/hardware';

/** a board whose link is gone: every step fails, as after its port closed at shutdown */
function closedBoard(calls: string[]): Hashboard {
  const fail = (what: string) => async () => {
    calls.push(what);
    throw new Error('hb0 is closed');
  };
  return {
    id: 'hb0', minMhz: 100, maxMhz: 500, kwAt: (mhz) => mhz / 500,
    start: fail('start'), setFrequency: fail('setFrequency'), trip: async () => { calls.push('trip'); },
    status: () => ({ id: 'hb0' }) as never, close: async () => {},
  };
}

const flush = () => new Promise((r) => setImmediate(r));

/** a runner on a closed board, asked for 300 MHz: its first step has failed, a retry is due */
async function failedRunner() {
  const clock = new VirtualClock();
  const calls: string[] = [];
  const faults: (string | undefined)[] = [];
  const r = new BoardRunner(closedBoard(calls), undefined, false, clock, pino({ level: 'silent' }), (f) => faults.push(f));
  r.target = 300;
  await flush();
  return { clock, calls, faults, r };
}

test('a failing step is retried while the runner runs', async () => {
  const { clock, calls, faults } = await failedRunner();
  assert.equal(calls, ['start']);
  assert.equal(faults, ['hb0 is closed']);
  assert.is(clock.pending, 1, 'one retry scheduled');
  clock.advance(2000);
  await flush();
  assert.equal(calls, ['start', 'start']);
});

test('after stop(): shed once, later targets ignored, the retry cancelled, no fault reported', async () => {
  const { clock, calls, faults, r } = await failedRunner();
  assert.is(clock.pending, 1);
  await r.stop();
  assert.is(clock.pending, 0, 'nothing left to keep the process alive');
  r.target = 400;
  await flush();
  clock.advance(10_000);
  await flush();
  assert.equal(calls, ['start', 'trip']);
  assert.equal(faults, ['hb0 is closed']);
});

test.run();
