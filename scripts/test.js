#!/usr/bin/env node
// `npm test`: every uvu suite under test/ (TypeScript through tsx), then the closing line
// `N passed, N failed` that CI reads. Extra args narrow the run: `npm test -- meter`.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

const pattern = process.argv[2] ? `${process.argv[2]}.*\\.test\\.ts$` : '\\.test\\.ts$';
const uvu = path.join(__dirname, '..', 'node_modules', 'uvu', 'bin.js');
const child = spawn(process.execPath, [uvu, 'test', pattern, '-r', 'tsx', '--no-color'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { HASHFLEX_LOG: 'silent', ...process.env },
});
let out = '';
let hung = false;
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
  // uvu has printed its totals: a run that does not exit now has left a handle open (a leak)
  if (/Duration:/.test(out) && !hung) {
    hung = true;
    setTimeout(() => {
      if (child.exitCode === null) {
        console.log('\ntest run did not exit 15 s after its last suite: a test left a socket, timer or process open');
        child.kill('SIGKILL');
      }
    }, 15_000).unref();
  }
});
child.on('close', (code, signal) => {
  const num = (label) => Number((out.match(new RegExp(`${label}:\\s+(\\d+)`)) || [])[1] || 0);
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped');
  const leaked = signal === 'SIGKILL' ? 1 : 0;
  const failed = total - passed - skipped + leaked + (code !== 0 && !leaked && total === passed ? 1 : 0);
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failed === 0 ? 0 : 1);
});
