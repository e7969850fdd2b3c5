import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { Uplink } from '../agent/uplink/client';
import { Journal } from '../agent/uplink/journal';
import type { Command } from '../agent/uplink/protocol';
import { startSimController, type SimController } from '../sim/controller';
import { body, rmDir, tmpDir, until, waitFor } from './fixtures/uplink/util';

const TOKEN = 'site-secret-1';

interface Rig { ctl: SimController; up: Uplink; journal: Journal; dir: string; clock: VirtualClock }

async function rig(over: { token?: string; commandRate?: number; cutAfter?: number; maxPayload?: number } = {}): Promise<Rig> {
  const ctl = await startSimController({ token: TOKEN });
  const dir = tmpDir('uplink');
  const journal = Journal.open({ dir });
  const clock = new VirtualClock();
  const up = new Uplink(
    { url: ctl.url, token: over.token ?? TOKEN, agentId: 'board-17', version: '0.1.0', bootId: '6f1c2b9e-0000-4000-8000-000000000001',
      journal, commandRate: over.commandRate, cutAfter: over.cutAfter, maxPayload: over.maxPayload, random: () => 0.5 },
    clock,
  );
  return { ctl, up, journal, dir, clock };
}

async function teardown(r: Rig): Promise<void> {
  await r.up.stop();
  await r.ctl.close();
  r.journal.close();
  rmDir(r.dir);
}

test('The agent says hello first, then its telemetry reaches the controller in seq order and is deleted once received', async () => {
  const r = await rig();
  try {
    const hello = waitFor(r.ctl, 'hello');
    r.up.start();
    const [h] = await hello;
    assert.equal(h, { type: 'hello', v: 1, agent: 'board-17', version: '0.1.0', boot: '6f1c2b9e-0000-4000-8000-000000000001' });
    for (let i = 0; i < 5; i++) r.up.telemetry(body(i));
    await until(() => r.ctl.agents.get('board-17')!.stored.length === 5 && r.journal.stats().frames === 0);
    const rec = r.ctl.agents.get('board-17')!;
    assert.equal(rec.stored, [1, 2, 3, 4, 5]);
    assert.equal(rec.arrivals[0], -1, 'hello came first');
    assert.equal(r.ctl.latest('board-17')!.grid, body(4).grid);
    assert.ok(typeof r.ctl.latest()!.ts === 'string');
  } finally {
    await teardown(r);
  }
});

test('A curtail command is handed to the agent and its ack reaches the controller after the action', async () => {
  const r = await rig();
  try {
    const seen: Command[] = [];
    r.up.on('command', (cmd: Command) => {
      seen.push(cmd);
      r.up.event({ kind: 'trip', source: 'command', latency_ms: 3.2 });
      r.up.ack(cmd.id, true);
    });
    r.up.start();
    await waitFor(r.ctl, 'hello');
    const ack = await r.ctl.command('board-17', 'curtail');
    assert.equal(ack.ok, true);
    assert.equal(seen.map((c) => c.action), ['curtail']);
    await until(() => r.ctl.agents.get('board-17')!.events.length === 1);
    assert.equal(r.ctl.agents.get('board-17')!.events[0].kind, 'trip');
    const sp = await r.ctl.command('board-17', 'set_power', { kw: 4.5, ttl_s: 60 });
    assert.equal(sp.ok, true);
    assert.equal(seen[1], { type: 'command', id: sp.id, action: 'set_power', kw: 4.5, ttl_s: 60 });
  } finally {
    await teardown(r);
  }
});

test('Malformed, unknown and out-of-range commands get ack ok:false and are never handed to the agent', async () => {
  const r = await rig();
  try {
    const seen: Command[] = [];
    r.up.on('command', (cmd: Command) => seen.push(cmd));
    r.up.start();
    await waitFor(r.ctl, 'hello');
    const bad = [
      { type: 'command', id: 'a', action: 'explode' },
      { type: 'command', id: 'b', action: 'set_power', kw: -1, ttl_s: 10 },
      { type: 'command', id: 'c', action: 'set_power', kw: 5 },
      { type: 'command', id: 'd', action: 'set_power', kw: 5, ttl_s: 0 },
      { type: 'command', id: 'e', action: 'set_power', kw: '5', ttl_s: 10 },
      { type: 'reboot', id: 'f' },
      { type: 'command', action: 'curtail' },
    ];
    for (const b of bad) r.ctl.sendRaw('board-17', JSON.stringify(b));
    r.ctl.sendRaw('board-17', '{not json');
    r.ctl.sendRaw('board-17', Buffer.from([0xde, 0xad]));
    const rec = r.ctl.agents.get('board-17')!;
    await until(() => rec.acks.length === bad.length + 2);
    assert.equal(rec.acks.map((a) => a.id), ['a', 'b', 'c', 'd', 'e', 'f', '', '', '']);
    assert.ok(rec.acks.every((a) => a.ok === false && typeof a.error === 'string' && a.error.length > 0));
    assert.equal(seen, []);
    assert.equal(r.up.stats.rejected, bad.length + 2);
    assert.ok(r.up.connected, 'bad input does not cost the link');
  } finally {
    await teardown(r);
  }
});

test('A command handler that throws is answered with ack ok:false and the link stays up', async () => {
  const r = await rig();
  try {
    r.up.on('command', () => { throw new Error('board bus busy'); });
    r.up.start();
    await waitFor(r.ctl, 'hello');
    const ack = await r.ctl.command('board-17', 'release');
    assert.is(ack.ok, false);
    assert.match(ack.error!, /board bus busy/);
    assert.ok(r.up.connected);
  } finally {
    await teardown(r);
  }
});

test('A broadcast curtail reaches every connected agent and resolves with each ack', async () => {
  const ctl = await startSimController({ token: TOKEN });
  const dirs: string[] = [];
  const agents: Array<{ up: Uplink; journal: Journal }> = [];
  try {
    for (let i = 0; i < 4; i++) {
      const dir = tmpDir('fleet');
      dirs.push(dir);
      const journal = Journal.open({ dir });
      const up = new Uplink({ url: ctl.url, token: TOKEN, agentId: `site-${i}`, version: '0.1.0', bootId: `b${i}`, journal }, new VirtualClock());
      up.on('command', (cmd: Command) => up.ack(cmd.id, true));
      agents.push({ up, journal });
      up.start();
    }
    await until(() => [...ctl.agents.values()].filter((a) => a.connected).length === 4);
    const acks = await ctl.command('*', 'curtail');
    assert.is(acks.length, 4);
    assert.ok(acks.every((a) => a.ok));
    assert.equal([...ctl.agents.values()].map((a) => a.acks.length), [1, 1, 1, 1]);
  } finally {
    for (const a of agents) { await a.up.stop(); a.journal.close(); }
    await ctl.close();
    dirs.forEach(rmDir);
  }
});

test('A bad token is refused with 401 and the uplink retries with growing backoff', async () => {
  const r = await rig({ token: 'wrong' });
  try {
    const fails: number[] = [];
    r.up.on('auth_failed', (s: number) => fails.push(s));
    r.up.start();
    await waitFor(r.up, 'auth_failed');
    // first retry after 500 ms * (0.5 + 0.5 * 0.5) = 375 ms; nothing before it
    r.clock.advance(374);
    assert.equal(fails.length, 1);
    r.clock.advance(1);
    await waitFor(r.up, 'auth_failed');
    // the second step is twice as long: 750 ms
    r.clock.advance(749);
    assert.equal(fails.length, 2);
    r.clock.advance(1);
    await waitFor(r.up, 'auth_failed');
    assert.equal(fails, [401, 401, 401]);
    assert.equal(r.ctl.agents.size, 0, 'no frame ever reached the controller');
    assert.not.ok(r.up.connected);
  } finally {
    await teardown(r);
  }
});

test('The controller goes away for a while and every seq arrives afterwards exactly in order', async () => {
  const r = await rig();
  const port = r.ctl.port;
  try {
    r.up.start();
    await waitFor(r.ctl, 'hello');
    for (let i = 0; i < 20; i++) r.up.telemetry(body(i));
    await until(() => r.ctl.agents.get('board-17')!.stored.length === 20);
    const gone = waitFor(r.up, 'disconnected');
    await r.ctl.close();
    await gone;
    // the site keeps reporting while the controller is away: 1000 frames (several resend
    // batches) and a trip event
    for (let i = 20; i < 1020; i++) {
      if (i === 150) r.up.event({ kind: 'trip', source: 'underfrequency', latency_ms: 4.1 });
      else r.up.telemetry(body(i));
    }
    // a few reconnect attempts fail while nobody listens
    for (let k = 0; k < 3; k++) {
      r.clock.advance(60_000);
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.not.ok(r.up.connected);
    r.ctl = await startSimController({ token: TOKEN, port });
    const back = waitFor(r.ctl, 'hello');
    r.clock.advance(60_000);
    await back;
    await until(() => (r.ctl.agents.get('board-17')?.lastSeq ?? 0) === 1020);
    const rec = r.ctl.agents.get('board-17')!;
    // the new controller sees everything the journal still held (1..20 may or may not be confirmed yet)
    const first = rec.stored[0];
    assert.ok(first <= 21);
    assert.equal(rec.stored, Array.from({ length: 1020 - first + 1 }, (_, i) => first + i));
    assert.equal(rec.duplicates, 0);
    assert.equal(rec.events.map((e) => e.seq), [151]);
    await until(() => r.journal.stats().frames === 0);
  } finally {
    await teardown(r);
  }
});

test('An oversized frame from the controller closes the link, and the uplink comes back', async () => {
  const r = await rig({ maxPayload: 1024 });
  try {
    r.up.start();
    await waitFor(r.ctl, 'hello');
    const gone = waitFor(r.up, 'disconnected');
    r.ctl.sendRaw('board-17', JSON.stringify({ type: 'command', id: 'x', action: 'curtail', pad: 'x'.repeat(4096) }));
    await gone;
    assert.equal(r.up.stats.oversized, 1);
    const back = waitFor(r.ctl, 'hello');
    r.clock.advance(1000);
    await back;
    assert.ok(r.up.connected);
  } finally {
    await teardown(r);
  }
});

test('A command flood is dropped beyond the rate and then cut off, while curtail still gets through', async () => {
  const r = await rig({ commandRate: 2, cutAfter: 50 });
  try {
    const seen: string[] = [];
    r.up.on('command', (cmd: Command) => { seen.push(cmd.action); r.up.ack(cmd.id, true); });
    r.up.start();
    await waitFor(r.ctl, 'hello');
    for (let i = 0; i < 20; i++) r.ctl.sendRaw('board-17', JSON.stringify({ type: 'command', id: `r${i}`, action: 'release' }));
    const ack = await r.ctl.command('board-17', 'curtail');
    assert.equal(ack.ok, true, 'curtail is honoured in the middle of a flood');
    assert.equal(seen.filter((a) => a === 'release').length, 10, 'burst of 5 s x 2/s');
    assert.equal(r.up.stats.floodDropped, 10);
    const gone = waitFor(r.up, 'disconnected');
    for (let i = 0; i < 60; i++) r.ctl.sendRaw('board-17', JSON.stringify({ type: 'command', id: `s${i}`, action: 'release' }));
    const [info] = await gone;
    assert.equal((info as { code: number }).code, 1008);
    assert.equal(r.up.stats.floodCuts, 1);
  } finally {
    await teardown(r);
  }
});

test('A link whose pongs stop is dropped after one ping period and retried', async () => {
  const r = await rig();
  try {
    r.up.start();
    await waitFor(r.ctl, 'hello');
    const gone = waitFor(r.up, 'disconnected');
    // two ping periods with no I/O turn in between: the first pong cannot have come back
    r.clock.advance(15_000);
    r.clock.advance(15_000);
    await gone;
    assert.not.ok(r.up.connected);
    const back = waitFor(r.ctl, 'hello', () => true);
    r.clock.advance(1000);
    await back;
    // a link that answers is kept: pongs arrive between the periods
    const pongs = r.up.stats.pongs;
    for (let k = 1; k <= 3; k++) {
      r.clock.advance(15_000);
      await until(() => r.up.stats.pongs === pongs + k);
    }
    assert.ok(r.up.connected);
  } finally {
    await teardown(r);
  }
});

test.run();
