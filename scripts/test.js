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
child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
child.on('close', (code) => {
  const num = (label) => Number((out.match(new RegExp(`${label}:\\s+(\\d+)`)) || [])[1] || 0);
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped');
  const failed = total - passed - skipped + (code !== 0 && total === passed ? 1 : 0);
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
