import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, HashflexError } from '../agent/errors';
import { VnishMiner } from '../drivers/miner/vnish';
import { minerOptions, rig, type Rig } from './fixtures/vnish/rig';

/**
 * The VNish token and the trip path, over loopback HTTP (127.26.2.x): the token is renewed in
 * the background (after a 401 taught its lifetime, ahead of the next lapse), a stop never waits
 * for an unlock, a refused password is a fault of its own, and a kept-alive connection the
 * firmware drops is tried once more. Time is the rig's virtual clock, which the sim ages tokens by.
 */
let next = 1;
const host = () => `127.26.2.${next++}`;

async function within(made: Promise<Rig>, fn: (r: Rig) => Promise<void>): Promise<void> {
  const r = await made;
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}

/** real loopback I/O has to land: wait for it, bounded (no timer stands in for the virtual clock) */
async function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.unreachable(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function stepTo(r: Rig, totalMs: number, stepMs = 5000): Promise<void> {
  for (let t = 0; t < totalMs; t += stepMs) await r.advance(stepMs);
}

test('A lapsed token is renewed by the poll that meets the 401, and the lifetime it showed brings the next renewal ahead of the lapse', () => within(rig(host(), { tokenTtlMs: 60_000 }), async (r) => {
  await r.miner.start();
  r.mark();
  await stepTo(r, 65_000);
  const lines = r.since();
  const refused = lines.indexOf('GET /api/v1/summary 401');
  assert.ok(refused >= 0, `a poll met the lapse: ${lines.join(', ')}`);
  assert.equal(lines.slice(refused, refused + 3), ['GET /api/v1/summary 401', 'POST /api/v1/unlock 200', 'GET /api/v1/summary 200']);
  assert.is(r.miner.status().fault, undefined);
  assert.is(r.miner.details().tokenLifeMs, 65_000);
  // from now on the token is renewed at 60 % of that: no poll meets a 401 again
  r.mark();
  await stepTo(r, 200_000);
  const later = r.since();
  assert.not.ok(later.some((l) => l.endsWith(' 401')), later.filter((l) => l.endsWith(' 401')).join(', '));
  assert.ok(later.filter((l) => l === 'POST /api/v1/unlock 200').length >= 4, `renewed ahead: ${later.join(', ')}`);
  r.mark();
  await r.miner.stop();
  assert.equal(r.since(), ['POST /api/v1/mining/stop 200']);
}));

test('Stop never waits for an unlock: with a renewal hanging beside it, the stop is one POST with the token in hand', () => within(rig(host(), {}, {}, { tokenRefreshMs: 10_000 }), async (r) => {
  await r.miner.start();
  r.sim.faults.hangUnlock = true;
  // the poll at 10 s finds the token due and renews it in the background: the unlock hangs
  await r.advance(5_000);
  r.clock.advance(5_000);
  await until(() => r.sim.requests.some((x) => x.path === '/api/v1/unlock' && x.outcome === 'hung'), 'the renewal reached the firmware');
  assert.ok(r.miner.unlocking);
  r.mark();
  await r.miner.stop();
  assert.equal(r.since(), ['POST /api/v1/mining/stop 200']);
  assert.ok(r.miner.unlocking, 'the stop resolved with the unlock still out');
  assert.is(r.sim.machine.state, 'stopping');
  // the renewal times out; the token in hand is kept and the miner is no worse for it
  await r.miner.idle();
  assert.not.ok(r.miner.unlocking);
  assert.ok(r.miner.details().tokenHeld);
  r.sim.faults.hangUnlock = false;
  await r.miner.refresh();
  assert.is(r.miner.status().fault, undefined);
}));

test('A stop that meets a token the firmware dropped takes a new one and is sent once more (the one case that waits for an unlock)', () => within(rig(host()), async (r) => {
  await r.miner.start();
  r.sim.expireTokens();
  r.mark();
  await r.miner.stop();
  assert.equal(r.since(), ['POST /api/v1/mining/stop 401', 'POST /api/v1/unlock 200', 'POST /api/v1/mining/stop 200']);
  assert.is(r.sim.machine.state, 'stopping');
  // dropped young (a restart, not its lifetime): nothing learned
  assert.is(r.miner.details().tokenLifeMs, undefined);
}));

test('A refused password is a fault of its own; stop() rejects without the command going out, and the fault clears once the password is right', () => within(rig(host(), { password: 'not-admin' }), async (r) => {
  await r.miner.start();
  let st = r.miner.status();
  assert.match(st.fault ?? '', /credentials refused: .*password refused \(HTTP 403\)/);
  assert.is(st.state, 'unknown');
  r.mark();
  const e = await r.miner.stop().then(() => undefined, (x: unknown) => x as HashflexError);
  assert.ok(e instanceof HashflexError);
  assert.is(e.code, ErrorCode.DeviceFault);
  assert.match(e.message, /stop not accepted/);
  assert.equal(r.since(), ['POST /api/v1/unlock 403'], 'no mining/stop without a token');
  r.sim.password = 'admin';
  await r.advance(30_000);
  st = r.miner.status();
  assert.is(st.fault, undefined);
  assert.is(st.state, 'hashing');
}));

test('A kept-alive connection the firmware drops as the stop arrives is tried once more on a fresh connection', () => within(rig(host()), async (r) => {
  await r.miner.start();
  r.sim.faults.resetReused = true;
  r.mark();
  await r.miner.stop();
  assert.equal(r.since(), ['POST /api/v1/mining/stop reset', 'POST /api/v1/mining/stop 200']);
  assert.ok(r.miner.status().counters.resyncs >= 1);
}));

test('A miner down at start is a fault and start() still resolves; once up, it is identified, unlocked and polled', async () => {
  const { SimVnish } = await import('../sim/miners/vnish');
  const { VirtualClock } = await import('../agent/clock');
  const h = host();
  const clock = new VirtualClock();
  const miner = new VnishMiner(minerOptions({ host: h, ports: { api: 4028, web: 80 } }, { pollMs: 5000 }), clock);
  let sim: InstanceType<typeof SimVnish> | undefined;
  try {
    await miner.start();
    assert.is(miner.status().state, 'unreachable');
    const e = await miner.stop().then(() => undefined, (x: unknown) => x as HashflexError);
    assert.is(e?.code, ErrorCode.DeviceUnresponsive);
    assert.match(e?.message ?? '', /has not identified as VNish/);
    sim = await new SimVnish({ host: h, now: () => clock.monotonic() }).start();
    clock.advance(10_000);
    await miner.idle();
    const st = miner.status();
    assert.is(st.fault, undefined);
    assert.is(st.state, 'hashing');
    assert.ok(miner.details().tokenHeld);
    assert.ok(st.counters.reconnects >= 1);
  } finally {
    await miner.close();
    await sim?.close();
  }
});

test.run();
