import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { parseScenario, ScenarioError } from '../sim/scenarios/file';
import { parseExpectation } from '../sim/scenarios/cells';
import { builtinScenario } from '../sim/scenarios/builtin';
import { FIXTURES, sim } from './fixtures/scenarios/run';

const HEAD = 't_s,hz,generation_kw,load_kw,relay,command,fault\n';

function error(text: string, file = 's.csv'): ScenarioError {
  try {
    parseScenario(text, file);
  } catch (e) {
    if (e instanceof ScenarioError) return e;
    throw e;
  }
  throw new Error('expected a ScenarioError');
}

test('A CSV scenario interpolates each column between its own points and holds the ends', () => {
  const s = parseScenario(`# name: ramp\n# duration_s: 100\n${HEAD}0,60,2,1,0,,\n10,,,,,curtail,\n20,59,6,,1,,\n30,59,6,,0,,\n`, 'x.csv');
  assert.is(s.name, 'ramp');
  assert.is(s.durationS, 100);
  assert.is(s.at(5).hz, 59.75);
  assert.is(s.at(10).generationKw, 4); // the row at 10 s has no generation: 0 s -> 20 s is one segment
  assert.is(s.at(50).generationKw, 6);
  assert.is(s.at(50).baseLoadKw, 1);
  assert.is(s.at(19.9).relay, false);
  assert.is(s.at(25).relay, true);
  assert.is(s.at(30).relay, false);
  assert.equal(s.commands, [{ atS: 10, action: 'curtail' }]);
});

test('A CSV saved by a spreadsheet, with a byte-order mark and CRLF line ends, reads the same', () => {
  const s = parseScenario(`\ufeff${HEAD.replace('\n', '\r\n')}0,60,5,1,0,,\r\n10,59,5,1,0,,\r\n`, 'x.csv');
  assert.is(s.at(5).hz, 59.5);
});

test('Two rows at the same time make a step', () => {
  const s = parseScenario(`${HEAD}0,60,5,1,,,\n30,60,,,,,\n30,59.5,,,,,\n`, 'x.csv');
  assert.is(s.at(29.999).hz > 59.99, true);
  assert.is(s.at(30).hz, 59.5);
});

test('Commands, faults and expectations are read from their text forms', () => {
  const s = parseScenario(`# expect: trip within 250 ms of 59.7 Hz\n# expect: surplus used >= 95 %\n# expect: no miner-caused import above 1 %\n${HEAD}0,60,5,1,0,set_power 2 60; release,board-garbage hb2 30;meter-silence 5\n`, 'x.csv');
  assert.equal(s.commands, [{ atS: 0, action: 'set_power', kw: 2, ttlS: 60 }, { atS: 0, action: 'release' }]);
  assert.equal(s.faults, [{ atS: 0, kind: 'board-garbage', durationS: 30, target: 'hb2' }, { atS: 0, kind: 'meter-silence', durationS: 5 }]);
  assert.equal(s.expect!.map((x) => x.kind), ['trip-within', 'surplus-used', 'miner-import']);
  assert.equal(parseExpectation('trip within 50 ms of relay'), { text: 'trip within 50 ms of relay', kind: 'trip-within', ms: 50, signal: 'relay' });
  assert.equal(parseExpectation('state curtailed at 270 s'), { text: 'state curtailed at 270 s', kind: 'state-at', state: 'curtailed', atS: 270 });
});

test('A CSV error names the line and the column of the bad cell', () => {
  const e = error(`# duration_s: 60\n${HEAD}0,60,5,1,0,,\n10,sixty,5,1,0,,\n`);
  assert.is(e.line, 4);
  assert.is(e.col, 4);
  assert.match(e.message, /^s\.csv:4:4: hz must be a number/);
});

test('An unknown column, a backward time and a bad relay value are each pinned to their cell', () => {
  let e = error('t_s,hz,wind_kw\n0,60,5\n');
  assert.equal([e.line, e.col], [1, 8]);
  assert.match(e.problem, /unknown column "wind_kw"/);
  e = error(`${HEAD}10,60,5,1,0,,\n5,60,5,1,0,,\n`);
  assert.equal([e.line, e.col], [3, 1]);
  assert.match(e.problem, /goes back in time/);
  e = error(`${HEAD}0,60,5,1,maybe,,\n`);
  assert.equal([e.line, e.col], [2, 10]);
  e = error(`${HEAD}0,60,5,1,0,,,extra\n`);
  assert.equal([e.line, e.col], [2, 14]);
});

test('A bad command or fault inside a cell points at the word that is wrong', () => {
  let e = error(`${HEAD}0,60,5,1,0,release; set_power x 60,\n`);
  assert.equal([e.line, e.col], [2, 31]);
  assert.match(e.problem, /set_power kW must be a number/);
  e = error(`${HEAD}0,60,5,1,0,,meter-silence 5;fire 3\n`);
  assert.equal([e.line, e.col], [2, 29]);
  assert.match(e.problem, /unknown fault "fire"/);
});

test('A bad header field or expectation names its line and column', () => {
  let e = error(`# name: ok\n# expect: trip within 250 ms of 59.7 hertz\n${HEAD}0,60,5,1,0,,\n`);
  assert.equal([e.line, e.col], [2, 33]);
  e = error(`# durration_s: 60\n${HEAD}`);
  assert.equal([e.line, e.col], [1, 3]);
  assert.match(e.problem, /unknown header field "durration_s"/);
  e = error('# only comments\n');
  assert.match(e.problem, /no header row/);
});

test('A JSON scenario reads like the CSV one, lists of commands included', () => {
  const s = parseScenario(require('node:fs').readFileSync(path.join(FIXTURES, 'dispatch.json'), 'utf8'), 'dispatch.json');
  assert.is(s.name, 'json-dispatch');
  assert.equal(s.commands!.map((c) => c.action), ['curtail', 'release', 'set_power']);
  assert.equal(s.faults, [{ atS: 80, kind: 'board-garbage', durationS: 10, target: 'hb0' }]);
  assert.is(Math.abs(s.at(30).generationKw - 4) < 0.11, true);
});

test('A JSON error names the line and column of the offending value', () => {
  let e = error('{\n  "duration_s": 60,\n  "points": [\n    {"t_s": 0, "hz": 60},\n    {"t_s": 5, "hz": "high"}\n  ]\n}\n', 's.json');
  assert.equal([e.line, e.col], [5, 23]);
  assert.match(e.problem, /hz must be a number/);
  e = error('{\n  "points": [],\n  "colour": "red"\n}\n', 's.json');
  assert.equal([e.line, e.col], [3, 3]);
  assert.match(e.problem, /unknown field "colour"/);
  e = error('{\n  "points": [{"t_s": 0, "command": ["curtail", "dance"]}]\n}\n', 's.json');
  assert.equal([e.line, e.col], [2, 49]);
  e = error('{\n  "points": [\n    {"t_s": 0 "hz": 60}\n  ]\n}\n', 's.json');
  assert.is(e.line, 3);
  e = error('{"points": [], "expect": ["trip within 250 ms of sometime"]}', 's.json');
  assert.equal([e.line, e.col], [1, 50]);
});

test('hashflex sim with a broken scenario file prints one line FILE:LINE:COL and exits 2', async () => {
  const file = path.join(require('node:os').tmpdir(), `bad-${process.pid}.csv`);
  require('node:fs').writeFileSync(file, `${HEAD}0,60,5,1,0,,\n3,60,5,1,0,dance,\n`);
  try {
    const r = await sim(['--scenario', file, '--speed', 'max']);
    assert.is(r.code, 2);
    assert.is(r.err, `${file}:3:12: unknown command "dance" (curtail, release, set_power KW TTL_S)\n`);
    assert.is(r.out, '');
  } finally {
    require('node:fs').rmSync(file, { force: true });
  }
});

test('meter_hz sets the simulated meter\'s refresh; the under-frequency built-ins use a fast meter', () => {
  const s = parseScenario(`# name: slow-meter\n# meter_hz: 0.5\n${HEAD}0,60,2,1,0,,\n10,60,2,1,0,,\n`, 'x.csv');
  assert.is(s.site?.meterHz, 0.5);
  assert.throws(() => parseScenario(`# meter_hz: 500\n${HEAD}0,60,2,1,0,,\n`, 'x.csv'), (e: Error) => e instanceof ScenarioError && /meter_hz must be 0.1..50/.test(e.message));
  assert.is(builtinScenario('ercot-ufr')?.site?.meterHz, 20);
  assert.is(builtinScenario('wind-surplus-24h')?.site?.meterHz, undefined, 'others keep the 5 Hz default');
});

test.run();
