import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CMD_INACTIVE, CMD_SETADDRESS, GROUP_ALL, REG_CHIP_ID, TYPE_CMD } from '../drivers/hashboard/codec';
import { chainRig, until } from './hashboard-rig';

const isInactive = (h: number) => h === (TYPE_CMD | GROUP_ALL | CMD_INACTIVE);

test('start-up enumerates 110 chips, sends chain-inactive, then gives each chip its own address', async () => {
  const r = await chainRig({ chips: 110 });
  try {
    await r.hb.start();
    const f = r.frames;
    assert.is(f[0].data[1], REG_CHIP_ID);
    assert.ok(isInactive(f[1].header), 'chain inactive right after enumeration');
    const addrs = f.filter((x) => x.header === (TYPE_CMD | CMD_SETADDRESS)).map((x) => x.data[0]);
    assert.equal(addrs, Array.from({ length: 110 }, (_, i) => i * 2), '256/110 -> every second address');
    assert.equal(r.chain.chips.map((c) => c.addr), addrs);
    const s = r.hb.status();
    assert.equal([s.chipsFound, s.on, s.mhz, s.fault], [110, false, 0, undefined]);
    assert.not.ok(r.board.active, 'left stopped');
  } finally {
    await r.close();
  }
});

test('throttling ramps the PLL in small steps, one step per period, up and down', async () => {
  const r = await chainRig({ driver: { rampStepMhz: 50, rampStepMs: 100 } });
  try {
    await r.hb.start();
    const from = r.frames.length;
    const up = r.hb.setFrequency(300);
    await r.settle();
    assert.equal(r.pllWrites(from), [50], 'starts from the floor');
    for (let i = 0; i < 5; i++) { r.clock.advance(100); await r.settle(5); }
    await up;
    await until(() => r.board.mhz === 300, 'sim at 300 MHz');
    assert.equal(r.pllWrites(from), [50, 100, 150, 200, 250, 300]);
    assert.ok(r.frames.slice(from).some((f) => f.job), 'work was sent');
    assert.ok(r.board.active);
    const down = r.frames.length;
    const p = r.hb.setFrequency(150);
    await r.advance(() => r.hb.status().mhz === 150, 100, 'down at 150');
    await p;
    await until(() => r.board.mhz === 150, 'sim at 150 MHz');
    assert.equal(r.pllWrites(down), [250, 200, 150]);
    const s = r.hb.status();
    assert.equal([s.on, s.mhz, s.targetMhz], [true, 150, 150]);
    assert.is(s.kw, r.hb.kwAt(150));
  } finally {
    await r.close();
  }
});

test('setFrequency(0) ramps down to the floor and then sends chain-inactive', async () => {
  const r = await chainRig({ driver: { rampStepMhz: 100, rampStepMs: 100 } });
  try {
    await r.hb.start();
    const p = r.hb.setFrequency(250);
    await r.advance(() => r.hb.status().mhz === 250, 100, 'up');
    await p;
    const from = r.frames.length;
    const q = r.hb.setFrequency(0);
    await r.advance(() => !r.hb.status().on, 100, 'stopped');
    await q;
    await until(() => !r.board.active, 'sim inactive');
    assert.equal(r.pllWrites(from), [150, 50]);
    assert.ok(isInactive(r.frames[r.frames.length - 1].header));
  } finally {
    await r.close();
  }
});

test('a trip writes chain-inactive and the lowest PLL at once, cancelling the ramp in progress', async () => {
  const r = await chainRig({ driver: { rampStepMhz: 25, rampStepMs: 100 } });
  try {
    await r.hb.start();
    void r.hb.setFrequency(485);
    for (let i = 0; i < 4; i++) { r.clock.advance(100); await r.settle(5); }
    await until(() => r.board.active, 'hashing');
    await r.settle(10); // frames written before the trip must have arrived before we count
    const from = r.frames.length;
    await r.hb.trip(); // no clock advance: a trip waits for nothing
    assert.not.ok(r.hb.status().on);
    await until(() => r.frames.length >= from + 2, 'trip frames');
    assert.ok(isInactive(r.frames[from].header), 'chain inactive first');
    assert.equal(r.pllWrites(from), [50], 'then the lowest PLL setting');
    assert.not.ok(r.board.active);
    r.clock.advance(5000);
    await r.settle(30);
    assert.equal(r.frames.slice(from + 2).filter((f) => f.job || f.data[1] === 0x08), [], 'no ramp step or work after the trip');
  } finally {
    await r.close();
  }
});

test('nonces come back at a rate that follows frequency, and both estimates track it', async () => {
  const r = await chainRig({ chips: 8, driver: { difficulty: 16, rampStepMhz: 500, rampStepMs: 10 } });
  try {
    await r.hb.start();
    const p = r.hb.setFrequency(485);
    await r.advance(() => r.hb.status().mhz === 485, 10, 'at 485');
    await p;
    for (let i = 0; i < 48; i++) { r.clock.advance(250); await r.settle(4); }
    const s = r.hb.status();
    assert.ok(Math.abs(s.ghsCounters / s.nominalGhs - 1) < 0.1, `counters ${s.ghsCounters} vs ${s.nominalGhs}`);
    assert.ok(Math.abs(s.ghs / s.nominalGhs - 1) < 0.25, `nonces ${s.ghs} vs ${s.nominalGhs}`);
    const q = r.hb.setFrequency(242.5);
    await r.advance(() => r.hb.status().mhz === 242.5, 10, 'at 242.5');
    await q;
    for (let i = 0; i < 48; i++) { r.clock.advance(250); await r.settle(4); }
    const h = r.hb.status();
    assert.ok(Math.abs(h.ghsCounters / s.ghsCounters - 0.5) < 0.1, `half the rate at half the clock: ${h.ghsCounters}`);
  } finally {
    await r.close();
  }
});

test.run();
