import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { BoardRunner } from '../agent/board-runner';
import { VirtualClock } from '../agent/clock';
import type { Hashboard, IoBoard } from '../agent/hardware';

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

/** a runner on a closed board, asked for 300 MHz: its first step has failed */
async function failedRunner() {
  const clock = new VirtualClock();
  const calls: string[] = [];
  const faults: (string | undefined)[] = [];
  const r = new BoardRunner(closedBoard(calls), undefined, false, clock, pino({ level: 'silent' }), (f) => faults.push(f));
  r.target = 300;
  await flush();
  return { clock, calls, faults, r };
}

test('a failing step is reported once, and the runner leaves the retry to the site', async () => {
  const { clock, calls, faults } = await failedRunner();
  assert.equal(calls, ['start']);
  assert.equal(faults, ['hb0 is closed']);
  assert.is(clock.pending, 0, 'no retry of its own');
  clock.advance(60_000);
  await flush();
  assert.equal(calls, ['start']);
});

test('after stop(): shed once, later targets ignored, no fault reported', async () => {
  const { clock, calls, faults, r } = await failedRunner();
  await r.stop();
  assert.is(clock.pending, 0, 'nothing left to keep the process alive');
  r.target = 400;
  await flush();
  clock.advance(10_000);
  await flush();
  assert.equal(calls, ['start', 'trip']);
  assert.equal(faults, ['hb0 is closed']);
});

/** a healthy board whose every call is logged, with a settable delay on start() */
function workingBoard(calls: string[]) {
  let release: (() => void) | undefined;
  const board: Hashboard & { holdStart: boolean; finishStart(): void } = {
    id: 'hb0', minMhz: 100, maxMhz: 500, kwAt: (mhz) => mhz / 500, holdStart: false,
    finishStart: () => release?.(),
    start: async () => { calls.push('start'); if (board.holdStart) await new Promise<void>((r) => { release = r; }); },
    setFrequency: async (mhz) => { calls.push(`f${mhz}`); },
    trip: async () => { calls.push('trip'); },
    status: () => ({ id: 'hb0' }) as never, close: async () => {},
  };
  return board;
}

test('a target set while a step runs, or set in answer to its result, is not lost', async () => {
  const clock = new VirtualClock();
  const calls: string[] = [];
  const board = workingBoard(calls);
  let answer: number | undefined;
  const r = new BoardRunner(board, undefined, false, clock, pino({ level: 'silent' }), (f) => {
    // control answers a board that came up with a new split, from inside the report
    if (f === undefined && answer !== undefined) { r.target = answer; answer = undefined; }
  });
  board.holdStart = true;
  r.target = 300;
  await flush();
  r.target = 350; // arrives while start() is still running
  board.finishStart();
  await flush(); await flush();
  assert.equal(calls, ['start', 'f300', 'f350'], 'the step in flight finishes, then the newer target is stepped to');
  answer = 400;
  r.target = 375;
  for (let i = 0; i < 5; i++) await flush();
  assert.equal(calls, ['start', 'f300', 'f350', 'f375', 'f400'], 'the target set from the report is stepped to');
  assert.is(r.target, 400);
});

test('a failed ramp down still cuts the enable line', async () => {
  const clock = new VirtualClock();
  const levels: boolean[] = [];
  const io = { setEnable: (_id: string, on: boolean) => levels.push(on) } as unknown as IoBoard;
  let failRamp = false;
  const board: Hashboard = {
    id: 'hb0', minMhz: 100, maxMhz: 500, kwAt: (mhz) => mhz / 500,
    start: async () => {}, setFrequency: async () => { if (failRamp) throw new Error('link down'); },
    trip: async () => {}, status: () => ({ id: 'hb0' }) as never, close: async () => {},
  };
  const faults: (string | undefined)[] = [];
  const r = new BoardRunner(board, io, true, clock, pino({ level: 'silent' }), (f) => faults.push(f));
  r.target = 300;
  await flush();
  clock.advance(200); // power-up wait
  for (let i = 0; i < 3; i++) await flush();
  assert.equal(levels, [true]);
  failRamp = true;
  r.target = 0;
  for (let i = 0; i < 3; i++) await flush();
  assert.equal(levels, [true, false], 'the board is unpowered although the chain did not take the ramp down');
  assert.equal(faults, [undefined, 'link down']);
});

test.run();
