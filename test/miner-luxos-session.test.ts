import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HashflexError } from '../agent/errors';
import { rpcCall } from '../drivers/miner/rpc';
import { parseLogon } from '../drivers/miner/luxos/api';
import { POLL, rig, startSim } from './fixtures/luxos/rig';

/**
 * LuxOS's one expiring session against the simulated firmware over loopback TCP (127.24.2.x), on
 * virtual time: kept alive so that a trip never waits for a logon, replaced in the background
 * when the firmware forgets it, reported while another client holds it, and taken back by a stop
 * that finds none.
 */
const MIN = 60_000;
let next = 1;
const host = () => `127.24.2.${next++}`;

async function rejection(p: Promise<unknown>): Promise<HashflexError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, HashflexError);
    return e as HashflexError;
  }
  return assert.unreachable('resolved; expected a rejection') as never;
}

test('the simulated firmware holds one session at a time and ends it a minute after its last use', async () => {
  let now = Date.UTC(2026, 2, 1);
  const sim = await startSim({ host: host(), now: () => now, ports: { web: null } });
  const t = { host: sim.host, port: sim.ports.api, timeoutMs: 1000 };
  try {
    const first = parseLogon(await rpcCall(t, 'logon'));
    assert.ok(first.ok);
    const sid = first.ok ? first.sessionId : '';
    const second = await rpcCall(t, 'logon');
    assert.equal(parseLogon(second), { ok: false, busy: true, why: 'Another session is active' });
    assert.is(second.SESSION, undefined);
    const wrong = await rpcCall(t, 'curtail', 'nOtMiNe1,sleep');
    assert.is((wrong.STATUS as { STATUS: string }[])[0].STATUS, 'E');
    assert.not.ok(sim.curtailed);
    now += 50_000;
    await rpcCall(t, 'ledset', `${sid},red,off`);
    now += 50_000;
    assert.is(sim.liveSession(), sid, 'each use restarts its minute');
    now += 61_000;
    assert.is(sim.liveSession(), undefined, 'idle for over a minute: gone');
    assert.ok(parseLogon(await rpcCall(t, 'logon')).ok, 'and a new logon is free to take one');
  } finally {
    await sim.close();
  }
});

test('the session is kept alive: a stop ten minutes after start sends only its curtail, though the firmware ends a session idle for a minute', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.mark();
    await r.run(10 * MIN);
    // besides the polls and the profile list's re-read every 60 polls: keepalives, and nothing else
    const upkeep = r.since().filter((l) => l !== POLL && l !== 'profiles');
    assert.ok(upkeep.length >= 18 && upkeep.every((l) => l === 'ledset red,off'), `keepalives only: ${[...new Set(upkeep)].join(', ')}`);
    assert.is(r.sim.logons, 1, 'the session from start is still the one');
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['curtail sleep'], 'no logon between the stop and its acceptance');
    assert.is(r.sim.requests.at(-1)?.session, 'valid');
    assert.ok(r.sim.curtailed);
  } finally {
    await r.close();
  }
});

test('without its keepalives the session would be gone: the same idle spell ends it on the firmware', async () => {
  // the keepalive pushed past the firmware's minute: the session lapses between upkeeps
  const r = await rig(host(), {}, {}, { keepaliveMs: 3 * MIN });
  try {
    await r.miner.start();
    await r.run(2 * MIN);
    assert.is(r.sim.liveSession(), undefined);
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['curtail sleep (refused)', 'logon', 'curtail sleep'], 'the stop had to log on first: what the keepalive is for');
    assert.ok(r.sim.curtailed);
  } finally {
    await r.close();
  }
});

test('a session the firmware forgot (its API restarted) is replaced in the background, and status is clear again once it is', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.dropSessions();
    r.mark();
    await r.run(30_000);
    const seen = r.since().filter((l) => l !== POLL);
    assert.equal(seen, ['ledset red,off (refused)', 'logon', 'ledset red,off'].slice(0, seen.length));
    assert.ok(seen.includes('logon'));
    assert.is(r.sim.logons, 2);
    assert.is(r.miner.status().fault, undefined);
    assert.equal(r.miner.details().session.held, true);
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['curtail sleep']);
  } finally {
    await r.close();
  }
});

test('a session stolen by another client: status reports it while the other holds the session, and the driver logs on again once it is gone', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.stealSession();
    r.mark();
    await r.run(30_000);
    const seen = r.since().filter((l) => l !== POLL);
    assert.equal(seen.slice(0, 2), ['ledset red,off (refused)', 'logon']);
    const st = r.miner.status();
    assert.match(st.fault ?? '', /another client holds the miner's one session/);
    assert.is(st.state, 'hashing', 'the miner itself is fine');
    assert.equal(r.miner.details().session.held, false);
    // the other client goes quiet: its session lapses a minute later and the driver's next logon takes one
    await r.run(MIN + 15_000);
    assert.is(r.miner.status().fault, undefined);
    assert.equal(r.miner.details().session.held, true);
    assert.is(r.sim.logons, 3, 'start, the other client, and the driver again');
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['curtail sleep']);
  } finally {
    await r.close();
  }
});

test('a stop that finds no live session takes it from the client holding it, and the miner still stops', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    r.sim.stealSession();
    r.mark();
    await r.miner.stop();
    assert.equal(r.since(), ['curtail sleep (refused)', 'logon', 'kill', 'logon', 'curtail sleep']);
    assert.ok(r.sim.curtailed);
    assert.is(r.miner.details().session.takeovers, 1);
    assert.is(r.miner.status().fault, undefined);
  } finally {
    await r.close();
  }
});

test('set() never takes the session from another client: it rejects, saying who holds it, and changes nothing', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    const profile = r.sim.profile;
    r.sim.stealSession();
    r.mark();
    const e = await rejection(r.miner.set(3));
    assert.match(e.message, /Another session is active/);
    assert.equal(r.since().map((l) => l.replace(/ \S+MHz/, ' P')), ['profileset P (refused)', 'logon']);
    assert.is(r.sim.profile, profile);
    assert.match(r.miner.status().fault ?? '', /another client holds/);
  } finally {
    await r.close();
  }
});

test('close() logs off, so that the next client need not wait out the session\'s idle minute', async () => {
  const r = await rig(host());
  try {
    await r.miner.start();
    assert.ok(r.sim.liveSession());
    r.mark();
    await r.miner.close();
    assert.equal(r.since(), ['logoff']);
    assert.is(r.sim.liveSession(), undefined);
    assert.is(r.clock.pending, 0, 'no timer left running');
  } finally {
    await r.close();
  }
});

test.run();
