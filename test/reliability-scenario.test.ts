import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hashflex, tmpdir } from './harness/cli';

/**
 * The `faults` scenario end to end, as CI runs it: `hashflex sim --scenario faults --speed max
 * --report FILE`. Every fault it injects (meter silence, board garbage, I/O board loss,
 * controller outage) must be seen by the agent, the protective trips must come from the right
 * sources, and the site must be running again at the end.
 */
const t = suite('faults scenario');
let dir = '';
t.before(() => { dir = tmpdir('hashflex-faults-'); });
t.after(() => fs.rmSync(dir, { recursive: true, force: true }));

t('Every injected fault is seen and survived, and the run ends with the site running', async () => {
  const report = path.join(dir, 'faults.html');
  const p = hashflex(['sim', '--scenario', 'faults', '--speed', 'max', '--report', report]);
  const code = await p.exited;
  assert.is(code, 0, p.out() + p.err());
  const s = JSON.parse(fs.readFileSync(path.join(dir, 'faults.json'), 'utf8'));
  assert.equal(s.faults.map((f: { kind: string }) => f.kind), ['meter-silence', 'board-garbage', 'io-loss', 'controller-outage']);
  for (const f of s.faults) assert.ok(f.seen.length > 0, `${f.kind} was not seen by the agent`);
  assert.equal([...new Set(s.trips.map((x: { source: string }) => x.source))].sort(), ['io-lost', 'meter-lost']);
  assert.ok(s.expectations.length >= 4);
  for (const e of s.expectations) assert.is(e.result, 'pass', `${e.text ?? JSON.stringify(e)}: ${e.measured}`);
  assert.is(s.pass, true);
  assert.match(p.out(), /state running at 560 s/);
});

t.run();
