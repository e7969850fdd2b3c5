import http from 'node:http';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realClock, type Clock, type Timer } from '../agent/clock';
import { ErrorCode, HashflexError } from '../agent/errors';
import type { NetworkMiner } from '../agent/hardware';
import { AutoMiner } from '../drivers/miner/auto';
import { createMiner } from '../drivers/miner';
import type { MinerOptions } from '../drivers/miner/options';
import { SimAntminer } from '../sim/miners/antminer';
import { AvalonSim } from '../sim/miners/avalon';
import { startSimWhatsminer } from '../sim/miners/whatsminer';

// `driver: auto` against the simulated families over real loopback TCP/HTTP, each on its own
// address in 127.24.4.0/24 on the firmware's own ports. Retries run on a manual clock: a test
// fires them.

class TestClock implements Clock {
  readonly timers: { ms: number; fn: () => void; cancelled: boolean }[] = [];
  now(): number { return Date.now(); }
  monotonic(): number { return performance.now(); }
  setTimeout(fn: () => void, ms: number): Timer {
    const t = { ms, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => { t.cancelled = true; } };
  }
  setInterval(fn: () => void, ms: number): Timer { return this.setTimeout(fn, ms); }
  get live() { return this.timers.filter((t) => !t.cancelled); }
  fire(): number {
    const t = this.live[0];
    assert.ok(t, 'a timer is set');
    t.cancelled = true;
    t.fn();
    return t.ms;
  }
}

const options = (host: string, o: Partial<MinerOptions> = {}): MinerOptions => ({ id: `auto-${host}`, host, driver: 'auto', ports: {}, pollMs: 5000, timeoutMs: 1500, ...o });

async function waitFor(cond: () => boolean, what: string, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.unreachable(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejection(p: Promise<unknown>): Promise<HashflexError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, HashflexError);
    return e as HashflexError;
  }
  return assert.unreachable('resolved') as never;
}

test('driver auto identifies each family and hands every call to its driver', async () => {
  const antminer = await new SimAntminer({ host: '127.24.4.1' }).start();
  const whatsminer = await startSimWhatsminer({ id: 'wm', host: '127.24.4.2' });
  const avalon = await new AvalonSim({ host: '127.24.4.3' }).start();
  const miners: NetworkMiner[] = [];
  try {
    for (const [host, family, make] of [['127.24.4.1', 'antminer', 'Bitmain'], ['127.24.4.2', 'whatsminer', 'MicroBT'], ['127.24.4.3', 'avalon', 'Canaan']] as const) {
      const m = createMiner(options(host), realClock);
      miners.push(m);
      assert.instance(m, AutoMiner);
      assert.is(m.driver, 'auto');
      await m.start();
      assert.is(m.driver, family, host);
      assert.is((m as AutoMiner).identity?.make, make);
      const s = m.status();
      assert.is(s.id, `auto-${host}`);
      assert.is(s.fault, undefined, `${host}: ${s.fault}`);
      assert.is(s.state, 'hashing', host);
      assert.ok(s.kw > 3, `${host}: ${s.kw} kW`);
      // the settings are the family's, through the same object
      assert.is(m.settings.unit, (m as AutoMiner).delegate!.settings.unit);
      assert.is(m.settings.max, (m as AutoMiner).delegate!.settings.max);
    }
    assert.is(miners[1].settings.unit, 'percent');
    await miners[1].stop();
    assert.is(whatsminer.machine.state, 'stopping', 'the Whatsminer took the stop');
    await miners[0].stop();
    assert.is(antminer.machine.state, 'stopping', 'the Antminer took the stop');
  } finally {
    await Promise.all(miners.map((m) => m.close()));
    await Promise.all([antminer.close(), whatsminer.close(), avalon.close()]);
  }
});

test('An unidentified miner is a fault; stop and set reject and say why; it is identified once it answers', async () => {
  const host = '127.24.4.9';
  const clock = new TestClock();
  const m = createMiner(options(host), clock) as AutoMiner;
  await m.start();
  let s = m.status();
  assert.is(m.driver, 'auto');
  assert.is(s.state, 'unreachable');
  assert.match(s.fault ?? '', /^not identified yet: 127\.24\.4\.9 does not answer/);
  assert.is(s.on, false);
  assert.is(s.kwMeasured, false);
  assert.is(clock.live.length, 1, 'a retry is set');
  assert.is(clock.live[0].ms, 5000, 'after one poll period');

  const stop = await rejection(m.stop());
  assert.is(stop.code, ErrorCode.DeviceUnresponsive);
  assert.match(stop.message, /^miner auto-127\.24\.4\.9: stop not sent: not identified yet/);
  await waitFor(() => clock.live.length === 1, 'the probe the stop asked for is done');
  const set = await rejection(m.set(1));
  assert.is(set.code, ErrorCode.DeviceUnresponsive);
  assert.match(set.message, /set 1 not sent/);
  await waitFor(() => clock.live.length === 1, 'the probe the set asked for is done');
  assert.ok(clock.live[0].ms > 5000, 'backing off while nothing answers');

  const sim = await new AvalonSim({ host }).start();
  try {
    clock.fire();
    await waitFor(() => m.driver === 'avalon', 'identified on the retry');
    await waitFor(() => m.status().fault === undefined && m.status().state === 'hashing', 'the Avalon driver reads it');
    assert.is(m.identity?.model, 'AvalonMiner 1466');
    await m.stop();
  } finally {
    await m.close();
    await sim.close();
  }
});

test('A host that answers as no known miner is named so, and is not driven', async () => {
  const host = '127.24.4.10';
  const server = http.createServer((_req, res) => { res.writeHead(200); res.end('<html>printer</html>'); });
  await new Promise<void>((r) => server.listen(80, host, () => r()));
  const m = createMiner(options(host), new TestClock());
  try {
    await m.start();
    const s = m.status();
    assert.is(s.state, 'unknown');
    assert.match(s.fault ?? '', /answers but as no miner family known \(4028 refused, web HTTP 200\)/);
    assert.is((await rejection(m.stop())).code, ErrorCode.DeviceUnresponsive);
  } finally {
    await m.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('close() during the first probe of a host that hangs ends it at once', async () => {
  const host = '127.24.4.11';
  const sockets = new Set<net.Socket>();
  const servers = [4028, 80].map((port) => net.createServer((s) => { sockets.add(s); s.on('error', () => {}); }).listen(port, host));
  await Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? r() : s.once('listening', () => r())))));
  const m = createMiner(options(host, { timeoutMs: 10_000 }), new TestClock());
  try {
    const started = m.start();
    await waitFor(() => sockets.size === 2, 'both probes connected');
    const t0 = performance.now();
    await m.close();
    await started;
    assert.ok(performance.now() - t0 < 1000, 'close did not wait for the 10 s timeout');
    assert.match(m.status().fault ?? '', /not identified yet/);
  } finally {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
});

test.run();
