import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, HashflexError, isHashflexError } from '../agent/errors';
import { STOCK_SPEC } from '../sim/miners/machine';
import { rig, type Rig } from './fixtures/vnish/rig';

/**
 * The VNish driver against the simulated firmware over real loopback HTTP (127.26.1.x, the
 * firmware's own port 80). No poll falls due on its own (pollMs of an hour): a test calls
 * refresh() where a poll would come, or advances the virtual clock to the read-back that follows
 * a stop or a start (CONFIRM 3 s). The sim's S19 offers tuned presets 1900, 2350, 2620, 2950 and
 * 3250 W on a stock PSU (and 1500 untuned, 3600 for a modified PSU, which the driver leaves out).
 */
const CONFIRM = 3000;
const near = (a: number, b: number, tol = 0.02) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
let next = 1;
const setup = (sim = {}, tuning = {}) => rig(`127.26.1.${next++}`, sim, { pollMs: 3_600_000 }, { confirmMs: CONFIRM, ...tuning });

async function rejection(p: Promise<unknown>): Promise<HashflexError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HashflexError, `a HashflexError, not ${String(e)}`);
    return e;
  }
  throw new Error('expected a rejection');
}

async function within(made: Promise<Rig>, fn: (r: Rig) => Promise<void>): Promise<void> {
  const r = await made;
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}

const s = suite('vnish driver over loopback');

s('Start identifies the firmware, holds a token, and reports a miner found hashing at its preset', () => within(setup(), async (r) => {
  r.mark();
  await r.miner.start();
  assert.equal(r.since(), ['GET /api/v1/info 200', 'POST /api/v1/unlock 200', 'GET /api/v1/summary 200', 'GET /api/v1/settings 200', 'GET /api/v1/autotune/presets 200']);
  const st = r.miner.status();
  assert.is(st.fault, undefined);
  assert.is(st.state, 'hashing');
  assert.ok(st.on);
  assert.is(st.setting, 3250);
  assert.ok(st.kwMeasured);
  assert.ok(near(st.kw, 3.25), `kw ${st.kw}`);
  assert.ok(near(st.ths, STOCK_SPEC.ratedThs * (3.25 - STOCK_SPEC.standbyKw) / STOCK_SPEC.ratedKw), `ths ${st.ths}`);
  assert.ok(st.tempC > 40 && st.tempC < 90, `temp ${st.tempC}`);
  const d = r.miner.details();
  assert.equal(d, { model: 'S19', firmware: 'Vnish 1.2.6', preset: '3250', presets: [1900, 2350, 2620, 2950, 3250], tokenHeld: true, tokenLifeMs: undefined });
  const set = r.miner.settings;
  assert.equal([set.unit, set.min, set.max, set.step], ['watts', 1900, 3250, 270]);
  assert.is(set.kwAt(1900), 1.9);
  assert.is(set.kwAt(2619), 2.35, 'a setting between presets runs the one below');
  assert.is(set.kwAt(set.max), 3.25);
  assert.ok(set.kwAt(0) < 0.05);
}));

s('Stop is one POST with the token in hand, resolves once the API took it, and the read-back follows the machine down', () => within(setup(), async (r) => {
  await r.miner.start();
  r.mark();
  await r.miner.stop();
  assert.equal(r.since(), ['POST /api/v1/mining/stop 200'], 'no unlock, no read first');
  assert.is(r.sim.machine.state, 'stopping');
  let st = r.miner.status();
  assert.not.ok(st.on);
  assert.is(st.setting, 0);
  assert.is(st.state, 'stopping', 'taken, not yet read back');
  await r.advance(CONFIRM);
  assert.ok(r.since().includes('GET /api/v1/summary 200'), 'read back');
  assert.is(r.miner.status().state, 'stopping', 'the firmware says shutting-down');
  r.sim.tick(STOCK_SPEC.stopMs);
  await r.miner.refresh();
  st = r.miner.status();
  assert.is(st.state, 'sleeping');
  assert.ok(st.kw < 0.05, `kw ${st.kw}`);
  assert.is(st.ths, 0);
  assert.is(st.fault, undefined);
}));

s('After a stop, a setting starts mining again: mining/start alone when the preset is already in force, and the machine wakes into it', () => within(setup(), async (r) => {
  await r.miner.start();
  await r.miner.stop();
  r.sim.tick(STOCK_SPEC.stopMs);
  await r.advance(CONFIRM);
  assert.is(r.miner.status().state, 'sleeping');
  r.mark();
  await r.miner.set(r.miner.settings.max);
  assert.equal(r.since(), ['POST /api/v1/mining/start 200']);
  assert.is(r.sim.machine.state, 'waking');
  assert.is(r.miner.status().state, 'waking');
  assert.ok(r.miner.status().on);
  await r.advance(CONFIRM);
  assert.is(r.miner.status().state, 'waking', 'initializing');
  r.sim.tick(STOCK_SPEC.wakeMs);
  await r.miner.refresh();
  const st = r.miner.status();
  assert.is(st.state, 'hashing');
  assert.is(st.setting, 3250);
  assert.ok(near(st.kw, 3.25), `kw ${st.kw}`);
}));

s('A miner found stopped at start is reported asleep, and a setting from there writes the preset first, then starts', () => within(setup({ mining: false }), async (r) => {
  await r.miner.start();
  let st = r.miner.status();
  assert.is(st.state, 'sleeping');
  assert.not.ok(st.on);
  assert.is(st.setting, 0);
  r.mark();
  await r.miner.set(2000);
  assert.equal(r.since(), ['POST /api/v1/settings 200', 'GET /api/v1/settings 200', 'POST /api/v1/mining/start 200']);
  assert.is(r.sim.preset, '1900');
  r.sim.tick(STOCK_SPEC.wakeMs);
  await r.miner.refresh();
  st = r.miner.status();
  assert.is(st.state, 'hashing');
  assert.is(st.setting, 1900);
  assert.ok(near(st.kw, 1.9), `kw ${st.kw}`);
}));

s('A preset change sends the overclock back as read with only the preset changed, is confirmed by reading settings, and the power ramps to it', () => within(setup(), async (r) => {
  await r.miner.start();
  const before = structuredClone((r.sim.settings.miner as Record<string, unknown>).overclock) as Record<string, unknown>;
  r.mark();
  await r.miner.set(2500);
  assert.equal(r.since(), ['POST /api/v1/settings 200', 'GET /api/v1/settings 200']);
  assert.equal(r.sim.posts.at(-1), { miner: { overclock: { ...before, preset: '2350' } } });
  assert.is(r.sim.preset, '2350');
  assert.is(r.miner.status().setting, 2350, 'confirmed at once');
  r.sim.tick(STOCK_SPEC.rampMs / 2);
  assert.ok(r.sim.machine.kw < 3.2 && r.sim.machine.kw > 2.4, `ramping: ${r.sim.machine.kw}`);
  r.sim.tick(STOCK_SPEC.rampMs);
  await r.miner.refresh();
  assert.ok(near(r.miner.status().kw, 2.35), `kw ${r.miner.status().kw}`);
  // settings outside the scale run its ends; the preset in force is not written again
  await r.miner.set(100);
  assert.is(r.sim.preset, '1900');
  await r.miner.set(99_999);
  assert.is(r.sim.preset, '3250');
  r.mark();
  await r.miner.set(3250);
  assert.equal(r.since(), [], 'nothing to write');
}));

s('A preset the firmware answers as usual but does not take is reported as not accepted, and the setting in force stays', () => within(setup(), async (r) => {
  await r.miner.start();
  r.sim.faults.ignorePreset = true;
  const e = await rejection(r.miner.set(1900));
  assert.is(e.code, ErrorCode.DeviceFault);
  assert.match(e.message, /preset 1900 not accepted: the miner still reports preset 3250/);
  assert.is(r.sim.preset, '3250');
  assert.is(r.miner.status().setting, 3250);
  assert.ok(near(r.sim.machine.kw, 3.25));
}));

s('A build that applies presets only at a restart of its miner program, and says so, gets the restart', () => within(setup(), async (r) => {
  await r.miner.start();
  r.sim.faults.presetNeedsRestart = true;
  r.mark();
  await r.miner.set(2620);
  assert.equal(r.since(), ['POST /api/v1/settings 200', 'GET /api/v1/settings 200', 'POST /api/v1/mining/restart 200']);
  r.sim.tick(STOCK_SPEC.rampMs);
  assert.ok(near(r.sim.machine.kw, 2.62), `kw ${r.sim.machine.kw}`);
}));

s('A stop the firmware answers but does not carry out is sent once more at the read-back, then reported as a fault', () => within(setup(), async (r) => {
  await r.miner.start();
  r.sim.faults.ignoreStop = true;
  await r.miner.stop();
  assert.is(r.miner.status().state, 'stopping');
  r.mark();
  await r.advance(CONFIRM);
  assert.ok(r.since().includes('POST /api/v1/mining/stop 200'), `sent again: ${r.since().join(', ')}`);
  assert.is(r.miner.status().fault, undefined, 'not yet: the second may take');
  await r.advance(CONFIRM);
  const st = r.miner.status();
  assert.match(st.fault ?? '', /mining\/stop twice but still reports "mining"/);
  assert.is(st.state, 'hashing');
  // a stop that then takes clears it
  r.sim.faults.ignoreStop = false;
  await r.miner.stop();
  await r.advance(CONFIRM);
  assert.is(r.miner.status().fault, undefined);
}));

s('A start the firmware answers but does not carry out is sent once more, then reported as a fault', () => within(setup({ mining: false }), async (r) => {
  await r.miner.start();
  r.sim.faults.ignoreStart = true;
  await r.miner.set(3250);
  assert.is(r.miner.status().state, 'waking');
  await r.advance(CONFIRM);
  await r.advance(CONFIRM);
  assert.match(r.miner.status().fault ?? '', /mining\/start twice but still reports "stopped"/);
  assert.is(r.sim.requests.filter((x) => x.path === '/api/v1/mining/start').length, 2);
}));

s('set(0) is a stop; a setting that is not a number is refused without a request', () => within(setup(), async (r) => {
  await r.miner.start();
  r.mark();
  for (const bad of [NaN, Infinity]) {
    const e = await r.miner.set(bad).then(() => undefined, (x: unknown) => x);
    assert.ok(isHashflexError(e, ErrorCode.UsageInvalid), `set(${bad})`);
  }
  assert.equal(r.since(), []);
  await r.miner.set(0);
  assert.equal(r.since(), ['POST /api/v1/mining/stop 200']);
}));

s('A firmware failure (miner_state "failure") is a fault with its description', () => within(setup(), async (r) => {
  await r.miner.start();
  r.sim.faults.failure = 'chain 2 lost';
  await r.miner.refresh();
  const st = r.miner.status();
  assert.match(st.fault ?? '', /failure: chain 2 lost/);
  assert.is(st.state, 'unknown');
}));

s('close() ends polling and the kept-alive connections: no timer is left', () => within(setup(), async (r) => {
  await r.miner.start();
  await r.miner.stop();
  await r.miner.close();
  assert.is(r.clock.pending, 0);
  const e = await rejection(r.miner.stop());
  assert.is(e.code, ErrorCode.DeviceUnresponsive);
}));

s.run();
