import http from 'node:http';
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { ErrorCode, isHashflexError, type HashflexError } from '../agent/errors';
import { AntminerMiner } from '../drivers/miner/antminer';
import { serveRpc } from '../sim/miners/rpc-server';
import type { SimAntminer } from '../sim/miners/antminer';
import { STOCK_SPEC } from '../sim/miners/machine';
import { driverFor, startSim } from './fixtures/antminer/rig';

/**
 * What a stock Antminer (or something else on its address) can do wrong, against the real
 * driver over loopback (127.20.2.x): garbage, truncated replies, a reply cut by a reset, a miner
 * that hangs, one that is off the LAN, and rogue hosts. Each is a clear fault in status(), a
 * stop that rejects with why, never a crash, and polling recovers once the fault goes.
 */
interface Ctx { clock: VirtualClock; sim: SimAntminer; miner: AntminerMiner }
let next = 1;
async function rig(): Promise<Ctx> {
  const clock = new VirtualClock();
  const sim = await startSim({ host: `127.20.2.${next++}` });
  const miner = driverFor(sim, clock, { pollMs: 3_600_000, timeoutMs: 300 }, { confirmMs: 3_600_000, confEveryPolls: 1 });
  await miner.start();
  assert.is(miner.status().fault, undefined);
  return { clock, sim, miner };
}
async function done(c: Ctx): Promise<void> {
  await c.miner.close();
  assert.is(c.clock.pending, 0, 'close() leaves no timer');
  await c.sim.close();
}
const rejection = (p: Promise<unknown>) => p.then(() => { throw new Error('resolved'); }, (e: unknown) => e as HashflexError);

interface Case {
  what: string;
  on: (sim: SimAntminer) => void;
  off: (sim: SimAntminer) => void;
  fault: RegExp;
  state: string;
  /** the stop's rejection */
  stop: (e: HashflexError) => boolean;
  counter: 'timeouts' | 'exceptions';
}

const cases: Case[] = [
  { what: 'answers garbage', on: (s) => { s.machine.faults.garbage = true; }, off: (s) => { s.machine.faults.garbage = false; }, fault: /not a JSON object reply/, state: 'unknown', stop: (e) => isHashflexError(e, ErrorCode.DeviceFault), counter: 'exceptions' },
  { what: 'sends truncated replies', on: (s) => { s.faults.truncate = true; }, off: (s) => { s.faults.truncate = false; }, fault: /not a JSON object reply/, state: 'unknown', stop: (e) => isHashflexError(e) && e.disconnected, counter: 'exceptions' },
  { what: 'closes the connection mid-reply', on: (s) => { s.faults.closeMid = true; }, off: (s) => { s.faults.closeMid = false; }, fault: /closed mid-reply/, state: 'unknown', stop: (e) => isHashflexError(e) && e.disconnected, counter: 'exceptions' },
  { what: 'hangs', on: (s) => { s.machine.faults.hang = true; }, off: (s) => { s.machine.faults.hang = false; }, fault: /no complete reply in 300 ms/, state: 'unreachable', stop: (e) => isHashflexError(e, ErrorCode.TransportTimeout) && e.timeout, counter: 'timeouts' },
  { what: 'is off the LAN', on: (s) => { s.machine.faults.down = true; }, off: (s) => { s.machine.faults.down = false; }, fault: /ECONNRESET|ECONNREFUSED/, state: 'unreachable', stop: (e) => isHashflexError(e) && e.disconnected, counter: 'exceptions' },
];

const s = suite('antminer faults');

for (const c of cases) {
  s(`When the miner ${c.what}: a clear fault, a stop that rejects with why, and recovery once it stops`, async () => {
    const x = await rig();
    try {
      const before = x.miner.status().counters[c.counter];
      c.on(x.sim);
      await x.miner.refresh();
      const st = x.miner.status();
      assert.match(st.fault ?? '', c.fault);
      assert.is(st.state, c.state);
      assert.ok(Number.isNaN(st.ths));
      assert.ok(st.counters[c.counter] > before, `${c.counter} counted`);
      const e = await rejection(x.miner.stop());
      assert.ok(c.stop(e), `${e.code} ${e.message}`);
      assert.match(e.message, /stop not accepted/);
      c.off(x.sim);
      await x.miner.refresh();
      const ok = x.miner.status();
      assert.is(ok.fault, undefined);
      assert.ok(Math.abs(ok.ths - STOCK_SPEC.ratedThs) < 2, `ths ${ok.ths}`);
      await x.miner.stop();
      assert.is(x.sim.mode, 1);
    } finally {
      await done(x);
    }
  });
}

s('A miner that comes back after being unreachable counts a reconnect', async () => {
  const x = await rig();
  try {
    x.sim.machine.faults.down = true;
    await x.miner.refresh();
    x.sim.machine.faults.down = false;
    await x.miner.refresh();
    assert.is(x.miner.status().counters.reconnects, 1);
  } finally {
    await done(x);
  }
});

s('Polling runs by itself, backs off while the miner is down, and close() stops it', async () => {
  const clock = new VirtualClock();
  const sim = await startSim({ host: `127.20.2.${next++}` });
  const miner = driverFor(sim, clock, { pollMs: 1000, timeoutMs: 300 });
  try {
    await miner.start();
    sim.machine.faults.down = true;
    const requests = () => miner.status().counters.requests;
    const r0 = requests();
    clock.advance(1000);
    assert.is(requests(), r0 + 1, 'the poll at 1 s');
    await until(() => miner.status().fault !== undefined && clock.pending === 1);
    assert.is(miner.status().state, 'unreachable');
    clock.advance(1000);
    assert.is(requests(), r0 + 1, 'backing off: no poll 1 s after a failed one');
    clock.advance(1000);
    assert.is(requests(), r0 + 2, 'the next comes 2 s after it');
  } finally {
    await miner.close();
    assert.is(clock.pending, 0);
    await sim.close();
  }
});

const rogue = suite('antminer rogue hosts');

rogue('A host with some other service on 4028 and 80 is a fault; a stop rejects and nothing is written to it', async () => {
  const host = '127.20.2.210';
  const posts: string[] = [];
  const banner = net.createServer((sock) => { sock.on('error', () => {}); sock.resume(); sock.end('SSH-2.0-OpenSSH_9.6\r\n'); });
  await new Promise<void>((r) => banner.listen(4028, host, r));
  const page = http.createServer((req, res) => {
    if (req.method === 'POST') posts.push(req.url ?? '');
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<html><title>Router</title></html>');
  });
  await new Promise<void>((r) => page.listen(80, host, r));
  const clock = new VirtualClock();
  const miner = new AntminerMiner({ id: 'rogue', host, driver: 'antminer', ports: {}, pollMs: 3_600_000, timeoutMs: 300 }, clock);
  try {
    await miner.start();
    const st = miner.status();
    assert.match(st.fault ?? '', /api: .*not a JSON object reply/);
    assert.is(st.state, 'unknown');
    const e = await rejection(miner.stop());
    assert.match(e.message, /get_miner_conf: not JSON/);
    assert.equal(posts, []);
  } finally {
    await miner.close();
    await closeServer(banner);
    await closeServer(page);
  }
});

rogue('A host whose 4028 says it runs other firmware gets no command at all, however willing its web server', async () => {
  const host = '127.20.2.211';
  const requests: string[] = [];
  const api = await serveRpc(host, 4028, () => JSON.stringify({ STATUS: [{ STATUS: 'S', Msg: 'BTMiner versions', Description: 'btminer' }], VERSION: [{ BTMiner: '2.0.4', API: '2.0.4', Type: 'M30S+' }], id: 1 }));
  const web = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ stats: 'success', code: 'M000', pools: [] }));
  });
  await new Promise<void>((r) => web.listen(80, host, r));
  const clock = new VirtualClock();
  const miner = new AntminerMiner({ id: 'not-mine', host, driver: 'antminer', ports: {}, pollMs: 3_600_000, timeoutMs: 300 }, clock);
  try {
    await miner.start();
    assert.match(miner.status().fault ?? '', /not stock Antminer firmware/);
    const e = await rejection(miner.stop());
    assert.ok(isHashflexError(e, ErrorCode.DeviceFault));
    await rejection(miner.set(2));
    assert.ok(requests.every((r) => r.startsWith('GET ')), requests.join(', '));
  } finally {
    await miner.close();
    await api.close();
    await closeServer(web);
  }
});

/** close a test server without waiting on a connection a client left half-open */
async function closeServer(server: net.Server): Promise<void> {
  (server as http.Server).closeAllConnections?.();
  await new Promise<void>((r) => server.close(() => r()));
}

async function until(cond: () => boolean, turns = 400): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not reached');
}

s.run();
rogue.run();
