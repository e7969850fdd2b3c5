#!/usr/bin/env node
// `npm test`: every uvu suite under test/ (TypeScript through tsx), then the closing line
// `N passed, N failed` (`, K skipped` when tests were skipped) that CI reads; it stays the last
// line. Extra args narrow the run: `npm test -- meter`. Tests that need a program the machine
// lacks (socat, mosquitto, …: test/harness/peers.ts) are skipped; they are listed once, with
// the install line, in a short block before the closing line. HASHFLEX_REQUIRE_PEERS=1 (CI)
// turns each of them into a failure.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pattern = process.argv[2] ? `${process.argv[2]}.*\\.test\\.ts$` : '\\.test\\.ts$';
const uvu = path.join(__dirname, '..', 'node_modules', 'uvu', 'bin.js');
const peersDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-peers-'));
const peersFile = path.join(peersDir, 'peers.jsonl');
const child = spawn(process.execPath, [uvu, 'test', pattern, '-r', 'tsx', '--no-color'], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { HASHFLEX_LOG: 'silent', ...process.env, HASHFLEX_PEERS_FILE: peersFile },
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

/** the block on missing programs: one line per program, with its install line and the suites */
function peersBlock() {
  let text = '';
  try { text = fs.readFileSync(peersFile, 'utf8'); } catch { /* nothing recorded */ }
  fs.rmSync(peersDir, { recursive: true, force: true });
  const records = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  if (records.length === 0) return '';
  const lines = [];
  const byProgram = (kind) => {
    const m = new Map();
    for (const r of records.filter((x) => x.kind === kind)) {
      for (const p of r.missing) {
        const e = m.get(p.what) ?? { install: p.install, files: new Map() };
        e.files.set(r.file, (e.files.get(r.file) ?? 0) + 1);
        m.set(p.what, e);
      }
    }
    return m;
  };
  for (const [kind, head] of [
    ['skip', 'a program this machine lacks (HASHFLEX_REQUIRE_PEERS=1 makes it a failure)'],
    ['fail', 'a program this machine lacks, with HASHFLEX_REQUIRE_PEERS=1'],
  ]) {
    const m = byProgram(kind);
    if (m.size === 0) continue;
    const n = records.filter((x) => x.kind === kind).length;
    lines.push(`${kind === 'skip' ? 'Skipped' : 'Failed'}: ${n} test${n === 1 ? '' : 's'} needing ${head}:`);
    for (const [what, e] of m) {
      const files = [...e.files].map(([f, c]) => `${f} (${c})`).join(', ');
      lines.push(`  ${what} — ${e.install}: ${files}`);
    }
  }
  for (const [what, e] of byProgram('tcp')) {
    lines.push(`Over raw TCP instead of ptys (no ${what} — ${e.install}): ${[...e.files.keys()].join(', ')}`);
  }
  for (const [what, e] of byProgram('pty')) {
    lines.push(`Failed: ptys are required with HASHFLEX_REQUIRE_PEERS=1 (no ${what} — ${e.install}): ${[...e.files.keys()].join(', ')}`);
  }
  return `\n${lines.join('\n')}`;
}

child.on('close', (code, signal) => {
  const num = (label) => Number((out.match(new RegExp(`${label}:\\s+(\\d+)`)) || [])[1] || 0);
  // uvu's Total counts the tests that ran (skips are not in it)
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped');
  const leaked = signal === 'SIGKILL' ? 1 : 0;
  const failed = total - passed + leaked + (code !== 0 && !leaked && total === passed ? 1 : 0);
  const block = peersBlock();
  if (block) console.log(block);
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failed === 0 ? 0 : 1);
});
