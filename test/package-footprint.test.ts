import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packagedBundle } from '../scripts/bench/bundle';
import { latin1Bundle } from '../scripts/package/build';
import { FOOTPRINT_FORMS, serviceLaunch } from '../scripts/bench/footprint';

/**
 * The footprint bench measures what a board runs: the bundle as deploy/hashflex.service starts it
 * (its node flags and Environment=), from the package scripts/package writes when that is fresh.
 * Helpers only; no figure is asserted (DESIGN.md §6).
 */
const REPO = path.resolve(__dirname, '..');

test('serviceLaunch reads the node flags of ExecStart= and every Environment= assignment', () => {
  const unit = [
    '[Service]',
    'ExecStart=@NODE@ --max-semi-space-size=1 --v8-pool-size=2 /opt/hashflex/hashflex.js run -c /etc/hashflex/agent.yaml',
    'Environment=HASHFLEX_LOG=info',
    'Environment=MALLOC_ARENA_MAX=2 "A=b c" D=',
    'Environment=HASHFLEX_LOG=warn',
  ].join('\n');
  assert.equal(serviceLaunch(unit), {
    nodeArgs: ['--max-semi-space-size=1', '--v8-pool-size=2'],
    env: { HASHFLEX_LOG: 'warn', MALLOC_ARENA_MAX: '2', A: 'b c', D: '' },
    script: '/opt/hashflex/hashflex.js',
  });
  assert.equal(serviceLaunch('ExecStart=/usr/bin/node /opt/x.js run').nodeArgs, []);
  assert.throws(() => serviceLaunch('[Service]\nType=notify\n'), /ExecStart/);
});

test('the shipped unit gives the service form its semi-space flag and malloc arenas, and the bench leads with it', () => {
  const unit = serviceLaunch(fs.readFileSync(path.join(REPO, 'deploy/hashflex.service'), 'utf8'));
  assert.equal(unit.nodeArgs, ['--max-semi-space-size=1']);
  assert.is(unit.env.MALLOC_ARENA_MAX, '2');
  assert.is(unit.script, '/opt/hashflex/hashflex.js');
  assert.is(FOOTPRINT_FORMS[0], 'service');
});

test('the bench finds the packaged bundle at dist/hashflex-VERSION/hashflex.js, and only while it is newer than the sources', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-fpkg-'));
  try {
    fs.mkdirSync(path.join(root, 'agent'));
    fs.writeFileSync(path.join(root, 'agent', 'cli.ts'), '// source\n');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(root, 'agent', 'cli.ts'), old, old);
    assert.match((packagedBundle(root, '9.8.7') as { stale: string }).stale, /no dist\/hashflex-9\.8\.7\/hashflex\.js/);
    const file = path.join(root, 'dist', 'hashflex-9.8.7', 'hashflex.js');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '// bundle\n');
    assert.equal(packagedBundle(root, '9.8.7'), { file, rel: path.join('dist', 'hashflex-9.8.7', 'hashflex.js') });
    // a source edited after the package was built: the package no longer shows what the code does
    fs.utimesSync(path.join(root, 'agent', 'cli.ts'), new Date(), new Date(Date.now() + 60_000));
    assert.match((packagedBundle(root, '9.8.7') as { stale: string }).stale, /older than the sources/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('latin1Bundle makes comment lines one-byte text and counts what it cannot touch', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-latin1-'));
  try {
    const file = path.join(dir, 'b.js');
    fs.writeFileSync(file, [
      '/** 10 k\u03a9 \u2014 a comment */',
      '  // bits 64\u201371, 20 \u00b0C stays (Latin-1)',
      '   * more \u2026',
      'const s = String.raw`\u2013`;',
    ].join('\n'));
    assert.equal(latin1Bundle(file), { replaced: 4, remaining: 1 });
    assert.equal(fs.readFileSync(file, 'utf8').split('\n').slice(0, 3), ['/** 10 kohm -- a comment */', '  // bits 64-71, 20 \u00b0C stays (Latin-1)', '   * more ...']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
