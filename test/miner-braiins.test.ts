import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../agent/errors';
import { rejection, rig } from './fixtures/braiins/rig';

/**
 * The Braiins OS+ driver against the simulated firmware over real loopback gRPC (127.25.0.x):
 * identification, status, the trip path (one PauseMining with the token in hand), power targets,
 * the token kept fresh ahead of time, and a firmware that forgets or refuses tokens.
 */
const MIN = 60_000;
let next = 1;
const host = () => `127.25.0.${next++}`;

test('start() identifies Braiins OS+, logs in once, and reports a miner found hashing as hashing with its own power reading', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    const s = r.miner.status();
    assert.is(s.fault, undefined);
    assert.is(s.state, 'hashing');
    assert.ok(s.on);
    assert.ok(s.kwMeasured);
    assert.is(s.kw, 3.1);
    assert.ok(Math.abs(s.ths - r.sim.machine.ths) < 1e-6, `${s.ths} TH/s, the sim's real hashrate`);
    assert.ok(s.tempC > 60);
    assert.is(s.setting, 3100);
    assert.is(r.sim.tokensIssued, 1);
    assert.equal(r.miner.identity, { make: 'Bitmain', model: 'Antminer S19j Pro', firmware: 'Braiins OS+ 2024-05-09-0-0ce150e9-24.04-plus', api: '1.5.0' });
    assert.is(r.miner.settings.unit, 'watts');
    assert.equal([r.miner.settings.min, r.miner.settings.step, r.miner.settings.max], [1200, 100, 3700], 'the firmware\'s power-target range');
    assert.is(r.miner.settings.kwAt(2500), 2.5);
    assert.ok(r.miner.settings.kwAt(0) < 0.05);
  } finally {
    await r.close();
  }
});

test('stop() is one PauseMining with the held token; it resolves once the API accepted it, and the power then falls', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['PauseMining (token)'], 'no Login, no poll on the trip path');
    assert.is(r.sim.machine.state, 'stopping', 'accepted: the machine is ramping down');
    assert.is(r.miner.status().state, 'stopping');
    assert.is(r.miner.status().setting, 0);
    r.sim.machine.tick(r.sim.machine.spec.stopMs);
    await r.advance(5_000);
    const s = r.miner.status();
    assert.is(s.state, 'sleeping');
    assert.not.ok(s.on);
    assert.is(s.setting, 0);
    assert.ok(s.kw < 0.05, `paused it draws standby only (${s.kw} kW)`);
  } finally {
    await r.close();
  }
});

test('A poll of a miner that is as its status was last read is one GetMinerStats; the status, tuner and temperature are read every few polls', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.mark();
    await r.advance(5_000);
    assert.equal(r.since(), ['GetMinerStats (token)']);
    r.mark();
    for (let i = 0; i < 5; i++) await r.advance(5_000);
    const slow = r.since();
    assert.is(slow.filter((c) => c === 'GetMinerStats (token)').length, 5);
    assert.is(slow.filter((c) => c === 'GetMinerDetails (token)').length, 1, slow.join(', '));
    assert.is(slow.filter((c) => c === 'GetTunerState (token)').length, 1);
    assert.is(slow.filter((c) => c === 'GetCoolingState (token)').length, 1);
    assert.is(r.miner.status().state, 'hashing');
  } finally {
    await r.close();
  }
});

test('A miner paused by someone else is seen asleep at the next poll: stats that do not square with the status held make the poll read it', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.status = 'paused';
    r.sim.machine.sleep('paused from the web UI');
    r.sim.machine.tick(r.sim.machine.spec.stopMs);
    r.mark();
    await r.advance(5_000);
    assert.equal(r.since(), ['GetMinerStats (token)', 'GetMinerDetails (token)']);
    const s = r.miner.status();
    assert.is(s.state, 'sleeping');
    assert.not.ok(s.on);
    assert.is(s.setting, 0);
  } finally {
    await r.close();
  }
});

test('A miner found paused is reported asleep, and a stop on it is accepted from the firmware\'s already_paused', async () => {
  const r = await rig(host(), { paused: true });
  try {
    await r.miner.start();
    assert.is(r.miner.status().state, 'sleeping');
    assert.is(r.miner.status().setting, 0);
    assert.not.ok(r.miner.status().on);
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['PauseMining (token)']);
    assert.match(r.sim.machine.log[r.sim.machine.log.length - 1].what, /already paused/);
    assert.is(r.miner.status().state, 'sleeping');
  } finally {
    await r.close();
  }
});

test('set() sends SetPowerTarget (save and apply) while mining, the target then ResumeMining from pause, and 0 pauses', async () => {
  const r = await rig(host());
  const m = r.sim.machine;
  try {
    await r.miner.start();
    r.mark();
    await r.miner.set(2540);
    assert.equal(r.since(), ['SetPowerTarget (token)']);
    assert.is(r.sim.targetW, 2540);
    m.tick(m.spec.rampMs);
    assert.ok(Math.abs(m.kw - 2.54) < 1e-9, 'the machine ramped to the target');
    await r.advance(5_000);
    assert.is(r.miner.status().setting, 2540);
    assert.ok(Math.abs(r.miner.status().kw - 2.54) < 0.001);

    await r.miner.set(0);
    m.tick(m.spec.stopMs);
    await r.advance(5_000);
    assert.is(r.miner.status().state, 'sleeping');

    r.mark();
    await r.miner.set(500);
    assert.equal(r.since(), ['SetPowerTarget (token)', 'ResumeMining (token)'], 'the target first: refused, the miner would stay paused');
    assert.is(r.sim.targetW, 1200, 'below the lowest target is the lowest');
    assert.is(m.state, 'waking');
    assert.is(r.miner.status().state, 'waking');
    await r.advance(5_000);
    assert.is(r.miner.status().state, 'waking', 'resumed, not hashing yet');
    m.tick(m.spec.wakeMs);
    await r.advance(5_000);
    assert.is(r.miner.status().state, 'hashing');
    assert.ok(Math.abs(m.kw - 1.2) < 1e-9);

    await r.miner.set(99_999);
    assert.is(r.sim.targetW, 3700, 'above the highest is the highest');
    r.mark();
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const e = await rejection(r.miner.set(bad));
      assert.is(e.code, ErrorCode.UsageInvalid, String(bad));
    }
    assert.equal(r.since(), [], 'nothing sent for a setting that is no power target');
  } finally {
    await r.close();
  }
});

test('A miner whose bosminer was stopped (NOT_STARTED) is asleep, and a target wakes it with Start rather than ResumeMining', async () => {
  const r = await rig(host());
  try {
    r.sim.status = 'not-started';
    r.sim.machine.sleep('bosminer stopped by hand');
    r.sim.machine.tick(r.sim.machine.spec.stopMs);
    await r.miner.start();
    assert.is(r.miner.status().state, 'sleeping');
    r.mark();
    await r.miner.set(2000);
    assert.equal(r.since(), ['SetPowerTarget (token)', 'Start (token)']);
    assert.is(r.sim.status, 'normal');
    assert.is(r.sim.machine.state, 'waking');
  } finally {
    await r.close();
  }
});

test('A stop that overtakes a wake on the wire wins: the miner is paused again and the set says why', async () => {
  const r = await rig(host(), { paused: true });
  try {
    await r.miner.start();
    r.sim.faults.delayMs.ResumeMining = 200;
    const set = rejection(r.miner.set(2000));
    // wait (turns of the event loop, no timer) until the wake is at the miner, held there
    for (let i = 0; i < 100_000 && !r.sim.calls.some((c) => c.method === 'ResumeMining'); i++) await new Promise((go) => setImmediate(go));
    await r.miner.stop();
    const e = await set;
    assert.is(e.code, ErrorCode.DeviceFault);
    assert.match(e.message, /a stop came while it resumed: paused again/);
    assert.is(r.sim.status, 'paused', 'the late wake was undone');
    assert.equal(r.sim.calls.slice(-3).map((c) => c.method), ['ResumeMining', 'PauseMining', 'PauseMining'], 'in the order they reached the miner: the wake, the stop, the pause again');
  } finally {
    await r.close();
  }
});

test('The token is renewed ahead of time: a stop after the first token expired needs no Login', async () => {
  // a firmware that counts a token's life from its logon (the strictest reading of the API)
  const r = await rig(host(), { tokenTimeoutS: 600, slidingTokens: false });
  try {
    await r.miner.start();
    assert.is(r.miner.details().tokenLifeS, 600, 'the life from LoginResponse.timeout_s');
    await r.advance(5 * MIN);
    await r.advance(5_000); // the first poll past half the token's life
    assert.is(r.sim.tokensIssued, 2, 'the next token was fetched at half its life, before the first ran out');
    await r.advance(6 * MIN);
    assert.is(r.sim.liveTokens(), 1, 'the first token has expired on the firmware');
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['PauseMining (token)']);
    assert.is(r.sim.machine.state, 'stopping');
  } finally {
    await r.close();
  }
});

test('A stop while the renewal Login is still on its way goes out at once with the held token', async () => {
  const r = await rig(host(), { tokenTimeoutS: 600, slidingTokens: false });
  try {
    await r.miner.start();
    await r.advance(5 * MIN);
    r.sim.faults.delayMs.Login = 300;
    r.clock.advance(5_000); // the poll that finds the token due: its Login now takes 300 ms
    r.mark();
    await r.miner.stop();
    assert.is(r.sim.tokensIssued, 1, 'the stop was accepted before the new token existed');
    assert.ok(r.since().includes('PauseMining (token)'));
    assert.is(r.sim.machine.state, 'stopping');
    await r.miner.idle();
    assert.is(r.sim.tokensIssued, 2, 'and the renewal finished beside it');
  } finally {
    await r.close();
  }
});

test('A stop does not wait for a poll on its way', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.faults.delayMs.GetMinerStats = 300;
    r.clock.advance(5_000);
    let polled = false;
    void r.miner.idle().then(() => { polled = true; });
    await r.miner.stop();
    assert.not.ok(polled, 'the poll was still out when the stop was accepted');
    assert.is(r.sim.machine.state, 'stopping');
    await r.miner.idle();
  } finally {
    await r.close();
  }
});

test('A firmware that forgot its tokens (restarted) is logged in to again: by the next poll, or by a stop as a last resort', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.forgetTokens();
    r.mark();
    await r.advance(5_000);
    const polled = r.since();
    assert.ok(polled.includes('GetMinerStats (token) unauthenticated'), polled.join(', '));
    assert.is(polled.filter((c) => c === 'Login').length, 1, 'one logon for all the refused reads');
    assert.is(r.miner.status().fault, undefined, 'the poll read again with the new token');
    assert.is(r.miner.status().state, 'hashing');

    r.sim.forgetTokens();
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['PauseMining (token) unauthenticated', 'Login', 'PauseMining (token)']);
    assert.is(r.sim.machine.state, 'stopping');
  } finally {
    await r.close();
  }
});

test('Refused credentials are a fault, not a crash; the driver does not log in on every poll, and recovers once they are right', async () => {
  const r = await rig(host(), {}, { password: 'not-the-password' });
  try {
    await r.miner.start();
    const s = r.miner.status();
    assert.match(s.fault ?? '', /^credentials refused: Login as "root" refused/);
    assert.is(s.state, 'unknown');
    const stop = await rejection(r.miner.stop());
    assert.is(stop.code, ErrorCode.DeviceFault);
    assert.match(stop.message, /refused/);
    assert.is(r.sim.machine.state, 'hashing', 'nothing was paused');
    r.mark();
    for (let i = 0; i < 5; i++) await r.advance(5_000);
    assert.equal(r.since().filter((c) => c === 'Login'), [], 'no logon retried within the credential back-off');
    r.sim.setPassword('not-the-password');
    await r.advance(5 * MIN);
    await r.advance(60_000);
    assert.is(r.miner.status().fault, undefined);
    assert.is(r.miner.status().state, 'hashing');
  } finally {
    await r.close();
  }
});

test.run();
