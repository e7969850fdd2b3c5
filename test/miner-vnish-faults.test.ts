import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ErrorCode, HashflexError } from '../agent/errors';
import { VnishMiner } from '../drivers/miner/vnish';
import { SimAntminer } from '../sim/miners/antminer';
import { minerOptions, rig, type Rig } from './fixtures/vnish/rig';

/**
 * A VNish miner that misbehaves, over loopback HTTP (127.26.3.x): garbage, a miner that hangs or
 * drops off the LAN, nobody at the address, malformed JSON and absurd values, and hosts that are
 * not VNish at all (a stock Antminer, a web server naming other firmware). Each is a clear fault
 * in status() and a clear rejection of stop(), never a crash, and nothing is sent to a host that
 * is not VNish.
 */
let next = 1;
const host = () => `127.26.3.${next++}`;
const quick = { pollMs: 5000, timeoutMs: 300 };

async function within(made: Promise<Rig>, fn: (r: Rig) => Promise<void>): Promise<void> {
  const r = await made;
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}

async function rejection(p: Promise<unknown>): Promise<HashflexError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HashflexError, `a HashflexError, not ${String(e)}`);
    return e;
  }
  throw new Error('expected a rejection');
}

test('Garbage from a miner that was fine is a fault while it lasts, stop() rejects as an invalid frame, and it recovers', () => within(rig(host(), {}, quick), async (r) => {
  await r.miner.start();
  r.sim.machine.faults.garbage = true;
  await r.advance(5_000);
  const st = r.miner.status();
  assert.match(st.fault ?? '', /not JSON/);
  assert.is(st.state, 'unknown');
  assert.ok(Number.isNaN(st.ths));
  const e = await rejection(r.miner.stop());
  assert.is(e.code, ErrorCode.FrameInvalid);
  assert.match(e.message, /stop not accepted/);
  r.sim.machine.faults.garbage = false;
  await r.advance(30_000);
  assert.is(r.miner.status().fault, undefined);
  assert.is(r.miner.status().state, 'hashing');
}));

test('A miner that hangs: polls time out into an unreachable fault, stop() rejects with a timeout, and it recovers', () => within(rig(host(), {}, quick), async (r) => {
  await r.miner.start();
  r.sim.machine.faults.hang = true;
  await r.advance(5_000);
  const st = r.miner.status();
  assert.is(st.state, 'unreachable');
  assert.match(st.fault ?? '', /no complete reply in 300 ms/);
  assert.ok(st.counters.timeouts >= 1);
  const e = await rejection(r.miner.stop());
  assert.is(e.code, ErrorCode.TransportTimeout);
  assert.ok(e.timeout);
  r.sim.machine.faults.hang = false;
  await r.advance(60_000);
  assert.is(r.miner.status().fault, undefined);
  assert.ok(r.miner.status().counters.reconnects >= 1);
}));

test('A miner off the LAN (connections reset) is unreachable, stop() rejects as disconnected, and polls back off', () => within(rig(host(), {}, quick), async (r) => {
  await r.miner.start();
  r.sim.machine.faults.down = true;
  await r.advance(5_000);
  assert.is(r.miner.status().state, 'unreachable');
  const e = await rejection(r.miner.stop());
  assert.ok(e.disconnected, e.message);
  // backing off: 10 s, then 20 s between polls, not one every 5 s
  const before = r.sim.requests.length;
  await r.advance(25_000);
  const polls = r.sim.requests.slice(before).filter((x) => x.path === '/api/v1/summary').length;
  assert.ok(polls <= 2, `${polls} polls in 25 s`);
  r.sim.machine.faults.down = false;
  await r.advance(60_000);
  assert.is(r.miner.status().fault, undefined);
}));

test('Malformed JSON, wrong shapes and absurd values never crash the driver: each is a fault, or an unknown in place of a reading', () => within(rig(host(), {}, quick, { presetsEveryPolls: 1 }), async (r) => {
  // one poll per advance (the next is set when one ends); 30 s is past the longest back-off
  await r.miner.start();
  const cases: [string, RegExp][] = [
    ['{"miner": {"miner_status": ', /not JSON/],
    ['[]', /no "miner" object/],
    ['{"miner": 5}', /no "miner" object/],
    ['{"miner": {"miner_status": {}}}', /no miner_status\.miner_state/],
    ['null', /no "miner" object/],
    ['', /empty reply/],
    ['x'.repeat(300 * 1024), /reply over/],
  ];
  for (const [body, fault] of cases) {
    r.sim.faults.bodies['/api/v1/summary'] = body;
    await r.advance(30_000);
    assert.match(r.miner.status().fault ?? '', fault, `summary ${JSON.stringify(body.slice(0, 30))}`);
  }
  // absurd numbers: the reading is unknown, the rest stands
  r.sim.faults.bodies['/api/v1/summary'] = JSON.stringify({ miner: { miner_status: { miner_state: 'mining' }, power_consumption: 1e12, power_usage: -3, hr_realtime: -5, chip_temp: { max: 900 }, pcb_temp: { max: 'hot' } } });
  await r.advance(60_000);
  let st = r.miner.status();
  assert.is(st.fault, undefined);
  assert.not.ok(st.kwMeasured);
  assert.is(st.kw, 3.25, 'the preset\'s own power stands in');
  assert.ok(Number.isNaN(st.ths) && Number.isNaN(st.tempC));
  delete r.sim.faults.bodies['/api/v1/summary'];
  // a settings read-back that is not settings: set() rejects as an invalid frame
  r.sim.faults.bodies['/api/v1/settings'] = '{"miner": {}}';
  const e = await rejection(r.miner.set(1900));
  assert.is(e.code, ErrorCode.FrameInvalid);
  assert.match(e.message, /no miner\.overclock/);
  delete r.sim.faults.bodies['/api/v1/settings'];
  // a stop answered with something that is not the firmware's: not taken
  r.sim.faults.bodies['/api/v1/mining/stop'] = '<html>busy</html>';
  assert.is((await rejection(r.miner.stop())).code, ErrorCode.FrameInvalid);
  r.sim.faults.bodies['/api/v1/mining/stop'] = '{"err":"CGMiner err: failed-to-activate-pause-mode"}';
  const refused = await rejection(r.miner.stop());
  assert.is(refused.code, ErrorCode.DeviceFault);
  assert.match(refused.message, /firmware said: CGMiner err/);
  delete r.sim.faults.bodies['/api/v1/mining/stop'];
  // an unlock without a token, and a preset list that is not one
  r.sim.expireTokens();
  r.sim.faults.bodies['/api/v1/unlock'] = '{"token": 42}';
  await r.advance(60_000);
  assert.match(r.miner.status().fault ?? '', /no token/);
  delete r.sim.faults.bodies['/api/v1/unlock'];
  r.sim.faults.bodies['/api/v1/autotune/presets'] = '{"presets": "all of them"}';
  await r.advance(60_000);
  assert.match(r.miner.status().fault ?? '', /not a list of presets/);
  delete r.sim.faults.bodies['/api/v1/autotune/presets'];
  await r.advance(60_000);
  st = r.miner.status();
  assert.is(st.fault, undefined);
  assert.is(st.state, 'hashing');
  assert.equal(r.miner.details().presets, [1900, 2350, 2620, 2950, 3250]);
}));

test('A stock Antminer at the address gets nothing: its 401 is no VNish info, and stop() is refused without a request', async () => {
  const h = host();
  const antminer = await new SimAntminer({ host: h }).start();
  const miner = new VnishMiner(minerOptions({ host: h, ports: { api: 4028, web: 80 } }, quick), new VirtualClock());
  try {
    await miner.start();
    const st = miner.status();
    assert.match(st.fault ?? '', /did not identify as VNish firmware .*HTTP 401/);
    assert.is(st.state, 'unknown');
    const e = await rejection(miner.stop());
    assert.is(e.code, ErrorCode.DeviceFault);
    assert.match(e.message, /stop not sent/);
    assert.is((await rejection(miner.set(3250))).code, ErrorCode.DeviceFault);
    assert.equal(antminer.webLog.map((x) => `${x.method} ${x.path}`), ['GET /api/v1/info'], 'one read, no command');
    assert.is(antminer.machine.state, 'hashing');
  } finally {
    await miner.close();
    await antminer.close();
  }
});

test('A web server whose info names other firmware is refused, and nothing but that read is sent to it', () => within(rig(host(), {}, quick), async (r) => {
  r.sim.faults.bodies['/api/v1/info'] = JSON.stringify({ miner: 'Antminer S19', fw_name: 'LuxOS', fw_version: '2024.1' });
  await r.miner.start();
  assert.match(r.miner.status().fault ?? '', /not VNish firmware \(info says fw_name "LuxOS"/);
  await rejection(r.miner.stop());
  await r.advance(30_000);
  assert.ok(r.sim.requests.every((x) => x.path === '/api/v1/info'), r.since().join(', '));
  assert.is(r.sim.machine.state, 'hashing');
}));

test('Nobody at the address: start() resolves, the miner is unreachable, stop() says it never identified', async () => {
  const miner = new VnishMiner(minerOptions({ host: host(), ports: { api: 4028, web: 80 } }, quick), new VirtualClock());
  try {
    await miner.start();
    assert.is(miner.status().state, 'unreachable');
    assert.match(miner.status().fault ?? '', /ECONNREFUSED/);
    const e = await rejection(miner.stop());
    assert.is(e.code, ErrorCode.DeviceUnresponsive);
  } finally {
    await miner.close();
  }
});

test('A server that is not HTTP at all on the web port is refused as not VNish, without a crash', async () => {
  const h = host();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.end('SSH-2.0-dropbear\r\n\r\n');
  });
  await new Promise<void>((res) => server.listen(80, h, () => res()));
  const miner = new VnishMiner(minerOptions({ host: h, ports: { api: 4028, web: 80 } }, quick), new VirtualClock());
  try {
    await miner.start();
    assert.match(miner.status().fault ?? '', /did not identify as VNish|not an HTTP reply/);
    await rejection(miner.stop());
  } finally {
    await miner.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((res) => server.close(() => res()));
  }
});

test.run();
