import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import type { MeterSample } from '../agent/hardware';
import { ledgerCommand } from '../agent/ledger/command';
import { CSV_COLUMNS } from '../agent/ledger/export';
import { publicKeyText, readKey } from '../agent/ledger/keys';
import { Ledger } from '../agent/ledger/ledger';
import { sealRecord, type LedgerRecord, type RecordBody } from '../agent/ledger/record';
import { verifyLedgerFile } from '../agent/ledger/verify';
import { wireLedger } from '../agent/ledger/wire';
import { captureIo, lines, T0, tmpdir, writeLines } from './fixtures/ledger/rig';

/**
 * Wall-clock steps (NTP after a cold boot, an RTC corrected, `date -s`) against the ledger:
 * energy is integrated on the monotonic clock, so the signed figures stay what really
 * happened, and every record a step touches declares it in `clock_step_ms`.
 */
const near = (a: number, b: number, eps = 1e-5) => assert.ok(Math.abs(a - b) <= eps, `${a} is not within ${eps} of ${b}`);
const records = (file: string) => lines(file).map((l) => JSON.parse(l) as LedgerRecord);

interface Run {
  dir: string;
  ledger: Ledger;
  recs: LedgerRecord[];
  exportKwh: number;
}

/**
 * One real hour of a site whose miners draw 10 kW while it still exports 2 kW (so 12 kWh of
 * surplus), wired as the agent wires it: meter samples at 1 Hz carrying their monotonic stamp.
 * `steps` are [real seconds from the start, wall-clock step in ms].
 */
async function hour(steps: [number, number][], intervalMs = 60_000): Promise<Run> {
  const dir = tmpdir();
  const clock = new VirtualClock(T0);
  const ledger = new Ledger({ dir, meterId: 'm', intervalMs }, clock);
  await ledger.start();
  const meter = new EventEmitter();
  const detach = wireLedger(ledger, { meter, clock, minersKw: () => 10 });
  let exp = 100;
  const sample = (): void => {
    const s: MeterSample = { at: clock.now(), mono: clock.monotonic(), hz: 60, kw: -2, importKwh: 50, exportKwh: exp };
    meter.emit('sample', s);
  };
  sample();
  const poll = clock.setInterval(() => {
    exp += 2 / 3600;
    sample();
  }, 1000);
  let done = 0;
  for (const [atS, ms] of steps) {
    clock.advance(atS * 1000 - done);
    done = atS * 1000;
    clock.stepWall(ms);
  }
  clock.advance(3_600_000 - done);
  poll.cancel();
  detach();
  await ledger.stop();
  return { dir, ledger, recs: records(ledger.file), exportKwh: exp - 100 };
}

function checkHour(r: Run, stepMs: number): void {
  const v = verifyLedgerFile(r.ledger.file, r.ledger.publicKey);
  assert.ok(v.ok, v.broken?.reason);
  near(v.totals.miner_kwh, 10, 1e-4);
  near(v.totals.export_kwh, r.exportKwh, 1e-4); // each record rounds to 1 mWh
  near(v.totals.surplus_kwh, 12, 1e-4);
  assert.is(v.totals.miner_grid_kwh, 0);
  // the declarations (and a declared gap) add up to the step: wall time labelled minus real time that passed
  near(v.totals.clock_step_s + v.totals.gap_s, stepMs / 1000, 0.001);
  const realS = r.recs.reduce((a, x) => a + (Date.parse(x.end) - Date.parse(x.start) - (x.clock_step_ms ?? 0)) / 1000, 0);
  near(realS, 3600, 0.01);
  // no record holds more energy than its real time allows
  for (const x of r.recs) {
    const real = (Date.parse(x.end) - Date.parse(x.start) - (x.clock_step_ms ?? 0)) / 3_600_000;
    assert.ok(x.miner_kwh <= 10 * real + 1e-6, `seq ${x.seq}: ${x.miner_kwh} kWh in ${real * 3600} s`);
  }
}

test('A wall clock stepped 9 minutes ahead adds no miner energy or surplus, and the skipped intervals declare the step', async () => {
  const r = await hour([[1830.5, 9 * 60_000]]);
  checkHour(r, 9 * 60_000);
  assert.is(r.recs.length, 70, '60 real minutes, labelled as 69 wall-clock minutes, and the stop');
  const declared = r.recs.filter((x) => x.clock_step_ms !== undefined);
  // the step is placed at the last reading before it (30:30): the minute open then (30 s lived),
  // the 8 it skipped (none), and the one it landed in at 39:30 (30 s)
  assert.equal(declared.map((x) => x.clock_step_ms), [30_000, ...Array(8).fill(60_000), 30_000]);
  assert.equal(declared.map((x) => x.start), [...Array(10).keys()].map((i) => new Date(T0 + (30 + i) * 60_000).toISOString()));
  assert.equal(declared.slice(1, 9).map((x) => x.miner_kwh), Array(8).fill(0), 'no time lived in the skipped minutes');
  const ev = r.recs.flatMap((x) => x.events).filter((e) => e.kind === 'clock-step');
  assert.equal(ev, [{ at: new Date(T0 + 1_830_000).toISOString(), kind: 'clock-step', step_ms: 540_000, to: new Date(T0 + 2_370_000).toISOString() }]);
  fs.rmSync(r.dir, { recursive: true });
});

test('A wall clock stepped 9 minutes back loses no energy: the open record holds the real time and declares it', async () => {
  const r = await hour([[1800.5, -9 * 60_000]]);
  checkHour(r, -9 * 60_000);
  assert.is(r.recs.length, 52, 'records never overlap: nothing is closed until the clock is back past the open one');
  const declared = r.recs.filter((x) => x.clock_step_ms !== undefined);
  assert.equal(declared.map((x) => [x.start, x.clock_step_ms]), [[new Date(T0 + 1_800_000).toISOString(), -540_000]]);
  near(declared[0].miner_kwh, (10 * 600) / 3600, 1e-5);
  fs.rmSync(r.dir, { recursive: true });
});

test('A step inside one interval is declared by that record alone; jitter within a second is not a step', async () => {
  const r = await hour([[610, 20_000], [1210, 400], [1211, -400]]);
  checkHour(r, 20_000);
  const declared = r.recs.filter((x) => x.clock_step_ms !== undefined);
  assert.equal(declared.map((x) => [x.start, x.clock_step_ms]), [[new Date(T0 + 600_000).toISOString(), 20_000]]);
  near(declared[0].miner_kwh, (10 * 40) / 3600, 1e-5);
  fs.rmSync(r.dir, { recursive: true });
});

test('A step far ahead is still one declared gap, and the record after it holds only real time', async () => {
  const r = await hour([[1830.5, 86_400_000]]);
  checkHour(r, 86_400_000);
  const g = r.recs.find((x) => x.gap)!;
  assert.equal([g.gap!.reason, g.gap!.from, g.gap!.to], ['clock-jump', new Date(T0 + 1_830_000).toISOString(), new Date(T0 + 86_400_000 + 1_800_000).toISOString()]);
  assert.is(g.clock_step_ms, 30_000, 'the record after the gap starts on its boundary but lived only from 30:30');
  const v = verifyLedgerFile(r.ledger.file, r.ledger.publicKey);
  assert.is(v.totals.gaps, 1);
  fs.rmSync(r.dir, { recursive: true });
});

test('Two steps, ahead then back, in one run: every figure still comes from real time', async () => {
  const r = await hour([[900.5, 5 * 60_000], [2700.25, -7 * 60_000]]);
  checkHour(r, -2 * 60_000);
  const v = verifyLedgerFile(r.ledger.file, r.ledger.publicKey);
  assert.is(v.totals.clock_steps, 2);
  fs.rmSync(r.dir, { recursive: true });
});

test('verify and export show declared clock steps; the Python verifier accepts them; an overstated step fails', async () => {
  const r = await hour([[1830.5, 9 * 60_000]]);
  const key = publicKeyText(r.ledger.publicKey);
  const io = captureIo();
  assert.is(await ledgerCommand(['verify', r.ledger.file, '--key', key], io), 0, io.stderr);
  assert.match(io.stdout, /clock steps +1 \(10 records declare one, net \+540 s of wall time against real time\)/);
  const prefix = path.join(r.dir, 'out');
  assert.is(await ledgerCommand(['export', '--file', r.ledger.file, '--key', key, '--out', prefix], captureIo()), 0);
  const csv = fs.readFileSync(`${prefix}.csv`, 'utf8').trim().split('\n').map((l) => l.split(','));
  const col = CSV_COLUMNS.indexOf('clock_step_ms');
  assert.ok(col >= 0);
  assert.equal(csv.slice(31, 41).map((row) => Number(row[col])), [30_000, ...Array(8).fill(60_000), 30_000]);
  assert.is(csv[1][col], '0');
  const doc = JSON.parse(fs.readFileSync(`${prefix}.json`, 'utf8')) as { totals: { clock_step_s: number; clock_steps: number } };
  assert.equal([doc.totals.clock_steps, doc.totals.clock_step_s], [1, 540]);

  // a record that claims more step than its length (more wall time without real time than it has)
  const ls = lines(r.ledger.file);
  const i = 35;
  const board = readKey(r.dir)!.privateKey;
  const forged: string[] = ls.slice(0, i);
  let prev = (JSON.parse(ls[i - 1]) as LedgerRecord).hash;
  for (let j = i; j < ls.length; j++) {
    const { hash: _h, sig: _s, ...body } = JSON.parse(ls[j]) as LedgerRecord;
    (body as RecordBody).prev = prev;
    if (j === i) body.clock_step_ms = 61_000;
    const sealed = sealRecord(body, board);
    forged.push(sealed.line.slice(0, -1));
    prev = sealed.record.hash;
  }
  const bad = path.join(r.dir, 'forged.jsonl');
  writeLines(bad, forged);
  const v = verifyLedgerFile(bad, r.ledger.publicKey);
  assert.is(v.ok, false);
  assert.equal(v.broken, { line: i + 1, seq: i, reason: 'declares a clock step of 61000 ms, more than its 60000 ms length' });

  const script = path.join(__dirname, '..', 'agent', 'ledger', 'verify_ledger.py');
  if (spawnSync('python3', ['-c', 'import cryptography'], { encoding: 'utf8' }).status !== 0) {
    console.log('  (python3 with cryptography not found: the independent verifier was not run)');
  } else {
    const good = spawnSync('python3', [script, r.ledger.file, key], { encoding: 'utf8', timeout: 20_000 });
    assert.is(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /70 records intact; clock steps declared: seq 30 \+30000 ms, seq 31 \+60000 ms/);
    const py = spawnSync('python3', [script, bad, key], { encoding: 'utf8', timeout: 20_000 });
    assert.is(py.status, 1);
    assert.match(py.stdout, new RegExp(`line ${i + 1}: declares a clock step longer than the record`));
  }
  fs.rmSync(r.dir, { recursive: true });
});

test('A restart with the clock behind the last record starts after it and declares the difference', async () => {
  const dir = tmpdir();
  const clock = new VirtualClock(T0);
  const one = new Ledger({ dir, meterId: 'm' }, clock);
  await one.start();
  one.miners(clock.now(), 6);
  clock.advance(120_000);
  await one.stop();
  clock.stepWall(-30_000); // the board restarts with its RTC half a minute behind
  const two = new Ledger({ dir, meterId: 'm' }, clock);
  await two.start();
  two.miners(clock.now(), 6);
  clock.advance(120_000);
  await two.stop();
  const recs = records(one.file);
  const first = recs[2];
  assert.is(first.start, new Date(T0 + 120_000).toISOString(), 'never before the last record ended');
  assert.is(first.clock_step_ms, -30_000);
  near(first.miner_kwh, (6 * 90) / 3600, 1e-6);
  const v = verifyLedgerFile(one.file, one.publicKey);
  assert.ok(v.ok, v.broken?.reason);
  near(v.totals.miner_kwh, (6 * 240) / 3600, 1e-6);
  fs.rmSync(dir, { recursive: true });
});

test.run();
