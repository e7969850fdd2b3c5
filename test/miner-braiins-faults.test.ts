import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode } from '../agent/errors';
import { BraiinsMiner } from '../drivers/miner/braiins';
import { VirtualClock } from '../agent/clock';
import { SimAntminer } from '../sim/miners/antminer';
import { minerOptions, rejection, rig } from './fixtures/braiins/rig';

/**
 * The Braiins OS+ driver when the miner misbehaves, over real loopback gRPC (127.25.1.x): off the
 * LAN, hung, answering garbage or absurd values, and a host that is another family's. Each is a
 * fault in status() with the reason, a stop that rejects saying why, and a driver that goes on.
 */
let next = 1;
const host = () => `127.25.1.${next++}`;

test('A miner off the LAN at start is unreachable, a stop rejects, and once it is back the driver identifies it and reads it', async () => {
  const r = await rig(host());
  try {
    r.sim.machine.faults.down = true;
    await r.miner.start();
    let s = r.miner.status();
    assert.is(s.state, 'unreachable');
    assert.match(s.fault ?? '', /GetApiVersion/);
    const stop = await rejection(r.miner.stop());
    assert.is(stop.code, ErrorCode.DeviceUnresponsive, 'not identified: nothing is sent');
    r.sim.machine.faults.down = false;
    for (let i = 0; i < 4 && r.miner.status().fault; i++) await r.advance(40_000);
    s = r.miner.status();
    assert.is(s.fault, undefined);
    assert.is(s.state, 'hashing');
    assert.ok(s.counters.reconnects >= 1);
    await r.miner.stop();
    assert.is(r.sim.machine.state, 'stopping');
  } finally {
    await r.close();
  }
});

test('A miner that drops off the LAN mid-session is unreachable; its stop rejects as disconnected; it recovers when back', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.machine.faults.down = true;
    await r.advance(5_000);
    const s = r.miner.status();
    assert.is(s.state, 'unreachable');
    assert.ok(s.fault);
    assert.not.ok(s.kwMeasured);
    const stop = await rejection(r.miner.stop());
    assert.ok(stop.disconnected || stop.timeout, stop.message);
    r.sim.machine.faults.down = false;
    for (let i = 0; i < 4 && r.miner.status().fault; i++) await r.advance(40_000);
    assert.is(r.miner.status().fault, undefined);
    assert.is(r.miner.status().state, 'hashing');
    assert.is(r.sim.tokensIssued, 1, 'the held token still served');
  } finally {
    await r.close();
  }
});

test('A hung miner is a timeout fault, counted; a stop rejects within its deadline; it is read again once it answers', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.machine.faults.hang = true;
    await r.advance(5_000);
    const s = r.miner.status();
    assert.is(s.state, 'unreachable');
    assert.match(s.fault ?? '', /no reply in 400 ms/);
    assert.ok(s.counters.timeouts >= 1);
    const t0 = performance.now();
    const stop = await rejection(r.miner.stop());
    assert.ok(stop.timeout);
    assert.is(stop.code, ErrorCode.TransportTimeout);
    assert.ok(performance.now() - t0 < 2_000, 'bounded by the call\'s deadline');
    r.sim.machine.faults.hang = false;
    for (let i = 0; i < 4 && r.miner.status().fault; i++) await r.advance(40_000);
    assert.is(r.miner.status().fault, undefined);
  } finally {
    await r.close();
  }
});

test('Replies that do not decode are an unreadable-reply fault, counted, never a crash; a stop rejects saying so', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.machine.faults.garbage = true;
    await r.advance(5_000);
    const s = r.miner.status();
    assert.is(s.state, 'unknown');
    assert.match(s.fault ?? '', /unreadable reply/);
    assert.ok(s.counters.resyncs >= 1);
    const stop = await rejection(r.miner.stop());
    assert.is(stop.code, ErrorCode.FrameInvalid);
    r.sim.machine.faults.garbage = false;
    await r.advance(40_000);
    assert.is(r.miner.status().fault, undefined);
  } finally {
    await r.close();
  }
});

test('An absurd power reading is refused with the field and value named, and not taken as the miner\'s power', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.faults.powerW = 9_000_000_000;
    await r.advance(5_000);
    const s = r.miner.status();
    assert.match(s.fault ?? '', /power_stats\.approximated_consumption 9000000000 is outside 0\.\.30000/);
    assert.ok(s.kw < 10, `${s.kw} kW`);
    r.sim.faults.powerW = undefined;
    await r.advance(40_000);
    assert.is(r.miner.status().fault, undefined);
  } finally {
    await r.close();
  }
});

test('A stock Antminer is refused: its 4028 version names ANTMINER, so no logon, stop or target is ever sent to it', async () => {
  const h = host();
  const antminer = await new SimAntminer({ host: h, ports: { api: 4028, web: 0 } }).start();
  const clock = new VirtualClock();
  const miner = new BraiinsMiner(minerOptions(h), clock, { reconnectMaxMs: 200 });
  try {
    await miner.start();
    const s = miner.status();
    assert.match(s.fault ?? '', /^host is not Braiins OS\+ \(its 4028 API's version names ANTMINER\): no commands will be sent/);
    assert.is(s.state, 'unknown');
    const stop = await rejection(miner.stop());
    assert.is(stop.code, ErrorCode.DeviceFault);
    assert.match(stop.message, /stop not sent: host is not Braiins OS\+/);
    assert.is((await rejection(miner.set(2000))).code, ErrorCode.DeviceFault);
    assert.equal(antminer.webLog, [], 'nothing went to its web CGI');
    assert.equal(antminer.machine.log, [], 'and its machine took no command');
    assert.is(antminer.machine.state, 'hashing');
  } finally {
    await miner.close();
    await antminer.close();
  }
});

test.run();
