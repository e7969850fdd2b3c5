import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ErrorCode, HashflexError } from '../agent/errors';
import { LuxosMiner } from '../drivers/miner/luxos';
import { SimAntminer } from '../sim/miners/antminer';
import { AvalonSim } from '../sim/miners/avalon';
import { POLL, rig } from './fixtures/luxos/rig';

/**
 * What the LuxOS driver does with a host that is not LuxOS, an API that hangs, refuses or answers
 * garbage, and replies that are wrong in every way the firmware could get them wrong: a clear
 * fault in status, a stop that rejects saying why, never a crash, and no command to the wrong
 * miner. Over loopback TCP, 127.24.3.x.
 */
let next = 1;
const host = () => `127.24.3.${next++}`;
const options = (h: string, api = 4028) => ({ id: `lx-${h}`, host: h, driver: 'luxos' as const, ports: api === 4028 ? {} : { api }, pollMs: 5000, timeoutMs: 400 });

async function rejection(p: Promise<unknown>): Promise<HashflexError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, HashflexError);
    return e as HashflexError;
  }
  return assert.unreachable('resolved; expected a rejection') as never;
}

test('a host running other firmware is never driven: stop and set reject, and it is asked for nothing but its version', async () => {
  const h = host();
  const avalon = await new AvalonSim({ host: h }).start();
  const clock = new VirtualClock();
  const miner = new LuxosMiner(options(h, avalon.port), clock);
  try {
    await miner.start();
    const st = miner.status();
    assert.match(st.fault ?? '', /not running LuxOS/);
    assert.is(st.state, 'unknown');
    assert.is((await rejection(miner.stop())).code, ErrorCode.DeviceFault);
    assert.is((await rejection(miner.set(1))).code, ErrorCode.DeviceFault);
    clock.advance(60_000);
    await miner.idle();
    assert.ok(avalon.requests.length >= 2);
    assert.ok(avalon.requests.every((q) => q.command === 'version'), avalon.requests.map((q) => q.command).join(','));
    assert.not.ok(avalon.softOff);
  } finally {
    await miner.close();
    await avalon.close();
  }
});

test('the stock Antminer firmware is not LuxOS either: the driver refuses it and its machine keeps hashing', async () => {
  const stock = await new SimAntminer({ host: host(), ports: { api: 0, web: 0 } }).start();
  const miner = new LuxosMiner(options(stock.host, stock.ports.api), new VirtualClock());
  try {
    await miner.start();
    assert.match(miner.status().fault ?? '', /not running LuxOS \(its version reply names bmminer/);
    await rejection(miner.stop());
    assert.is(stock.machine.state, 'hashing');
    assert.ok(!stock.machine.log.some((x) => /sleep/.test(x.what)));
  } finally {
    await miner.close();
    await stock.close();
  }
});

test('a LuxOS host that starts answering as another program (reflashed) gets no more commands', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    const stock = { STATUS: [{ STATUS: 'S', When: 1, Code: 11, Msg: 'Summary', Description: 'bmminer 1.0.0' }], id: 1 };
    r.sim.faults.override[POLL] = JSON.stringify({ power: [stock], summary: [{ ...stock, SUMMARY: [{ 'GHS 5s': 100 }] }], config: [{ ...stock, CONFIG: [{}] }], stats: [stock], id: 1 });
    r.sim.faults.override.version = JSON.stringify({ ...stock, VERSION: [{ BMMiner: '1.0.0', Type: 'Antminer S19j Pro' }] });
    await r.advance(5000);
    assert.match(r.miner.status().fault ?? '', /not running LuxOS \(it now answers as "bmminer 1\.0\.0"\)/);
    r.mark();
    assert.is((await rejection(r.miner.stop())).code, ErrorCode.DeviceFault);
    await r.run(60_000);
    assert.match(r.miner.status().fault ?? '', /not running LuxOS \(its version reply names bmminer/);
    assert.equal([...new Set(r.since())], ['version'], 'it is asked what it is, and nothing else: no keepalive, no logon, no curtail');
    assert.not.ok(r.sim.curtailed);
  } finally {
    await r.close();
  }
});

test('garbage from the API is a fault in status, a stop rejects with FrameInvalid, and the driver recovers when the replies are good again', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.machine.faults.garbage = true;
    await r.advance(5000);
    let st = r.miner.status();
    assert.match(st.fault ?? '', /^api: not a JSON object reply/);
    assert.is(st.state, 'unknown');
    assert.ok(Number.isNaN(st.ths));
    const e = await rejection(r.miner.stop());
    assert.is(e.code, ErrorCode.FrameInvalid);
    assert.match(e.message, /stop not accepted/);
    r.sim.machine.faults.garbage = false;
    await r.run(30_000);
    st = r.miner.status();
    assert.equal([st.fault, st.state], [undefined, 'hashing']);
    await r.miner.stop();
    assert.ok(r.sim.curtailed);
  } finally {
    await r.close();
  }
});

test('a hung API: polls and a stop time out within timeoutMs, status says unreachable, and the driver comes back when it answers', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.machine.faults.hang = true;
    await r.advance(5000);
    let st = r.miner.status();
    assert.is(st.state, 'unreachable');
    assert.match(st.fault ?? '', /no complete reply in 400 ms/);
    assert.ok(st.counters.timeouts >= 1);
    const t0 = performance.now();
    const e = await rejection(r.miner.stop());
    assert.ok(e.timeout, 'flagged as a timeout');
    assert.ok(performance.now() - t0 < 2000, 'bounded by timeoutMs');
    r.sim.machine.faults.hang = false;
    await r.run(60_000);
    st = r.miner.status();
    assert.equal([st.state, st.fault], ['hashing', undefined]);
    assert.ok(st.counters.reconnects >= 1);
  } finally {
    await r.close();
  }
});

test('an API that refuses connections at start: start resolves with the miner unreachable, and the driver identifies it and logs on once it is back', async () => {
  const r = await rig(host());
  try {
    r.sim.machine.faults.down = true;
    await r.miner.start();
    let st = r.miner.status();
    assert.is(st.state, 'unreachable');
    assert.match(st.fault ?? '', /ECONNRESET|ECONNREFUSED|closed/);
    assert.is((await rejection(r.miner.stop())).code, ErrorCode.DeviceFault, 'not identified yet: nothing is sent');
    assert.is(r.sim.logons, 0);
    r.sim.machine.faults.down = false;
    await r.run(60_000);
    st = r.miner.status();
    assert.equal([st.state, st.fault], ['hashing', undefined]);
    assert.is(r.sim.logons, 1);
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['curtail sleep']);
  } finally {
    await r.close();
  }
});

test('a logon reply whose session id would smuggle a parameter in is refused, and nothing is sent with it', async () => {
  const r = await rig(host());
  try {
    r.sim.faults.override.logon = JSON.stringify({ STATUS: [{ STATUS: 'S', Code: 316, Msg: 'Session created', Description: 'LUXminer x' }], SESSION: [{ SessionID: 'ab,wakeup' }], id: 1 });
    await r.miner.start();
    assert.match(r.miner.status().fault ?? '', /logon refused: logon reply has no usable SessionID/);
    delete r.sim.faults.override.logon;
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['logon', 'curtail sleep'], 'the stop logged on itself: there was no session to keep');
  } finally {
    await r.close();
  }
});

test('absurd power readings, an unusable profile list and a poll missing its parts never crash the driver', async () => {
  const r = await rig(host(), {}, {}, { profilesEveryPolls: 1 });
  try {
    await r.miner.start();
    const ok = (body: Record<string, unknown>) => ({ STATUS: [{ STATUS: 'S', Code: 1, Msg: 'x', Description: 'LUXminer x' }], ...body, id: 1 });
    const poll = (power: unknown) => JSON.stringify({
      power: [ok({ POWER: [{ Watts: power }] })],
      summary: [ok({ SUMMARY: [{ 'GHS 5s': 90_000 }] })],
      config: [ok({ CONFIG: [{ CurtailMode: 'None', Profile: 'default' }] })],
      stats: [ok({ STATS: 'nonsense' })],
      id: 1,
    });
    for (const watts of [-5, 1e9, 'lots', null]) {
      r.sim.faults.override[POLL] = poll(watts);
      await r.advance(5000);
      const st = r.miner.status();
      assert.is(st.fault, undefined, `watts ${String(watts)}`);
      assert.not.ok(st.kwMeasured, `watts ${String(watts)} is no reading`);
      assert.is(st.kw, 3.068, 'the profile\'s estimate instead');
      assert.ok(Number.isNaN(st.tempC), 'stats without a miner block: no temperature');
    }
    r.sim.faults.override.profiles = JSON.stringify(ok({ PROFILES: [{ 'Profile Name': 'a,b', Watts: 100 }, { 'Profile Name': 'x', Watts: -1 }, 7, null] }));
    await r.advance(5000);
    assert.is(r.miner.settings.max, 17, 'the profiles listed before are kept');
    assert.match(r.miner.details().note ?? '', /no usable profile/);
    assert.is(r.miner.status().fault, undefined, 'a bad profile list is no fault of the miner');
    r.sim.faults.override[POLL] = JSON.stringify({ power: [ok({})], id: 1 });
    await r.advance(5000);
    const st = r.miner.status();
    assert.match(st.fault ?? '', /no "summary" reply/);
    assert.is(st.state, 'unknown');
    r.sim.faults.override.curtail = JSON.stringify({ STATUS: [{ STATUS: 'E', Code: 336, Msg: 'Curtail failed: PSU fault', Description: 'LUXminer x' }], id: 1 });
    const e = await rejection(r.miner.stop());
    assert.equal([e.code, /Curtail failed: PSU fault/.test(e.message)], [ErrorCode.DeviceFault, true]);
    assert.equal(r.miner.details().session.held, true, 'a refusal that is not about the session keeps it');
  } finally {
    await r.close();
  }
});

test('firmware whose profile list is unusable from the start is driven on/off: set(1) wakes it and sends no profile', async () => {
  const r = await rig(host(), { curtailed: true });
  try {
    r.sim.faults.override.profiles = JSON.stringify({ STATUS: [{ STATUS: 'E', Code: 14, Msg: 'Invalid command', Description: 'LUXminer x' }], id: 1 });
    await r.miner.start();
    assert.equal([r.miner.settings.min, r.miner.settings.max], [1, 1]);
    assert.match(r.miner.details().note ?? '', /profiles: STATUS E code 14: Invalid command/);
    assert.is(r.miner.status().fault, undefined);
    r.mark();
    await r.miner.set(1);
    assert.equal(r.since(), ['curtail wakeup']);
    assert.not.ok(r.sim.curtailed);
  } finally {
    await r.close();
  }
});

test('a sleep the firmware accepts and never carries out becomes a fault once the confirmation time has passed', async () => {
  const r = await rig(host(), {}, {}, { offConfirmMs: 20_000 });
  try {
    await r.miner.start();
    r.sim.faults.ignoreCurtail = true;
    await r.miner.stop();
    assert.is(r.miner.status().state, 'stopping');
    await r.run(30_000);
    const st = r.miner.status();
    assert.match(st.fault ?? '', /accepted curtail sleep but its config still says awake/);
    assert.equal([st.on, st.state], [true, 'hashing'], 'status believes the miner, not the command');
  } finally {
    await r.close();
  }
});

test.run();
