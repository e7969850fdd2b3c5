import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ErrorCode, HashflexError, isHashflexError } from '../agent/errors';
import { WhatsminerMiner } from '../drivers/miner/whatsminer';
import { serveRpc } from '../sim/miners/rpc-server';
import { rig } from './fixtures/whatsminer/rig';

/**
 * A Whatsminer that misbehaves, over loopback TCP (127.21.1.x): garbage, a reply cut short, a
 * reset mid-reply, a miner that hangs or drops off the LAN, nobody at the address, and rogue
 * hosts answering on 4028 and 4433. Each is a clear fault in status() and a clear rejection
 * of stop(), never a crash, and nothing is ever sent to a host that is not a Whatsminer.
 */
let next = 1;
const host = () => `127.21.1.${next++}`;

async function rejection(p: Promise<unknown>): Promise<HashflexError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HashflexError, `a HashflexError, not ${String(e)}`);
    return e;
  }
  throw new Error('expected a rejection');
}

test('Garbage from a miner that was fine: a fault while it lasts, stop() rejects as an invalid frame, and it recovers', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.machine.faults.garbage = true;
    await r.advance(5_000);
    const s = r.miner.status();
    assert.match(s.fault ?? '', /not a JSON object reply/);
    assert.is(s.state, 'unknown');
    assert.ok(s.counters.resyncs > 0);
    const e = await rejection(r.miner.stop());
    assert.is(e.code, ErrorCode.FrameInvalid);
    assert.match(e.message, /stop/);
    r.sim.machine.faults.garbage = false;
    await r.advance(30_000);
    assert.is(r.miner.status().fault, undefined);
    assert.ok(r.miner.status().counters.reconnects >= 1);
  } finally {
    await r.close();
  }
});

test('A reply cut short (the firmware closes mid-JSON) is a fault, not a reading', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.replyFault = 'truncated';
    await r.advance(5_000);
    assert.match(r.miner.status().fault ?? '', /not a JSON object reply/);
    const e = await rejection(r.miner.stop());
    assert.is(e.code, ErrorCode.FrameInvalid);
  } finally {
    await r.close();
  }
});

test('A connection reset mid-reply: the stop may have been carried out, but it was not confirmed, so stop() rejects', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.replyFault = 'reset';
    const e = await rejection(r.miner.stop());
    assert.ok(e.disconnected || e.code === ErrorCode.FrameInvalid, `${e.code} ${e.message}`);
    await r.advance(5_000);
    assert.ok(r.miner.status().fault);
    r.sim.replyFault = undefined;
    await r.miner.stop();
  } finally {
    await r.close();
  }
});

test('A miner that accepts connections and never answers: a timeout fault, unreachable, and stop() rejects with the timeout flag', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.machine.faults.hang = true;
    await r.advance(5_000);
    const s = r.miner.status();
    assert.match(s.fault ?? '', /no complete reply in 400 ms/);
    assert.is(s.state, 'unreachable');
    assert.not.ok(s.kwMeasured, 'the last reading is no longer a measurement');
    assert.ok(s.counters.timeouts > 0);
    const e = await rejection(r.miner.stop());
    assert.ok(e.timeout);
    assert.is(e.code, ErrorCode.TransportTimeout);
    assert.is(r.sim.machine.state, 'hashing');
  } finally {
    await r.close();
  }
});

test('A miner off the LAN (connections reset): unreachable, stop() rejects as disconnected, polls back off and find it again', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.machine.faults.down = true;
    await r.advance(5_000);
    assert.is(r.miner.status().state, 'unreachable');
    const e = await rejection(r.miner.stop());
    assert.ok(e.disconnected);
    const before = r.sim.requests.length;
    r.sim.machine.faults.down = false;
    await r.advance(6_000);
    assert.is(r.sim.requests.length, before, 'after a failure the next poll waits two periods, not one');
    await r.advance(30_000);
    assert.is(r.miner.status().fault, undefined);
    assert.is(r.miner.status().state, 'hashing');
  } finally {
    await r.close();
  }
});

test('A miner that is down at start: start() resolves with a fault, and the driver identifies it once it answers', async () => {
  const r = await rig(host());
  try {
    r.sim.machine.faults.down = true;
    await r.miner.start();
    assert.match(r.miner.status().fault ?? '', /no Whatsminer API at/);
    assert.is(r.miner.status().state, 'unreachable');
    const e = await rejection(r.miner.stop());
    assert.is(e.code, ErrorCode.DeviceUnresponsive, 'never identified: nothing sent');
    r.sim.machine.faults.down = false;
    await r.advance(30_000);
    assert.is(r.miner.identity?.api, 'v2');
    assert.is(r.miner.status().fault, undefined);
    await r.miner.stop();
    assert.is(r.sim.machine.state, 'stopping');
  } finally {
    await r.close();
  }
});

test('Nobody at the address: a fault, no crash, and close() leaves no timer behind', async () => {
  const clock = new VirtualClock();
  const m = new WhatsminerMiner({ id: 'ghost', host: host(), driver: 'whatsminer', ports: {}, pollMs: 5_000, timeoutMs: 300 }, clock);
  await m.start();
  assert.match(m.status().fault ?? '', /no Whatsminer API at .*4028: .*ECONNREFUSED.*4433: .*ECONNREFUSED/);
  assert.is(m.status().state, 'unreachable');
  const e = await rejection(m.stop());
  assert.is(e.code, ErrorCode.DeviceUnresponsive);
  await m.close();
  assert.is(clock.pending, 0);
});

test('A rogue host answering cgminer JSON on 4028 and HTTP on 4433 is not a Whatsminer: a fault, and it never sees a token request or a write', async () => {
  const h = host();
  const seen: string[] = [];
  const rogue = await serveRpc(h, 4028, (req) => {
    seen.push(req);
    return JSON.stringify({ STATUS: [{ STATUS: 'S', When: 1, Code: 22, Msg: 'CGMiner versions', Description: 'cgminer 4.9.2' }], VERSION: [{ CGMiner: '4.9.2', Type: 'Antminer S19' }] });
  });
  const web = net.createServer((s) => s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n')));
  await new Promise<void>((r) => web.listen(4433, h, r));
  const clock = new VirtualClock();
  const m = new WhatsminerMiner({ id: 'rogue', host: h, driver: 'whatsminer', ports: {}, pollMs: 5_000, timeoutMs: 300 }, clock);
  try {
    await m.start();
    assert.match(m.status().fault ?? '', /4028: get_version: unexpected reply \(not a Whatsminer reply/);
    const e = await rejection(m.stop());
    assert.is(e.code, ErrorCode.DeviceUnresponsive);
    await rejection(m.set(50));
    clock.advance(10_000); // the next try, after the backoff
    await m.idle();
    assert.ok(seen.length >= 2, 'it kept trying to identify');
    assert.ok(seen.every((q) => JSON.parse(q).command === 'get_version'), `only identification: ${seen.join(' | ')}`);
  } finally {
    await m.close();
    await rogue.close();
    await new Promise((r) => web.close(r));
  }
});

test('A rogue speaking something else entirely on 4028 (an HTTP server): a fault, never a crash', async () => {
  const h = host();
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n<html>nope</html>'));
  });
  await new Promise<void>((r) => srv.listen(4028, h, r));
  const m = new WhatsminerMiner({ id: 'http', host: h, driver: 'whatsminer', ports: {}, pollMs: 5_000, timeoutMs: 300 }, new VirtualClock());
  try {
    await m.start();
    const f = m.status().fault ?? '';
    assert.match(f, /not a JSON object reply/);
    assert.ok(isHashflexError(await rejection(m.stop()), ErrorCode.DeviceUnresponsive));
  } finally {
    await m.close();
    await new Promise((r) => srv.close(r));
  }
});

test.run();
