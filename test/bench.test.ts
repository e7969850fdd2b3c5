import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeResults } from '../scripts/bench';
import { summarise } from '../scripts/bench/cpuprofile';
import { waiters, watchEnable } from '../scripts/bench/fleet';
import { evccPolicy, minimumKw, openemsPolicy } from '../scripts/bench/policies';
import { cpuPercent, parseMachineStat, parseStatTicks, parseStatus } from '../scripts/bench/proc';
import { stats } from '../scripts/bench/stats';
import { simBoard } from '../sim/hashboard';
import { hashflex } from './harness/cli';
import { needs } from './harness/peers';

// Correctness of the bench helpers only: no timings are asserted anywhere (DESIGN.md §6).

test('stats gives nearest-rank percentiles of unsorted samples', () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
  const s = stats(xs);
  assert.equal([s.n, s.p50, s.p99, s.max, s.mean], [100, 50, 99, 100, 50.5]);
  assert.equal(stats([7]).p99, 7);
});

test('parseStatus reads VmRSS and VmHWM in MB', () => {
  const text = 'Name:\tnode\nVmPeak:\t 999999 kB\nVmHWM:\t   92160 kB\nVmRSS:\t   81920 kB\nThreads:\t11\n';
  assert.equal(parseStatus(text), { rssMb: 80, hwmMb: 90 });
});

test('parseStatTicks adds utime and stime even when the command name holds spaces and parentheses', () => {
  // fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const text = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 123 45 0 0 20 0 11 0 100 0';
  assert.is(parseStatTicks(text), 168);
});

test('cpuPercent is CPU seconds over wall time, in percent of one core', () => {
  const a = { at: 0, rssMb: 0, hwmMb: 0, cpuS: 1 };
  const b = { at: 10_000, rssMb: 0, hwmMb: 0, cpuS: 1.5 };
  assert.is(cpuPercent(a, b), 5);
});

test('parseMachineStat counts all but idle and iowait as busy, over every core', () => {
  const text = 'cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\nintr 1 2 3\n';
  assert.equal(parseMachineStat(text), { busy: 170, total: 990 });
});

test('The OpenEMS-like policy sets the miners to the measured surplus, within 0 and the cap', () => {
  const p = openemsPolicy(10);
  assert.is(p.periodMs, 1000);
  assert.is(p.decide(0, -2, 3), 5); // exporting 2 kW while the miners draw 3: surplus 5
  assert.is(p.decide(0, 4, 1), 0);
  assert.is(p.decide(0, -30, 0), 10);
});

test('The evcc-like policy waits 1 min to enable and runs at minimum for 3 min before disabling', () => {
  const p = evccPolicy(10, 0.5);
  const s = 1000;
  assert.is(p.periodMs, 30_000);
  assert.is(p.decide(0, -2, 0), 0, 'surplus seen, not yet a minute');
  assert.is(p.decide(30 * s, -2, 0), 0);
  assert.is(p.decide(60 * s, -2, 0), 2, 'a minute of surplus: enabled, following');
  assert.is(p.decide(90 * s, 1, 0.5), 0.5, 'surplus gone: held at minimum');
  assert.is(p.decide(240 * s, 1, 0.5), 0.5, 'still inside the 3 min disable delay');
  assert.is(p.decide(270 * s, 1, 0.5), 0, 'three minutes short: disabled');
});

test('The evcc-like policy restarts its enable delay when the surplus drops out in between', () => {
  const p = evccPolicy(10, 0.5);
  const s = 1000;
  p.decide(0, -2, 0);
  p.decide(30 * s, 0, 0); // no surplus: timer reset
  assert.is(p.decide(60 * s, -2, 0), 0);
  assert.is(p.decide(120 * s, -2, 0), 2);
});

test('minimumKw is one board at its lowest frequency', () => {
  const b = (id: string, kw: number) => ({ id, source: `board:${id}`, min: 50, max: 485, step: 12.5, kwAt: (f: number) => (f === 50 ? kw : 9) });
  assert.is(minimumKw([b('a', 0.4), b('b', 0.3)]), 0.3);
});

test('watchEnable reports each change of a simulated board enable line once, and keeps its behaviour', () => {
  const board = simBoard('hb0', 'bm1366', 4);
  const seen: boolean[] = [];
  watchEnable(board, (on) => seen.push(on));
  board.enabled = false;
  board.enabled = false;
  board.enabled = true;
  assert.equal(seen, [false, true]);
  assert.is(board.enabled, true);
  board.active = true;
  board.mhz = 485;
  assert.ok(board.wattsPerChip(485) > 0);
});

test('writeResults merges into the file, keeping benches not run this time', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bench-test-'));
  try {
    const file = path.join(dir, 'bench', 'results.json');
    writeResults(file, { trip: { p99: 1 } });
    writeResults(file, { fleet: { p99: 2 } });
    writeResults(file, { fleet: { p99: 3 } });
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(doc.results, { trip: { p99: 1 }, fleet: { p99: 3 } });
    assert.is(typeof doc.machine.cpus, 'number');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('waiters resolve a condition when poked after it turns true, and time out with what they waited for', async () => {
  const w = waiters();
  let x = 0;
  const done = w.when(() => x === 2, 5000, 'x to be 2');
  x = 1;
  w.poke();
  x = 2;
  w.poke();
  await done;
  await w.when(() => true, 1, 'already true');
  try {
    await w.when(() => false, 5, () => 'never');
    assert.unreachable('should time out');
  } catch (e) {
    assert.match((e as Error).message, 'timed out waiting for never');
  }
});

test('summarise splits a CPU profile into idle, GC, program and JS self time by function and source', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-bench-test-'));
  try {
    const file = path.join(dir, 'x.cpuprofile');
    const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 9, columnNumber: 0, scriptId: '0' });
    fs.writeFileSync(file, JSON.stringify({
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 3, 4, 5] },
        { id: 2, callFrame: frame('(idle)') },
        { id: 3, callFrame: frame('(garbage collector)') },
        { id: 4, callFrame: frame('reply', `file://${process.cwd()}/sim/meter.ts`) },
        { id: 5, callFrame: frame('send', `file://${process.cwd()}/node_modules/ws/lib/sender.js`) },
      ],
      startTime: 0, endTime: 1_000_000,
      samples: [2, 2, 3, 4, 4, 4, 5],
      timeDeltas: [100_000, 400_000, 100_000, 100_000, 100_000, 100_000, 100_000],
    }));
    const s = summarise(file);
    assert.equal([s.wallS, s.idle, s.gc, s.js], [1, 50, 10, 40]);
    assert.equal(s.functions[0], { name: 'reply', where: 'sim/meter.ts:10', ms: 300, pct: 30 });
    assert.equal(s.sources.map((x) => x.source), ['sim/meter.ts', 'ws']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bench fleet --mqtt refuses at once, naming mosquitto, when the broker is not on the PATH', async () => {
  const p = hashflex(['bench', 'fleet', '--mqtt', '--json', '--agents', '1', '--iterations', '1'], { PATH: '' });
  assert.is(await p.exited, 1);
  assert.match(p.err(), 'mosquitto');
  assert.equal(JSON.parse(p.out()).results, {}, 'no half result: the WebSocket half did not run');
});

const statsShape = (s: { n: number; p50: number; p99: number; max: number; mean: number }, n: number, what: string) => {
  assert.is(s.n, n, `${what}: n`);
  for (const k of ['p50', 'p99', 'max', 'mean'] as const) assert.ok(Number.isFinite(s[k]) && s[k] >= 0, `${what}: ${k} = ${s[k]}`);
  assert.ok(s.p50 <= s.p99 && s.p99 <= s.max, `${what}: p50 ≤ p99 ≤ max`);
};

test('bench miners --json runs a small mixed site, one curtail, and reports every stop accepted at its miner (structure only)', async () => {
  const n = 30;
  // a polling window longer than the drivers' 5 s poll: every miner is polled in it at least once
  const p = hashflex(['bench', 'miners', '--json', '--miners', String(n), '--iterations', '1', '--seconds', '6', '--warmup', '0', '--sim-hosts', '2'], { HASHFLEX_LOG: 'error' });
  assert.is(await p.exited, 0, p.err());
  const r = JSON.parse(p.out()).results.miners;
  assert.equal([r.miners, r.iterations, r.simHosts, r.minerPollMs], [n, 1, 2, 5000]);
  // the families in equal shares, as many as this tree has (drivers and simulators both)
  const families = Object.keys(r.families);
  assert.ok(families.length >= 1 && families.every((f) => ['antminer', 'whatsminer', 'avalon', 'luxos', 'braiins', 'vnish'].includes(f)), families.join());
  for (const f of families) assert.ok(Math.abs(r.families[f] - n / families.length) < 1, `${f}: ${r.families[f]}`);
  assert.is(Object.values(r.kinds as Record<string, number>).reduce((a, b) => a + b, 0), n);
  // every miner's stop reached its API and was answered; the ack said so
  const c = r.curtail;
  assert.equal([c.stopsAccepted, c.stopsExpected, c.acksOk, c.ackErrors], [n, n, 1, []]);
  assert.equal(c.otherTrips, {}, 'no trip the bench did not ask for');
  statsShape(c.accepted, n, 'accepted');
  statsShape(c.arrived, n, 'arrived');
  statsShape(c.atMiner, n, 'at the miner');
  assert.ok(c.arrived.max <= c.accepted.max, 'a stop is answered after it arrives');
  statsShape(c.lastAccepted, 1, 'last accepted');
  assert.is(c.lastAccepted.max, c.accepted.max, 'the last of the site is the latest of all');
  statsShape(c.ack, 1, 'ack');
  statsShape(c.agent, 1, 'agent');
  assert.ok(c.settledMs.n <= 1);
  for (const f of families) statsShape(c.byFamily[f].accepted, r.families[f], `${f} accepted`);
  assert.ok(c.openFdsPeak > 0);
  statsShape(c.cpuMs.agent, 1, 'agent CPU');
  statsShape(c.cpuMs.simHosts, 1, 'miner hosts CPU');
  // the polling window: figures from /proc, requests answered by the simulated miners
  const w = r.polling;
  assert.ok(w.rssMb.steady > 0 && w.rssMb.peak >= w.rssMb.min, 'rss');
  assert.ok(w.cpuPercent.mean >= 0);
  assert.ok(w.requestsPerS > 0, 'the miners are polled (every 5 s: the 6 s window holds a round)');
  assert.ok(w.telemetryBytes > 0);
  assert.is(w.cpuPct.cores, os.cpus().length);
  assert.ok(r.metrics.lines > n, '/metrics has per-miner samples');
  assert.match(r.agent.source, /hashflex\.service/);
});

// the only bench smoke test that needs a broker: skipped where mosquitto is not on PATH (harness/peers)
const mqttTest = needs('mosquitto');
mqttTest('bench fleet --mqtt --json runs the same small fleet over WebSocket and MQTT and reports both (structure only)', async () => {
  const agents = 2, iterations = 1, boards = 4;
  const p = hashflex(['bench', 'fleet', '--mqtt', '--json', '--agents', String(agents), '--iterations', String(iterations), '--sim-hosts', '1'], { HASHFLEX_LOG: 'error' });
  const code = await p.exited;
  assert.is(code, 0, p.err());
  const doc = JSON.parse(p.out());
  assert.is(typeof doc.machine.cpus, 'number');
  const ws = doc.results.fleet;
  const mq = ws.mqtt;
  assert.is(ws.uplink, 'websocket');
  assert.is(mq.uplink, 'mqtt');
  assert.match(mq.broker, /^mosquitto/);
  for (const [r, what] of [[ws, 'ws'], [mq, 'mqtt']] as const) {
    assert.equal([r.agents, r.boardsPerAgent, r.iterations, r.simHosts, r.pollMs], [agents, boards, iterations, 1, 50], what);
    const c = r.curtail, rel = r.release;
    statsShape(c.ack, agents * iterations, `${what} curtail ack`);
    statsShape(c.lastAck, iterations, `${what} last ack`);
    statsShape(c.boardOff, agents * boards * iterations, `${what} board off`);
    statsShape(c.agentAllOff, agents * iterations, `${what} agent's last board off`);
    statsShape(c.lastBoardOff, iterations, `${what} last board off`);
    statsShape(c.agentReported, agents * iterations, `${what} agent reported`);
    statsShape(rel.ack, agents * iterations, `${what} release ack`);
    statsShape(rel.allPowered, iterations, `${what} all powered`);
    statsShape(rel.allFullClock, iterations, `${what} full clock`);
    // consistency, not speed: the last of a set is its max, and the ramp outlasts the power-up
    assert.is(c.lastBoardOff.max, c.boardOff.max, `${what}: last board off is the latest board off`);
    assert.is(c.lastAck.max, c.ack.max, `${what}: last ack is the latest ack`);
    assert.ok(rel.allFullClock.max >= rel.allPowered.max, `${what}: full clock after powered`);
    for (const d of [r.hostLoopDelayMs, r.simLoopDelayMs]) assert.ok(d.p50 <= d.p99 && d.p99 <= d.max, `${what}: loop delay order`);
    assert.is(r.cpuPct.cores, os.cpus().length);
    for (const k of ['machine', 'agents', 'simHosts', 'bench', 'other']) assert.ok(r.cpuPct[k] >= 0, `${what}: cpuPct.${k} = ${r.cpuPct[k]}`);
    assert.is(typeof r.cpuPct.broker, what === 'mqtt' ? 'number' : 'undefined');
  }
});

test.run();
