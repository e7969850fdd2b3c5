import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Clock, Timer } from '../agent/clock';
import { ErrorCode, HashflexError } from '../agent/errors';
import { AvalonMiner, identify, type AvalonTuning } from '../drivers/miner/avalon';
import type { MinerOptions } from '../drivers/miner/options';
import { rpcCall } from '../drivers/miner/rpc';
import { AvalonSim, AVALON_Q, type AvalonSimOptions } from '../sim/miners/avalon';

// The Avalon driver against the simulated firmware over real loopback TCP, each test on its own
// address in 127.22.0.0/16 on the firmware's own port 4028. Driver timers are manual (polls happen
// when a test says so); wall and monotonic time are real, with offsets a test may add.

class TestClock implements Clock {
  wallExtra = 0;
  monoExtra = 0;
  readonly timers: { ms: number; fn: () => void; cancelled: boolean }[] = [];
  now(): number { return Date.now() + this.wallExtra; }
  monotonic(): number { return performance.now() + this.monoExtra; }
  setTimeout(fn: () => void, ms: number): Timer {
    const t = { ms, fn, cancelled: false };
    this.timers.push(t);
    return { cancel: () => { t.cancelled = true; } };
  }
  setInterval(fn: () => void, ms: number): Timer { return this.setTimeout(fn, ms); }
  get live() { return this.timers.filter((t) => !t.cancelled); }
  /** fire the oldest live timer; its delay */
  fire(): number {
    const t = this.live[0];
    assert.ok(t, 'a timer is set');
    t.cancelled = true;
    t.fn();
    return t.ms;
  }
}

let nextHost = 1;
async function rig(sim: Partial<AvalonSimOptions> = {}, opts: Partial<MinerOptions> = {}, tuning: Partial<AvalonTuning> = {}) {
  const host = `127.22.0.${nextHost++}`;
  const s = await new AvalonSim({ host, ...sim }).start();
  const clock = new TestClock();
  const miner = new AvalonMiner({ id: `av-${host}`, host, driver: 'avalon', ports: {}, pollMs: 5000, timeoutMs: 1500, ...opts }, clock, tuning);
  return { host, sim: s, clock, miner, async done() { await miner.close(); await s.close(); } };
}

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
  return assert.unreachable('resolved; expected a rejection') as never;
}

const ascsets = (sim: AvalonSim) => sim.requests.filter((r) => r.command === 'ascset').map((r) => r.parameter);

test('start identifies the Avalon and reports its own power, hash rate, temperature and work level from estats', async () => {
  const r = await rig();
  await r.miner.start();
  const st = r.miner.status();
  assert.is(st.fault, undefined);
  assert.is(st.state, 'hashing');
  assert.is(st.on, true);
  assert.is(st.kwMeasured, true);
  assert.ok(Math.abs(st.kw - r.sim.machine.kw) < 0.002, `kw ${st.kw} vs the machine's ${r.sim.machine.kw}`);
  assert.ok(Math.abs(st.ths - r.sim.machine.ths) < 0.01, `ths ${st.ths}`);
  assert.ok(st.tempC > 30 && st.tempC < 90, `tempC ${st.tempC}`);
  assert.is(st.setting, 3, 'the highest of three levels, on the 1-based scale');
  assert.equal([r.miner.settings.min, r.miner.settings.max, r.miner.settings.step, r.miner.settings.unit], [1, 3, 1, 'level']);
  assert.equal(r.miner.details().model, 'AvalonMiner 1466');
  assert.match(r.miner.details().firmware ?? '', /^stock 24052801/);
  assert.is(r.miner.details().wattsField, 'PS[6]');
  assert.equal(r.sim.requests.map((q) => q.command), ['version', 'estats']);
  assert.is(r.clock.live.length, 1, 'the next poll is scheduled');
  await r.done();
});

test('discover\'s identify() knows the simulated firmware by its version reply', async () => {
  const r = await rig();
  const version = await rpcCall({ host: r.host, port: 4028, timeoutMs: 1000 }, 'version');
  assert.equal(identify({ version }), { make: 'Canaan', model: 'AvalonMiner 1466', firmware: 'stock 24052801_3a4f2c1', driver: 'avalon' });
  await r.done();
});

test('stop sends one softoff stamped with the miner\'s own clock, resolves once the API took it, and the power then falls', async () => {
  // the miner's clock is 45 s behind ours: a stop stamped with our clock would wait 45 s there
  const r = await rig({ skewMs: -45_000 });
  await r.miner.start();
  const before = r.sim.requests.length;
  await r.miner.stop();
  const sent = r.sim.requests.slice(before);
  assert.equal(sent.map((q) => q.command), ['ascset'], 'one request: nothing read first');
  const stamp = Number(/^0,softoff,1:(\d+)$/.exec(sent[0].parameter ?? '')?.[1]);
  const minerS = r.sim.minerNow() / 1000;
  assert.ok(stamp >= minerS - 2 && stamp <= minerS + 2, `stamp ${stamp} vs the miner's clock ${minerS.toFixed(1)}`);
  assert.is(r.miner.status().on, false);
  assert.is(r.miner.status().setting, 0);
  await waitFor(() => r.sim.softOff, 'the miner in soft-off (it acts at its own second)');
  assert.is(r.sim.machine.state, 'stopping');
  await r.miner.refresh();
  assert.is(r.miner.status().state, 'stopping', 'power still falling');
  r.sim.machine.tick(r.sim.machine.spec.stopMs);
  await r.miner.refresh();
  const st = r.miner.status();
  assert.is(st.state, 'sleeping');
  assert.ok(st.kw < 0.1, `kw ${st.kw} once stopped`);
  assert.is(st.ths, 0);
  assert.is(st.fault, undefined);
  await r.done();
});

test('a stop jumps the line: the poll on the wire is aborted, the softoff goes at once, and the aborted poll is no fault', async () => {
  const r = await rig({}, { timeoutMs: 5000 });
  await r.miner.start();
  r.sim.faults.delayMs.estats = 3000;
  const served = r.sim.requests.length;
  const poll = r.miner.refresh();
  await waitFor(() => r.sim.requests.length > served, 'the poll in service');
  await r.miner.stop();
  const tail = r.sim.requests.slice(-2);
  assert.equal(tail.map((q) => [q.command, q.outcome]), [['estats', 'dropped'], ['ascset', 'answered']]);
  assert.match(tail[1].parameter ?? '', /^0,softoff,1:\d+$/);
  await poll;
  assert.is(r.miner.status().fault, undefined);
  assert.is(r.miner.status().counters.timeouts, 0);
  assert.is(r.sim.maxInService, 1);
  await r.done();
});

test('the simulated API serves one request at a time: a second connection waits for the first', async () => {
  const r = await rig();
  r.sim.faults.delayMs.version = 150;
  const t = { host: r.host, port: 4028, timeoutMs: 3000 };
  const replies = await Promise.all([rpcCall(t, 'version'), rpcCall(t, 'summary'), rpcCall(t, 'estats')]);
  assert.ok(replies.every((x) => Array.isArray(x.STATUS)));
  assert.is(r.sim.maxInService, 1);
  assert.equal(r.sim.requests.map((q) => q.outcome), ['answered', 'answered', 'answered']);
  await r.done();
});

test('the simulated firmware honours a softoff stamped in the future by its own clock', async () => {
  let now = Date.now();
  const r = await rig({ now: () => now });
  const t = { host: r.host, port: 4028, timeoutMs: 1000 };
  const at = Math.floor(now / 1000) + 60;
  const reply = await rpcCall(t, 'ascset', `0,softoff,1:${at}`);
  assert.match(String((reply.STATUS as { Msg: string }[])[0].Msg), /success softoff/);
  assert.is(r.sim.softOff, false, 'not before its time');
  now += 61_000;
  r.sim.runDue();
  assert.is(r.sim.softOff, true);
  await r.done();
});

test('set runs the miner at a work level on a 1-based scale; out-of-scale settings are refused without a request', async () => {
  const r = await rig();
  await r.miner.start();
  await r.miner.set(1);
  assert.equal(ascsets(r.sim), ['0,worklevel,set,0']);
  assert.is(r.sim.level, 0);
  r.sim.machine.tick(r.sim.machine.spec.rampMs);
  await r.miner.refresh();
  await r.miner.refresh();
  const st = r.miner.status();
  assert.is(st.setting, 1);
  assert.ok(Math.abs(st.kw - r.sim.levelKw(0)) < 0.01, `kw ${st.kw}`);
  assert.ok(Math.abs(r.miner.settings.kwAt(1) - r.sim.levelKw(0)) < 0.01, 'kwAt learns what a setting draws');
  for (const bad of [4, 1.5, -1]) {
    const e = await rejection(r.miner.set(bad));
    assert.is(e.code, ErrorCode.UsageInvalid);
  }
  assert.is(ascsets(r.sim).length, 1);
  await r.done();
});

test('from soft-off, set() writes the level first and then wakes the miner, which comes up over its wake time', async () => {
  const r = await rig();
  await r.miner.start();
  await r.miner.stop();
  await waitFor(() => r.sim.softOff, 'soft-off');
  r.sim.machine.tick(r.sim.machine.spec.stopMs);
  await r.miner.refresh();
  await r.miner.set(2);
  assert.equal(ascsets(r.sim).slice(1).map((p) => p?.replace(/\d{9,}/, 'T')), ['0,worklevel,set,1', '0,softon,1:T']);
  await waitFor(() => !r.sim.softOff, 'awake');
  await r.miner.refresh();
  assert.is(r.miner.status().state, 'waking');
  assert.is(r.miner.status().on, true);
  r.sim.machine.tick(r.sim.machine.spec.wakeMs);
  await r.miner.refresh();
  assert.is(r.miner.status().state, 'hashing');
  assert.is(r.miner.status().setting, 2);
  await r.done();
});

test('a stop wins over a set() under way: the wake behind it is not sent', async () => {
  const r = await rig();
  await r.miner.start();
  await r.miner.stop();
  await waitFor(() => r.sim.softOff, 'soft-off');
  await r.miner.refresh();
  r.sim.faults.delayMs.ascset = 300;
  const waking = r.miner.set(3);
  await waitFor(() => r.sim.requests.at(-1)?.parameter === '0,worklevel,set,2', 'the level write on the wire');
  const stopped = r.miner.stop();
  const e = await rejection(waking);
  assert.match(e.message, /a stop came after it/);
  await stopped;
  assert.ok(!ascsets(r.sim).some((p) => p?.startsWith('0,softon')), 'no softon sent');
  assert.is(r.sim.softOff, true);
  await r.done();
});

test('an API that gives this host no write access: the stop rejects and says why, and status shows it', async () => {
  const r = await rig();
  await r.miner.start();
  r.sim.faults.denyWrites = true;
  const e = await rejection(r.miner.stop());
  assert.is(e.code, ErrorCode.DeviceFault);
  assert.match(e.message, /stop not accepted: access denied/);
  assert.match(r.miner.status().fault ?? '', /access denied/);
  r.sim.faults.denyWrites = false;
  await r.miner.stop();
  assert.is(r.miner.status().fault, undefined);
  await r.done();
});

test('a work level the firmware refuses (calibrating): set() rejects and the miner stays asleep', async () => {
  const r = await rig();
  await r.miner.start();
  await r.miner.stop();
  await waitFor(() => r.sim.softOff, 'soft-off');
  r.sim.faults.refuseLevel = 'calibrating, please wait';
  const e = await rejection(r.miner.set(1));
  assert.match(e.message, /set 1 not accepted: ASC 0 set failed: calibrating/);
  assert.ok(!ascsets(r.sim).some((p) => p?.startsWith('0,softon')));
  assert.is(r.sim.softOff, true);
  await r.done();
});

test('a softoff the miner takes but never applies becomes a fault once it is overdue', async () => {
  const r = await rig({}, {}, { offConfirmMs: 30_000 });
  await r.miner.start();
  r.sim.faults.ignoreSoftPower = true;
  await r.miner.stop();
  await r.miner.refresh();
  assert.is(r.miner.status().fault, undefined, 'not yet due');
  r.clock.monoExtra += 60_000;
  await r.miner.refresh();
  assert.match(r.miner.status().fault ?? '', /accepted softoff .* but still reports Work: In Work/);
  assert.is(r.miner.status().state, 'hashing', 'what the miner reports wins');
  await r.done();
});

test('garbage replies are a fault with the reason, never a crash; the driver recovers when the miner answers again', async () => {
  const r = await rig();
  await r.miner.start();
  r.sim.machine.faults.garbage = true;
  await r.miner.refresh();
  let st = r.miner.status();
  assert.match(st.fault ?? '', /^api: not a JSON object reply/);
  assert.is(st.state, 'unknown');
  assert.ok(Number.isNaN(st.ths));
  assert.is(st.kwMeasured, false);
  assert.ok(st.counters.exceptions >= 1);
  r.sim.machine.faults.garbage = false;
  await r.miner.refresh();
  st = r.miner.status();
  assert.is(st.fault, undefined);
  assert.is(st.state, 'hashing');
  await r.done();
});

test('a truncated reply is a fault', async () => {
  const r = await rig();
  await r.miner.start();
  r.sim.faults.truncate = true;
  await r.miner.refresh();
  assert.match(r.miner.status().fault ?? '', /^api: not a JSON object reply/);
  assert.is(r.sim.requests.at(-1)?.outcome, 'truncated');
  await r.done();
});

test('a miner that closes mid-reply is a fault that says so', async () => {
  const r = await rig();
  await r.miner.start();
  r.sim.faults.closeMidReply = true;
  await r.miner.refresh();
  assert.match(r.miner.status().fault ?? '', /closed mid-reply/);
  assert.is(r.miner.status().state, 'unknown');
  await r.done();
});

test('a hung miner: the poll times out and is a fault; a stop then rejects with a timeout', async () => {
  const r = await rig({}, { timeoutMs: 300 });
  await r.miner.start();
  r.sim.machine.faults.hang = true;
  await r.miner.refresh();
  const st = r.miner.status();
  assert.match(st.fault ?? '', /no complete reply in 300 ms/);
  assert.is(st.state, 'unreachable');
  assert.is(st.counters.timeouts, 1);
  const e = await rejection(r.miner.stop());
  assert.is(e.timeout, true);
  assert.is(e.code, ErrorCode.TransportTimeout);
  await r.done();
});

test('a miner that is down is unreachable, polled with backoff, and comes back', async () => {
  const r = await rig();
  await r.miner.start();
  r.sim.machine.faults.down = true;
  assert.is(r.clock.fire(), 5000, 'polled every pollMs while it answers');
  await waitFor(() => r.miner.status().fault !== undefined, 'the failed poll');
  assert.is(r.miner.status().state, 'unreachable');
  assert.match(r.miner.status().fault ?? '', /^api: .*ECONNRESET/);
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) {
    await waitFor(() => r.clock.live.length === 1, 'the next poll scheduled');
    delays.push(r.clock.fire());
  }
  assert.equal(delays, [10_000, 20_000, 40_000, 40_000], 'backoff doubles up to 8 polls');
  const e = await rejection(r.miner.stop());
  assert.is(e.disconnected, true);
  r.sim.machine.faults.down = false;
  await waitFor(() => r.clock.live.length === 1, 'the next poll scheduled');
  await r.miner.refresh();
  assert.is(r.miner.status().fault, undefined);
  assert.ok(r.miner.status().counters.reconnects >= 1);
  await r.done();
});

test('nothing listening on the port: unreachable, and the stop rejects as disconnected', async () => {
  const host = `127.22.0.${nextHost++}`;
  const clock = new TestClock();
  const miner = new AvalonMiner({ id: 'gone', host, driver: 'avalon', ports: {}, pollMs: 5000, timeoutMs: 500 }, clock);
  await miner.start();
  assert.is(miner.status().state, 'unreachable');
  assert.match(miner.status().fault ?? '', /ECONNREFUSED/);
  const e = await rejection(miner.stop());
  assert.is(e.disconnected, true);
  await miner.close();
});

/** a host on 4028 that answers every request with `reply` (and records what it was sent) */
async function rogue(host: string, reply: string): Promise<{ seen: string[]; close: () => Promise<void> }> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.once('data', (d) => { seen.push(d.toString()); s.end(reply); });
  });
  await new Promise<void>((res) => server.listen(4028, host, res));
  return { seen, close: () => new Promise<void>((res) => { for (const s of sockets) s.destroy(); server.close(() => res()); }) };
}

test('a rogue host answering on 4028 as other firmware: a clear fault, and no command is ever sent to it', async () => {
  const host = `127.22.0.${nextHost++}`;
  const antminer = JSON.stringify({ STATUS: [{ STATUS: 'S', When: 1765004019, Code: 22, Msg: 'BMMiner versions' }], VERSION: [{ BMMiner: '1.0.0', API: '3.1', Type: 'Antminer S19 Pro', CompileTime: 'Mon Jan 1' }], id: 1 }) + '\0';
  const h = await rogue(host, antminer);
  const clock = new TestClock();
  const miner = new AvalonMiner({ id: 'rogue', host, driver: 'avalon', ports: {}, pollMs: 5000, timeoutMs: 500 }, clock);
  await miner.start();
  assert.match(miner.status().fault ?? '', /not an Avalon .*ANTMINER/);
  assert.is(miner.status().state, 'unknown');
  const e = await rejection(miner.stop());
  assert.match(e.message, /stop not sent: host is not an Avalon/);
  await rejection(miner.set(2));
  assert.ok(h.seen.every((req) => !req.includes('ascset')), JSON.stringify(h.seen));
  await miner.close();
  await h.close();
});

test('a rogue host answering HTTP on 4028 is a fault, never a crash', async () => {
  const host = `127.22.0.${nextHost++}`;
  const h = await rogue(host, 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  const miner = new AvalonMiner({ id: 'http', host, driver: 'avalon', ports: {}, pollMs: 5000, timeoutMs: 500 }, new TestClock());
  await miner.start();
  assert.match(miner.status().fault ?? '', /^api: not a JSON object reply/);
  assert.is(miner.status().state, 'unknown');
  await miner.close();
  await h.close();
});

test('the Q\'s `MM ID0:Summary` format reads the same: WALLPOWER, one board, its own name', async () => {
  const r = await rig({ profile: AVALON_Q });
  await r.miner.start();
  const st = r.miner.status();
  assert.is(st.fault, undefined);
  assert.is(r.miner.details().wattsField, 'WALLPOWER');
  assert.is(r.miner.details().model, 'Avalon Q');
  assert.ok(Math.abs(st.kw - 1.674) < 0.002, `kw ${st.kw}`);
  assert.ok(Math.abs(st.ths - r.sim.machine.ths) < 0.01, `ths ${st.ths}`);
  await r.miner.stop();
  await waitFor(() => r.sim.softOff, 'soft-off');
  await r.miner.refresh();
  assert.is(r.miner.status().state, 'stopping');
  await r.done();
});

test('close() stops every timer and socket; nothing is sent after it', async () => {
  const r = await rig({}, { timeoutMs: 5000 });
  await r.miner.start();
  r.sim.faults.delayMs.estats = 2000;
  const served = r.sim.requests.length;
  const poll = r.miner.refresh();
  await waitFor(() => r.sim.requests.length > served, 'a poll on the wire');
  await r.miner.close();
  await poll;
  assert.is(r.clock.live.length, 0, 'no timer left');
  await waitFor(() => r.sim.requests.at(-1)?.outcome === 'dropped', 'the socket on the wire closed, the miner dropped its request');
  const e = await rejection(r.miner.stop());
  assert.match(e.message, /closed/);
  await r.sim.close();
});

test.run();
