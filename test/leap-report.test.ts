import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { runLeap } from '../agent/leap';
import { builtinScenario } from '../sim/scenarios/builtin';
import { loadScenarioFile } from '../sim/scenarios/file';
import { Recorder } from '../sim/report/recorder';
import { renderReport } from '../sim/report/html';
import { exitCode, summarize } from '../sim/report/summary';
import type { Scenario } from '../sim/scenarios/types';
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

test('A run cut short by --duration marks what it could not reach "not reached", says "incomplete" and exits 0', async () => {
  const report = path.join(dir, 'short.html');
  const r = await sim(['--scenario', 'ercot-ufr', '--speed', 'max', '--duration', '20', '--report', report]);
  const s = readSummary(report);
  assert.equal(s.expectations.map((x) => x.result), ['not reached', 'not reached', 'not reached']);
  assert.is(s.verdict, 'incomplete');
  assert.is(s.pass, false, 'an expectation not reached is not a pass');
  assert.is(s.ended_by, 'duration');
  assert.is(s.scenario.duration_s, 300);
  // the short run was asked for: nothing failed, so exit 0, but never a green PASS
  assert.is(r.code, 0);
  assert.match(r.out, /^result: INCOMPLETE \(3 of 3 expectations not reached: the run covered 0:20 of the scenario's 5:00 because --duration asked for less; nothing failed, exit 0\)$/m);
  const html = fs.readFileSync(report, 'utf8');
  assert.match(html, /<div class="badge incomplete">INCOMPLETE · 3 not reached<\/div>/);
  assert.match(html, /<title>hashflex sim: ercot-ufr — INCOMPLETE · 3 not reached<\/title>/);
  assert.match(html, /class="note">3 of 3 expectations not reached: the run covered 0:20 of the scenario's 5:00 because --duration asked for less</);
  assert.not.match(html, /PASS/);
});

test('Stopped by a signal, an incomplete run exits 1; a failure exits 1 however the run ended', async () => {
  const scenario = loadScenarioFile(path.join(FIXTURES, 'uf-dip.csv'));
  // a Ctrl-C at 10 s (before the dip at 20 s): the rig stops where it is
  const ac = new AbortController();
  const r = await runLeap({ scenario, durationS: 60, record: true, signal: ac.signal, onSecond: (t) => { if (t === 10) ac.abort(); } });
  assert.ok(r.durationS > 10 && r.durationS < 11, `stopped at ${r.durationS} s`);
  const log = r.log!;
  assert.is(log.durationS, r.durationS);
  const verdict = (endedBy: 'signal' | 'duration') => { log.endedBy = endedBy; const s = summarize(log); return [s.verdict, s.ended_by, exitCode(s)]; };
  // "no trip" fails only later in this scenario: at 10 s nothing has failed yet
  assert.equal(verdict('signal'), ['incomplete', 'signal', 1]);
  assert.equal(verdict('duration'), ['incomplete', 'duration', 0]);
  const whole = await runLeap({ scenario, durationS: 60, record: true });
  const s = summarize(whole.log!);
  assert.is(s.verdict, 'fail');
  assert.is(exitCode(s), 1);
  for (const endedBy of ['signal', 'duration', 'scenario'] as const) assert.is(exitCode({ ...s, ended_by: endedBy }), 1);
  assert.is(exitCode({ ...s, expectations: [], verdict: 'none' }), 0);
});

test('The report plots the relay contact as an input, beside the frequency, not only the trip it causes', async () => {
  const scenario: Scenario = {
    name: 'relay', description: 'the relay contact closes 10-20 s', durationS: 30, nominalHz: 60,
    at: (t) => ({ hz: 60, generationKw: 5, baseLoadKw: 1, relay: t >= 10 && t < 20 }),
    expect: [],
  };
  const r = await runLeap({ scenario, durationS: 30, record: true });
  const s = summarize(r.log!);
  assert.equal(s.trips.map((t) => t.source), ['relay']);
  const html = renderReport(s, r.log!, { pacing: 'test', wallS: 0 });
  const strip = /<svg[^>]*aria-label="relay contact"[^>]*>(.*?)<\/svg>/s.exec(html)?.[1];
  assert.ok(strip, 'a relay strip');
  // one shaded run from 10 s to 20 s: x = 64 + t / T * 1020, the time axis T a little over 30 s
  const rects = [...strip.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="16" fill="#b91c1c"/g)].map((m) => [Number(m[1]), Number(m[1]) + Number(m[2])]);
  assert.is(rects.length, 1, strip);
  const [x0, x1] = rects[0].map((x) => x - 64);
  assert.ok(Math.abs(x0 / x1 - 0.5) < 0.01 && x1 - x0 > (10 / 31) * 1020 && x1 - x0 < (10 / 30) * 1020, JSON.stringify(rects));
  assert.match(html, /relay contact closed \(the grid operator's trip signal, an input\)/);
  // a run whose relay stays open still shows the input, unshaded
  const quiet = await runLeap({ scenario: { ...scenario, at: () => ({ hz: 60, generationKw: 5, baseLoadKw: 1, relay: false }) }, durationS: 30, record: true });
  const quietHtml = renderReport(summarize(quiet.log!), quiet.log!, { pacing: 'test', wallS: 0 });
  const quietStrip = /<svg[^>]*aria-label="relay contact"[^>]*>(.*?)<\/svg>/s.exec(quietHtml)?.[1] ?? '';
  assert.match(quietStrip, />relay</);
  assert.not.match(quietStrip, /fill="#b91c1c"/);
});

test('The "faults injected" tile names the faults, and the commands have a tile of their own', async () => {
  const r = await runLeap({ scenario: loadScenarioFile(path.join(FIXTURES, 'dispatch.json')), durationS: 95, record: true });
  const html = renderReport(summarize(r.log!), r.log!, { pacing: 'test', wallS: 0 });
  const tile = (label: string) => new RegExp(`<div class="tile"><div class="label">${label}</div><div class="value">([^<]*)</div><div class="sub">([^<]*)</div></div>`).exec(html)?.slice(1);
  assert.equal(tile('Faults injected'), ['1', 'board-garbage']);
  assert.equal(tile('Controller commands'), ['3', '3 delivered']);
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
