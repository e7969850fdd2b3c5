import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ErrorCode, HashflexError } from '../agent/errors';
import { createMiner, identifyMiner } from '../drivers/miner';
import { identify as antminerIdentify } from '../drivers/miner/antminer';
import { identify as avalonIdentify } from '../drivers/miner/avalon';
import { AutoMiner } from '../drivers/miner/auto';
import { identify, LuxosMiner } from '../drivers/miner/luxos';
import { probeHost } from '../drivers/miner/probe';
import { identify as whatsminerIdentify } from '../drivers/miner/whatsminer';
import { SimAntminer } from '../sim/miners/antminer';
import { LUXOS_FIRMWARE } from '../sim/miners/luxos';
import { minerOptions, POLL, rig, startSim } from './fixtures/luxos/rig';

/**
 * The LuxOS driver against the simulated firmware over loopback TCP (127.24.1.x): identification,
 * what start() reads, the trip path (one curtail sleep with the session in hand), profiles as
 * power steps, the wakeup, and a stop winning over a set() under way.
 */
let next = 1;
const host = () => `127.24.1.${next++}`;

async function rejection(p: Promise<unknown>): Promise<HashflexError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, HashflexError);
    return e as HashflexError;
  }
  return assert.unreachable('resolved; expected a rejection') as never;
}

test('start reads the version and the profiles, logs on once, and reports the miner hashing at its default profile with its own power reading', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    const st = r.miner.status();
    assert.is(st.fault, undefined);
    assert.is(st.state, 'hashing');
    assert.ok(st.on);
    assert.ok(st.kwMeasured);
    assert.ok(Math.abs(st.kw - 3.068) < 0.002, `kw ${st.kw}`);
    assert.ok(Math.abs(st.ths - r.sim.machine.ths) < 0.01, `ths ${st.ths}`);
    assert.ok(st.tempC > 30 && st.tempC < 90, `tempC ${st.tempC}`);
    const s = r.miner.settings;
    assert.equal([s.min, s.max, s.step, s.unit], [1, 17, 1, 'level'], 'the 16 under-clocked profiles and the default; no over-clocking');
    assert.is(st.setting, 17, 'the default profile is the top of the scale');
    const profiles = r.sim.profiles.filter((p) => p.step <= 0);
    assert.is(s.kwAt(17), 3.068);
    assert.is(s.kwAt(1), profiles[0].watts / 1000, 'the lowest profile\'s own estimate');
    assert.ok(s.kwAt(0) < 0.05, 'asleep: the control board only');
    assert.equal(r.since(), ['version', 'profiles', POLL, 'logon'], 'the session is in hand before start() resolves');
    assert.is(r.sim.logons, 1);
    assert.equal(r.miner.details().session.held, true);
    assert.equal([r.miner.details().model, r.miner.details().firmware, r.miner.details().profile], ['S19j Pro', `LuxOS ${LUXOS_FIRMWARE}`, 'default']);
    assert.is(r.clock.pending, 2, 'the next poll and the session upkeep are scheduled');
  } finally {
    await r.close();
  }
});

test('stop is one curtail sleep with the session in hand: it resolves once the firmware accepted it, and the power then falls', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['curtail sleep'], 'no logon, no poll on the trip path');
    assert.is(r.sim.requests.at(-1)?.session, 'valid');
    assert.ok(r.sim.curtailed);
    assert.is(r.sim.machine.state, 'stopping');
    let st = r.miner.status();
    assert.equal([st.on, st.setting, st.state], [false, 0, 'stopping']);
    r.sim.tick(r.sim.machine.spec.stopMs);
    await r.advance(5000);
    st = r.miner.status();
    assert.is(st.state, 'sleeping');
    assert.ok(st.kw < 0.05, `asleep it draws standby only (${st.kw} kW)`);
    assert.is(st.ths, 0);
    assert.is(st.fault, undefined);
  } finally {
    await r.close();
  }
});

test('a stop jumps the line: the poll on the wire is aborted, the curtail goes at once, and the aborted poll is no fault', async () => {
  const r = await rig(host(), {}, { timeoutMs: 5000 });
  try {
    await r.miner.start();
    const hold = r.sim.holdNext(POLL);
    const poll = r.miner.refresh();
    await hold.reached;
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['curtail sleep'], 'sent while the poll was still held on the wire');
    hold.release();
    await poll;
    const st = r.miner.status();
    assert.equal([st.fault, st.counters.timeouts, st.counters.exceptions], [undefined, 0, 0]);
    assert.ok(r.sim.curtailed);
  } finally {
    await r.close();
  }
});

test('a lower setting trims the power through profileset by name, and the miner ramps down to that profile\'s estimate', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    const target = r.sim.profiles.filter((p) => p.step <= 0)[11];
    r.mark();
    await r.miner.set(12);
    assert.equal(r.since(), [`profileset ${target.name}`]);
    assert.is(r.sim.profile, target.name);
    await r.advance(5000);
    assert.is(r.miner.status().setting, 12, 'the profile in force, as config reports it');
    assert.ok(r.miner.status().kw > target.watts / 1000 + 0.2, 'still ramping down');
    r.sim.tick(r.sim.machine.spec.rampMs);
    await r.advance(5000);
    const st = r.miner.status();
    assert.ok(Math.abs(st.kw - target.watts / 1000) < 0.002, `kw ${st.kw} vs the profile's ${target.watts} W`);
    assert.equal([st.state, st.setting, st.fault], ['hashing', 12, undefined]);
    r.mark();
    await r.miner.set(12);
    assert.equal(r.since(), [], 'the profile already in force is not sent again');
    for (const bad of [18, 1.5, -1, NaN]) {
      const e = await rejection(r.miner.set(bad));
      assert.is(e.code, ErrorCode.UsageInvalid);
    }
    assert.equal(r.since(), [], 'a setting off the scale sends nothing');
  } finally {
    await r.close();
  }
});

test('a miner found curtailed at start is reported asleep, and set() wakes it with curtail wakeup and then applies the profile', async () => {
  const r = await rig(host(), { curtailed: true });
  try {
    await r.miner.start();
    let st = r.miner.status();
    assert.equal([st.state, st.on, st.setting], ['sleeping', false, 0]);
    const target = r.sim.profiles.filter((p) => p.step <= 0)[4];
    r.mark();
    await r.miner.set(5);
    assert.equal(r.since(), ['curtail wakeup', `profileset ${target.name}`]);
    assert.not.ok(r.sim.curtailed);
    assert.is(r.sim.machine.state, 'waking');
    await r.advance(5000);
    st = r.miner.status();
    assert.equal([st.state, st.on], ['waking', true]);
    r.sim.tick(r.sim.machine.spec.wakeMs);
    await r.advance(5000);
    st = r.miner.status();
    assert.equal([st.state, st.setting], ['hashing', 5]);
    assert.ok(Math.abs(st.kw - target.watts / 1000) < 0.002, `kw ${st.kw}`);
  } finally {
    await r.close();
  }
});

test('a stop wins over a set() under way: it goes right after the wakeup on the wire, and the profile behind that is never sent', async () => {
  const r = await rig(host(), { curtailed: true });
  try {
    await r.miner.start();
    const hold = r.sim.holdNext('curtail');
    r.mark();
    const waking = r.miner.set(3);
    await hold.reached;
    const stopped = r.miner.stop();
    hold.release();
    const e = await rejection(waking);
    assert.match(e.message, /a stop came after it/);
    await stopped;
    assert.equal(r.since(), ['curtail wakeup', 'curtail sleep']);
    assert.ok(r.sim.curtailed, 'asleep in the end');
    assert.equal([r.miner.status().on, r.miner.status().setting], [false, 0]);
  } finally {
    await r.close();
  }
});

test('discover\'s probe knows the simulated LuxOS by its version reply and its web page, and the stock families do not claim it', async () => {
  const h = host();
  const sim = await startSim({ host: h });
  try {
    const found = await probeHost(h, { identify: identifyMiner, timeoutMs: 1000, ports: { api: sim.ports.api, web: sim.ports.web } });
    assert.equal(found.identity, { make: 'Bitmain', model: 'S19j Pro', firmware: `LuxOS ${LUXOS_FIRMWARE}`, driver: 'luxos' });
    const ev = found.evidence;
    assert.ok(ev.version && ev.devdetails && ev.web, 'all three pieces of evidence');
    for (const other of [antminerIdentify, whatsminerIdentify, avalonIdentify]) assert.is(other(ev), undefined);
    assert.is(antminerIdentify({ devdetails: ev.devdetails, web: ev.web }), undefined, 'the devdetails naming an Antminer model and the page do not make it stock');
    assert.is(identify({ web: ev.web })?.driver, 'luxos', 'the page alone says LuxOS');
  } finally {
    await sim.close();
  }
  const stock = await new SimAntminer({ host: host(), ports: { api: 0, web: 0 } }).start();
  try {
    const found = await probeHost(stock.host, { identify: identifyMiner, timeoutMs: 1000, ports: stock.ports });
    assert.is(identify(found.evidence), undefined, 'a stock Antminer is not LuxOS');
    assert.is(found.identity?.driver, 'antminer');
  } finally {
    await stock.close();
  }
});

test('driver luxos and driver auto both drive the simulated firmware through the family registry', async () => {
  const r = await rig(host());
  try {
    const byName = createMiner(minerOptions(r.sim), r.clock);
    assert.instance(byName, LuxosMiner);
    const auto = createMiner({ ...minerOptions(r.sim), driver: 'auto' }, new VirtualClock());
    assert.instance(auto, AutoMiner);
    await auto.start();
    assert.is(auto.driver, 'luxos');
    assert.is(auto.status().state, 'hashing');
    assert.is(auto.settings.max, 17);
    await auto.stop();
    assert.ok(r.sim.curtailed);
    await auto.close();
    assert.is(r.sim.liveSession(), undefined, 'closing handed the session back');
  } finally {
    await r.close();
  }
});

test.run();
