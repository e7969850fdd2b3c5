import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REG_CHIP_ID } from '../drivers/hashboard/codec';
import { chainRig, until } from './hashboard-rig';

const DRIVER = { rampStepMhz: 100, rampStepMs: 100, pollMs: 1000, timeoutMs: 200, faultAfter: 3, retryMs: 500 };

/** a rig brought up and running at 300 MHz */
async function running(chips = 8) {
  const r = await chainRig({ chips, driver: DRIVER });
  await r.hb.start();
  const p = r.hb.setFrequency(300);
  await r.advance(() => r.hb.status().mhz === 300, 100, 'at 300');
  await p;
  await until(() => r.board.mhz === 300 && r.board.active, 'sim at 300');
  return r;
}

test('when the chain falls silent the board is faulted after three unanswered polls, and recovers when it answers', async () => {
  const r = await running();
  try {
    r.chain.faults.silent = true;
    await r.advance(() => r.hb.status().fault !== undefined, 250, 'faulted');
    const s = r.hb.status();
    assert.match(s.fault!, /^unresponsive/);
    assert.not.ok(s.on);
    assert.ok(s.counters.timeouts >= 3);
    r.chain.faults.silent = false;
    await r.advance(() => r.hb.status().on && r.hb.status().mhz === 300, 100, 'back at 300');
    assert.is(r.hb.status().fault, undefined);
  } finally {
    await r.close();
  }
});

test('garbage bytes between replies are skipped and counted, and the board keeps working', async () => {
  const r = await running();
  try {
    r.chain.faults.garbage = true;
    const before = r.hb.status().counters;
    for (let i = 0; i < 12; i++) { r.clock.advance(500); await r.settle(8); }
    const s = r.hb.status();
    assert.ok(s.counters.resyncs > before.resyncs, 'resyncs counted');
    assert.is(s.counters.timeouts, before.timeouts, 'every poll still answered');
    assert.is(s.fault, undefined);
    assert.ok(s.on && s.ghsCounters > 0);
  } finally {
    await r.close();
  }
});

test('replies with a bad CRC are counted, the board is faulted, and it recovers when the line is clean', async () => {
  const r = await running();
  try {
    r.chain.faults.badCrc = true;
    await r.advance(() => r.hb.status().fault !== undefined, 250, 'faulted');
    assert.ok(r.hb.status().counters.crcErrors > 0);
    r.chain.faults.badCrc = false;
    await r.advance(() => r.hb.status().fault === undefined && r.hb.status().on, 100, 'recovered');
  } finally {
    await r.close();
  }
});

test('slow replies inside the timeout are accepted, and replies slower than it count as timeouts', async () => {
  const r = await running();
  try {
    r.chain.faults.slowMs = 100;
    for (let i = 0; i < 16; i++) { r.clock.advance(50); await r.settle(5); }
    assert.is(r.hb.status().counters.timeouts, 0);
    assert.is(r.hb.status().fault, undefined);
    r.chain.faults.slowMs = 700; // after the 200 ms timeout, before the next poll: a late reply matches nothing
    await r.advance(() => r.hb.status().fault !== undefined, 100, 'faulted', 400);
    assert.ok(r.hb.status().counters.timeouts >= 3);
    r.chain.faults.slowMs = 0;
    await r.advance(() => r.hb.status().fault === undefined && r.hb.status().mhz === 300, 100, 'recovered', 400);
  } finally {
    await r.close();
  }
});

test('when the pty goes away the board is faulted as disconnected, and when it returns it is brought up and ramps back', async () => {
  const r = await running();
  try {
    await r.wire.unplug();
    await until(() => /^disconnected/.test(r.hb.status().fault ?? ''), 'disconnected fault');
    assert.not.ok(r.hb.status().on);
    r.clock.advance(500); // a retry while the pty is missing fails quietly
    await r.settle(30);
    assert.match(r.hb.status().fault!, /^disconnected/);
    const from = r.frames.length;
    await r.wire.plug();
    await r.advance(() => r.hb.status().on && r.hb.status().mhz === 300, 100, 'back at 300');
    const s = r.hb.status();
    assert.is(s.fault, undefined);
    assert.is(s.counters.reconnects, 1);
    assert.is(r.frames[from].data[1], REG_CHIP_ID, 're-enumerated first');
    await until(() => r.board.active && r.board.mhz === 300, 'sim hashing at 300');
  } finally {
    await r.close();
  }
});

test('a trip while the link is down resolves at once and the board comes back stopped', async () => {
  const r = await running();
  try {
    await r.wire.unplug();
    await until(() => r.hb.status().fault !== undefined, 'fault');
    await r.hb.trip();
    await r.wire.plug();
    await r.advance(() => r.hb.status().fault === undefined, 100, 'reconnected');
    r.clock.advance(2000);
    await r.settle(30);
    assert.not.ok(r.hb.status().on);
    assert.not.ok(r.board.active);
  } finally {
    await r.close();
  }
});

test('dropping the enable line resets the chain; when power returns the board is re-addressed and ramps back', async () => {
  const r = await running();
  try {
    r.board.enabled = false;
    assert.not.ok(r.board.active);
    assert.ok(r.chain.chips.every((c) => c.addr === 0 && !c.active), 'reset: addresses cleared, inactive');
    await r.advance(() => r.hb.status().fault !== undefined, 250, 'faulted');
    r.board.enabled = true;
    await r.advance(() => r.hb.status().on && r.hb.status().mhz === 300, 100, 'back at 300');
    await until(() => r.board.active && r.board.mhz === 300, 'sim at 300');
    assert.equal(r.chain.chips.map((c) => c.addr), [0, 32, 64, 96, 128, 160, 192, 224]);
  } finally {
    await r.close();
  }
});

test('a board whose chips never answer fails start-up with a timeout and keeps retrying', async () => {
  const r = await chainRig({ chips: 4, driver: DRIVER });
  try {
    r.chain.faults.silent = true;
    const p = r.hb.start();
    await r.settle();
    r.clock.advance(1000);
    await p.then(() => assert.unreachable(), (e) => assert.ok(e.timeout));
    assert.ok(r.hb.status().fault);
    r.chain.faults.silent = false;
    await r.advance(() => r.hb.status().fault === undefined, 100, 'came up');
    assert.is(r.hb.status().chipsFound, 4);
  } finally {
    await r.close();
  }
});

test.run();
