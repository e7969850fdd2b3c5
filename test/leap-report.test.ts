import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { runLeap } from '../agent/leap';
import { builtinScenario } from '../sim/scenarios/builtin';
import { loadScenarioFile } from '../sim/scenarios/file';
import { Recorder } from '../sim/report/recorder';
import { summarize } from '../sim/report/summary';
import { FIXTURES, readSummary, sim, tmp } from './fixtures/scenarios/run';

const dir = tmp();
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('Declared expectations pass and fail on what the run shows, and a failure exits 1', async () => {
  const report = path.join(dir, 'uf.html');
  const r = await sim(['--scenario', path.join(FIXTURES, 'uf-dip.csv'), '--speed', 'max', '--report', report]);
  assert.is(r.code, 1);
  const s = readSummary(report);
  const results = Object.fromEntries(s.expectations.map((x) => [x.expect, x.result]));
  assert.equal(results, {
    'trip within 250 ms of 59.7 Hz': 'pass',
    // sustain_ms is 100: the agent waits that long below 59.7 Hz before tripping
    'trip within 50 ms of 59.7 Hz': 'fail',
    'trip from underfrequency': 'pass',
    'no trip': 'fail',
    'state tripped at 22 s': 'pass',
    'miner import <= 1 %': 'pass',
  });
  assert.is(s.trips.length, 1);
  assert.is(s.trips[0].source, 'underfrequency');
  assert.ok(s.trips[0].from_signal_ms! > 50 && s.trips[0].from_signal_ms! <= 250);
  assert.is(s.pass, false);
});

test('A run cut short marks what it could not reach as "not reached", not failed', async () => {
  const report = path.join(dir, 'short.html');
  const r = await sim(['--scenario', 'ercot-ufr', '--speed', 'max', '--duration', '20', '--report', report]);
  const s = readSummary(report);
  assert.equal(s.expectations.map((x) => x.result), ['not reached', 'not reached', 'not reached']);
  assert.is(r.code, 0);
});

test('The same scenario and seed give the same summary; another seed gives another', async () => {
  const run = async (seed: number) => {
    const r = await runLeap({ scenario: builtinScenario('demo', seed)!, durationS: 70, chips: 100, record: true, config: { meter: { tcp: '127.0.0.1:1', poll_ms: 50, stale_ms: 1000 } } as never });
    return summarize(r.log!);
  };
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  assert.equal(a, b);
  assert.is(a.scenario.seed, 7);
  assert.is.not(a.energy.surplus_kwh, c.energy.surplus_kwh);
});

test('A scenario file with noise is reproducible from its seed', async () => {
  const run = async (seed?: number) => {
    const r = await runLeap({ scenario: loadScenarioFile(path.join(FIXTURES, 'uf-dip.csv'), seed), durationS: 30, record: true });
    return summarize(r.log!);
  };
  const a = await run();
  assert.equal(a, await run());
  assert.is(a.scenario.seed, 3);
  assert.is.not(JSON.stringify(a.energy), JSON.stringify((await run(4)).energy));
});

test('The recorder keeps memory bounded: a long run merges points but keeps energy exact', () => {
  const rec = new Recorder(10, 100, 0.1);
  for (let i = 1; i <= 200_000; i++) {
    const tS = i * 0.1;
    rec.add({ tS, gridKw: -1, minersKw: 4, generationKw: 6, loadKw: 1, hz: i === 100_000 ? 59.5 : 60, boards: [1, 0.5], state: i === 100_000 ? 'tripped' : 'running' }, 0.1);
  }
  rec.flush();
  assert.ok(rec.buckets.length < 200, `${rec.buckets.length} buckets`);
  assert.ok(Math.abs(rec.energy.usedKwh - (4 * 20_000) / 3600) < 1e-6);
  // a one-sample dip survives downsampling in the min band and the worst state
  assert.is(Math.min(...rec.buckets.map((b) => b.hz.min)), 59.5);
  assert.ok(rec.buckets.some((b) => b.state === 'tripped'));
  assert.is(rec.stateAt(10_000.05), 'tripped');
});

test('The JSON scenario runs its command and fault tracks in the time-leap rig', async () => {
  const r = await runLeap({ scenario: loadScenarioFile(path.join(FIXTURES, 'dispatch.json')), durationS: 95, record: true });
  const s = summarize(r.log!);
  assert.equal(s.commands.map((c) => [c.t_s, c.action, c.ok]), [[60, 'curtail', true], [80, 'release', true], [80, 'set_power', true]]);
  assert.equal(s.trips.map((t) => [t.source, t.from_signal_ms]), [['command', 0]]);
  assert.match(s.faults[0].seen.join(), /link hb0: \d+ resyncs/);
  assert.equal(s.expectations.map((x) => x.result), ['pass', 'pass', 'pass']);
});

test.run();
