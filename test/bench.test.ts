import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeResults } from '../scripts/bench';
import { watchEnable } from '../scripts/bench/fleet';
import { evccPolicy, minimumKw, openemsPolicy } from '../scripts/bench/policies';
import { cpuPercent, parseStatTicks, parseStatus } from '../scripts/bench/proc';
import { stats } from '../scripts/bench/stats';
import { simBoard } from '../sim/hashboard';

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
  const b = (id: string, kw: number) => ({ id, minMhz: 50, maxMhz: 485, stepMhz: 12.5, kwAt: (f: number) => (f === 50 ? kw : 9) });
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

test.run();
