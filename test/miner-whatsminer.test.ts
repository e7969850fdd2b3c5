import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { createMiner } from '../drivers/miner';
import { WhatsminerMiner } from '../drivers/miner/whatsminer';
import { MinerAuthError } from '../drivers/miner/whatsminer/reply';
import { rig, minerOptions } from './fixtures/whatsminer/rig';
import { realClock } from '../agent/clock';

/**
 * The Whatsminer driver against the simulated API v2 firmware over loopback TCP (127.21.0.x):
 * identification, status, the trip path (one encrypted power_off with the token in hand), power
 * percent, tokens renewed ahead of time, and what happens when the firmware forgets, refuses or
 * rations tokens.
 */
const MIN = 60_000;
let next = 1;
const host = () => `127.21.0.${next++}`;

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

test('start() identifies API v2 firmware, proves the password with a fresh token and reads the miner\'s own power', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    assert.equal(r.miner.identity, { model: 'M30S++VH40', firmware: '20230314.15.Rel', api: 'v2' });
    const s = r.miner.status();
    assert.is(s.fault, undefined);
    assert.is(s.state, 'hashing');
    assert.ok(s.on);
    assert.ok(s.kwMeasured);
    assert.is(s.kw, 3.4);
    assert.ok(Math.abs(s.ths - r.sim.machine.ths) < 1e-6, 'TH/s from MHS 1m');
    assert.is(s.setting, 100);
    assert.ok(s.tempC > 60);
    assert.is(r.sim.tokensIssued, 1);
    assert.ok(r.sim.requests.some((q) => q.cmd === 'status' && q.secured), 'an encrypted read proved the token');
    assert.is(r.miner.settings.unit, 'percent');
    assert.equal([r.miner.settings.min, r.miner.settings.step, r.miner.settings.max], [10, 5, 100]);
    assert.is(r.miner.settings.kwAt(100), 3.4, 'full power from the miner\'s Power Limit');
    assert.ok(Math.abs(r.miner.settings.kwAt(50) - (0.03 + 3.37 / 2)) < 1e-9);
  } finally {
    await r.close();
  }
});

test('stop() is one encrypted power_off with the held token; it resolves once the API accepted it, and the power then falls', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['v2 power_off (secured)'], 'no get_token, no poll on the trip path');
    assert.is(r.sim.machine.state, 'stopping', 'accepted: the machine is ramping down');
    assert.is(r.miner.status().state, 'stopping');
    r.sim.machine.tick(r.sim.machine.spec.stopMs);
    await r.advance(5_000);
    const s = r.miner.status();
    assert.is(s.state, 'sleeping');
    assert.not.ok(s.on);
    assert.is(s.setting, 0);
    assert.ok(s.kw < 0.05, `asleep it draws standby only (${s.kw} kW)`);
  } finally {
    await r.close();
  }
});

test('set() sends set_power_pct while hashing, power_on then set_power_pct from sleep, and 0 is a stop', async () => {
  const r = await rig(host());
  const m = r.sim.machine;
  try {
    await r.miner.start();
    r.mark();
    await r.miner.set(52);
    assert.equal(r.since(), ['v2 set_power_pct (secured)']);
    assert.is(r.sim.percent, 50, '52 rounds to the 5 % step');
    m.tick(m.spec.rampMs);
    assert.ok(Math.abs(m.kw - 1.7) < 1e-9);
    await r.advance(5_000);
    assert.is(r.miner.status().setting, 50);
    assert.ok(Math.abs(r.miner.status().kw - 1.7) < 0.01);

    await r.miner.set(0);
    m.tick(m.spec.stopMs);
    await r.advance(5_000);
    assert.is(r.miner.status().state, 'sleeping');

    r.mark();
    await r.miner.set(3);
    assert.equal(r.since(), ['v2 power_on (secured)', 'v2 set_power_pct (secured)']);
    assert.is(r.sim.percent, 10, 'below the lowest running setting is the lowest');
    assert.is(m.state, 'waking');
    await r.advance(5_000);
    assert.is(r.miner.status().state, 'waking', 'powered on, not hashing yet');
    m.tick(m.spec.wakeMs);
    await r.advance(5_000);
    assert.is(r.miner.status().state, 'hashing');
    assert.ok(Math.abs(m.kw - 0.34) < 1e-9);
  } finally {
    await r.close();
  }
});

test('The token is renewed ahead of time: a stop 35 minutes after start needs no get_token, though the first token is long expired', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    await r.advance(20 * MIN);
    await r.advance(5_000); // the first poll after 20 minutes
    assert.is(r.sim.tokensIssued, 2, 'the next token was fetched at 20 minutes, before the first ran out');
    await r.advance(15 * MIN);
    assert.is(r.sim.liveTokens(), 1, 'the first token has expired on the firmware');
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['v2 power_off (secured)']);
    assert.is(r.sim.machine.state, 'stopping');
  } finally {
    await r.close();
  }
});

test('When renewal keeps failing and the held token expires, stop() fetches one on the trip path and still stops', async () => {
  // one live token per client: the renewal at 20 minutes is refused (code 136) until the first expires
  const r = await rig(host(), { tokensPerClient: 1 });
  try {
    await r.miner.start();
    await r.advance(20 * MIN);
    await r.advance(5_000);
    assert.is(r.sim.tokensIssued, 1, 'renewal refused by the firmware\'s budget');
    assert.ok(r.sim.requests.filter((q) => q.cmd === 'get_token').length >= 2, 'a renewal was tried');
    assert.is(r.miner.status().fault, undefined, 'the held token still works: no fault yet');
    r.sim.machine.faults.down = true; // and the miner drops off the LAN past the token's life
    await r.advance(10 * MIN);
    r.sim.machine.faults.down = false;
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['v2 get_token', 'v2 power_off (secured)'], 'the held token was known to be expired');
    assert.is(r.sim.machine.state, 'stopping');
  } finally {
    await r.close();
  }
});

test('A firmware that forgot its tokens (it rebooted) refuses the held one: stop() takes a fresh token and retries once', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.forgetTokens();
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['v2 power_off (secured)', 'v2 get_token', 'v2 power_off (secured)']);
    assert.is(r.sim.machine.state, 'stopping');
  } finally {
    await r.close();
  }
});

test('A wrong password is a clear fault at start; stop() rejects as refused credentials and the machine keeps hashing', async () => {
  const r = await rig(host(), { password: 'hunter22' });
  try {
    await r.miner.start();
    const s = r.miner.status();
    assert.match(s.fault ?? '', /credentials refused: password refused/);
    assert.is(s.state, 'hashing', 'reads still work: the miner is reachable');
    assert.ok(s.counters.exceptions > 0);
    const e = await rejection(r.miner.stop());
    assert.ok(e instanceof MinerAuthError, String(e));
    assert.ok(isHashflexError(e, ErrorCode.DeviceFault));
    assert.match(e.message, /wrong password/);
    assert.is(r.sim.machine.state, 'hashing');
    assert.not.ok(r.sim.machine.log.some((l) => l.what === 'power_off'));
    // and it does not spend the firmware's token budget on every poll
    const issued = r.sim.tokensIssued;
    await r.advance(5_000);
    await r.advance(5_000);
    assert.ok(r.sim.tokensIssued - issued <= 0, 'no new token right after a refusal');
  } finally {
    await r.close();
  }
});

test('The token budget spent before start: a fault, and stop() rejects with the firmware\'s refusal', async () => {
  const r = await rig(host(), { tokensPerClient: 0 });
  try {
    await r.miner.start();
    assert.match(r.miner.status().fault ?? '', /no write credentials: .*token budget/);
    const e = await rejection(r.miner.stop());
    assert.ok(isHashflexError(e, ErrorCode.DeviceFault));
    assert.match(e.message, /token budget/);
    assert.is(r.sim.machine.state, 'hashing');
  } finally {
    await r.close();
  }
});

test('The registry builds the driver for `driver: whatsminer`, and one instance talks to its own host only', async () => {
  const a = await rig(host());
  const b = await rig(host());
  try {
    const m = createMiner(minerOptions(a.sim, { id: 'wm-a' }), realClock);
    assert.ok(m instanceof WhatsminerMiner);
    assert.is(m.driver, 'whatsminer');
    await m.start();
    await m.stop();
    await m.close();
    assert.is(a.sim.machine.state, 'stopping');
    assert.is(b.sim.requests.length, 0, 'the other miner heard nothing');
    assert.is(b.sim.machine.state, 'hashing');
  } finally {
    await a.close();
    await b.close();
  }
});

test.run();
