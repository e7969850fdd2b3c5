import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REG_CHIP_ID } from '../drivers/hashboard/codec';
import type { SimBoard } from '../sim/plant';
import { chainRig, until } from './hashboard-rig';

test('with a power line, a trip writes chain-inactive, then drops the line; the next ramp powers up and re-enumerates', async () => {
  let sim: SimBoard | undefined;
  const lines: boolean[] = [];
  const power = (on: boolean) => { lines.push(on); if (sim) sim.enabled = on; };
  const r = await chainRig({ driver: { power, powerOnMs: 200, rampStepMhz: 100, rampStepMs: 100 } });
  sim = r.board;
  try {
    const started = r.hb.start();
    await r.advance(() => r.hb.status().chipsFound === 8, 100, 'started');
    await started;
    const p = r.hb.setFrequency(300);
    await r.advance(() => r.hb.status().mhz === 300, 100, 'at 300');
    await p;
    await until(() => r.board.active, 'hashing');
    const from = r.frames.length;
    await r.hb.trip();
    assert.equal(lines, [true, false]);
    assert.not.ok(r.board.enabled);
    const s = r.hb.status();
    assert.equal([s.on, s.fault], [false, undefined], 'off is not a fault');
    // the chain-inactive bytes were handed to the OS before the line dropped; whether an
    // unpowered chain still heard them does not matter, it is reset either way
    r.clock.advance(5000);
    await r.settle(30);
    assert.is(r.hb.status().fault, undefined, 'an unpowered chain is not polled');
    const up = r.hb.setFrequency(200);
    assert.equal(lines, [true, false, true]);
    await r.advance(() => r.hb.status().mhz === 200, 100, 'at 200');
    await up;
    await until(() => r.board.active && r.board.mhz === 200, 'sim at 200');
    const again = r.frames.slice(from);
    assert.ok(again.some((f) => f.data[1] === REG_CHIP_ID && !f.job), 're-enumerated');
    assert.ok(r.chain.chips.every((c, i) => c.addr === i * 32));
  } finally {
    await r.close();
  }
});

test('a power blip between polls is noticed by the lost addresses and the chain is brought up again', async () => {
  const r = await chainRig({ driver: { rampStepMhz: 100, rampStepMs: 100, retryMs: 200 } });
  try {
    await r.hb.start();
    const p = r.hb.setFrequency(300);
    await r.advance(() => r.hb.status().mhz === 300, 100, 'at 300');
    await p;
    r.board.enabled = false;
    r.board.enabled = true;
    assert.ok(r.chain.chips.every((c) => c.addr === 0));
    await r.advance(() => /^chain reset/.test(r.hb.status().fault ?? ''), 100, 'reset noticed');
    await r.advance(() => r.hb.status().on && r.hb.status().mhz === 300 && !r.hb.status().fault, 100, 'back');
    await until(() => r.board.active && r.board.mhz === 300, 'sim at 300');
  } finally {
    await r.close();
  }
});

test('when the agent cuts the enable line itself after a trip, the stopped board is not faulted, and start() re-enumerates it', async () => {
  const r = await chainRig({ driver: { rampStepMhz: 100, rampStepMs: 100 } });
  try {
    await r.hb.start();
    const p = r.hb.setFrequency(300);
    await r.advance(() => r.hb.status().mhz === 300, 100, 'at 300');
    await p;
    await r.hb.trip();
    r.board.enabled = false; // what agent/board-runner.ts does on a shed
    r.clock.advance(10_000);
    await r.settle(30);
    assert.is(r.hb.status().fault, undefined);
    r.board.enabled = true;
    const from = r.frames.length;
    await r.hb.start();
    assert.is(r.frames[from].data[1], REG_CHIP_ID);
    assert.ok(r.chain.chips.every((c, i) => c.addr === i * 32), 'fresh addresses');
    const q = r.hb.setFrequency(200);
    await r.advance(() => r.hb.status().mhz === 200, 100, 'at 200');
    await q;
    await until(() => r.board.active && r.board.mhz === 200, 'sim at 200');
  } finally {
    await r.close();
  }
});

test.run();
