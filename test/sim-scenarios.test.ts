import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { hashflex } from './harness/cli';
import { readSummary, sim, tmp } from './fixtures/scenarios/run';

// Every built-in runs from the CLI in the time-leap rig and leaves its report. Short durations
// keep the suite quick; the full-length figures are in the issue note.
const dir = tmp();
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const RUNS: [string, string[]][] = [
  ['demo', ['--duration', '65']],
  ['ercot-ufr', ['--duration', '40']],
  ['ercot-ffr', ['--duration', '35']],
  ['wind-surplus-24h', ['--duration', '600', '--poll-ms', '1000']],
  ['nuclear-weekend', ['--duration', '600', '--poll-ms', '1000']],
  ['dispatch', ['--duration', '275']],
  ['faults', ['--duration', '258']],
];

for (const [name, extra] of RUNS) {
  test(`The built-in scenario ${name} runs from the CLI at --speed max and writes its HTML report and JSON summary`, async () => {
    const report = path.join(dir, `${name}.html`);
    const r = await sim(['--scenario', name, '--speed', 'max', '--report', report, ...extra]);
    const s = readSummary(report);
    assert.is(s.scenario.name, name);
    assert.is(s.rig, 'leap');
    assert.ok(s.expectations.length > 0, 'every built-in declares expectations');
    // cut short by --duration: never a PASS; exit 1 only on a failure (the short run was asked for)
    assert.ok(s.verdict === 'incomplete' || s.verdict === 'fail', s.verdict);
    assert.is(r.code, s.verdict === 'fail' ? 1 : 0, r.out);
    assert.match(r.out, s.verdict === 'fail' ? /^result: FAIL/m : /^result: INCOMPLETE \(.*because --duration asked for less.*; nothing failed, exit 0\)$/m);
    const html = fs.readFileSync(report, 'utf8');
    assert.not.match(html, /class="badge pass"/);
    assert.match(html, /<svg/);
    assert.not.match(html, /<script|src="http/);
    assert.match(r.out, new RegExp(`report: ${report.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });
}

test('The demo catches its under-frequency dip within 250 ms and its relay within 50 ms', () => {
  const s = readSummary(path.join(dir, 'demo.html'));
  assert.equal(s.trips.map((t) => t.source), ['underfrequency']);
  assert.ok(s.trips[0].from_signal_ms! <= 250);
  assert.equal(s.expectations.map((x) => x.result), ['pass', 'not reached', 'pass']);
});

test('The dispatch scenario delivers its commands in order and is curtailed until the release', () => {
  const s = readSummary(path.join(dir, 'dispatch.html'));
  assert.equal(s.commands.map((c) => [c.t_s, c.action, c.ok]), [[60, 'set_power', true], [240, 'curtail', true]]);
  assert.equal(s.trips.map((t) => t.source), ['command']);
  assert.equal(s.expectations.find((x) => x.expect === 'state curtailed at 270 s')?.result, 'pass');
});

test('The faults scenario shows each fault the agent noticed: a meter-lost trip, link resyncs, an io-lost trip', () => {
  const s = readSummary(path.join(dir, 'faults.html'));
  assert.equal(s.faults.map((f) => f.kind), ['meter-silence', 'board-garbage', 'io-loss']);
  assert.match(s.faults[0].seen.join(), /trip meter-lost/);
  assert.match(s.faults[1].seen.join(), /link hb1: \d+ resyncs/);
  assert.match(s.faults[2].seen.join(), /trip io-lost/);
  assert.equal(s.trips.map((t) => t.source), ['meter-lost', 'io-lost']);
});

test('hashflex sim --speed max runs as a separate process and exits 1 when an expectation fails', async () => {
  const report = path.join(dir, 'proc.html');
  const p = hashflex(['sim', '--scenario', path.join(__dirname, 'fixtures', 'scenarios', 'uf-dip.csv'), '--speed', 'max', '--duration', '30', '--report', report]);
  assert.is(await p.exited, 1, p.err());
  const s = readSummary(report);
  assert.is(s.pass, false);
  assert.match(p.out(), /FAIL {2}trip within 50 ms of 59\.7 Hz/);
});

for (const file of ['ufr-and-dispatch.csv', 'dispatch.json']) {
  test(`The README's example scenario ${file} loads, runs and meets its expectations`, async () => {
    const r = await sim(['--scenario', path.join(__dirname, '..', 'sim', 'scenarios', 'examples', file), '--speed', 'max']);
    assert.is(r.code, 0, r.out + r.err);
    assert.not.match(r.out, /FAIL/);
  });
}

test('A fault aimed at a board the site does not have is a usage error', async () => {
  const { main } = await import('../agent/cli');
  const file = path.join(dir, 'hb9.csv');
  fs.writeFileSync(file, 't_s,hz,generation_kw,load_kw,fault\n0,60,5,1,board-garbage hb9 5\n');
  const err = process.stderr.write;
  let text = '';
  process.stderr.write = ((s: string) => { text += s; return true; }) as typeof process.stderr.write;
  try {
    assert.is(await main(['sim', '--scenario', file, '--speed', 'max']), 2);
  } finally {
    process.stderr.write = err;
  }
  assert.match(text, /targets hb9, but the site has boards hb0\.\.hb3/);
});

test('Bad --speed, --seed and unknown scenario names are usage errors', async () => {
  const { main } = await import('../agent/cli');
  const err = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    assert.is(await main(['sim', '--speed', '0.5']), 2);
    assert.is(await main(['sim', '--seed', 'x', '--speed', 'max']), 2);
    assert.is(await main(['sim', '--scenario', 'no-such-thing']), 2);
    assert.is(await main(['sim', '--hardware-only', '--out', dir, '--speed', 'max']), 2);
  } finally {
    process.stderr.write = err;
  }
});

test.run();
