import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * `npm test` on a fresh machine (issue 17): the runner itself (scripts/test.js) over a small set
 * of suites that need programs outside npm, with every one of them hidden from PATH. It must
 * exit 0, name each skip with its install line once, before the closing line, and count the
 * skips in it; with HASHFLEX_REQUIRE_PEERS=1 (CI) the same run fails. The pattern never matches
 * this file, so the runner does not run itself.
 */
const ROOT = path.join(__dirname, '..');
const SUITES = ['hashboard-pty', 'meter-sunspec', 'meter-interop', 'uplink-interop', 'server-dashboard', 'mqtt-restart'];
const PATTERN = `(${SUITES.join('|')})`;

/** a PATH holding node and nothing else: no socat, mosquitto, mbpoll, chromium or python3 */
function hiddenPath(): { dir: string; path: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-nopeers-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.symlinkSync(process.execPath, path.join(dir, 'bin', 'node'));
  return { dir, path: path.join(dir, 'bin') };
}

function runner(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const base = { ...process.env };
  for (const k of ['HASHFLEX_REQUIRE_PEERS', 'HASHFLEX_PEERS_FILE', 'HASHFLEX_NO_SOCAT']) delete base[k];
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'test.js'), PATTERN], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`runner did not finish in 120 s:\n${out.slice(-3000)}`)); }, 120_000);
    child.once('error', (e) => { clearTimeout(t); reject(e); });
    child.once('close', (code) => { clearTimeout(t); resolve({ code, out }); });
  });
}

const lastLine = (out: string) => out.trimEnd().split('\n').pop() ?? '';

test('With socat, mosquitto, mbpoll, chromium and the python peers hidden from PATH the run passes and names each skip', async () => {
  const hidden = hiddenPath();
  try {
    const { code, out } = await runner({ PATH: hidden.path });
    assert.is(code, 0, out.slice(-4000));
    assert.not.match(out, /test-runner\.test\.ts/, 'the runner did not run itself');
    assert.not.match(out, /ENOENT|Exiting early|did not exit/);
    const m = /^(\d+) passed, 0 failed, (\d+) skipped$/.exec(lastLine(out));
    assert.ok(m, `closing line: ${lastLine(out)}`);
    assert.ok(Number(m![1]) > 0, 'the tests that need nothing (and hashboard-pty over TCP) ran');
    // the block: once, before the closing line, one line per program with its install line
    const at = out.lastIndexOf('\nSkipped: ');
    assert.ok(at > 0, out.slice(-3000));
    const block = out.slice(at, out.lastIndexOf('\n', out.trimEnd().length - 1));
    assert.is(out.indexOf('\nSkipped: '), at, 'said once');
    assert.match(block, `Skipped: ${m![2]} tests needing a program this machine lacks`);
    for (const [program, install, suites] of [
      ['socat', 'apt-get install socat', ['meter-sunspec.test.ts (2)', 'meter-interop.test.ts (1)']],
      ['mbpoll', 'apt-get install mbpoll', ['meter-interop.test.ts (2)']],
      ['python3 with pymodbus', 'apt-get install python3-pymodbus python3-serial-asyncio', ['meter-interop.test.ts (1)']],
      ['python3 with websockets', 'apt-get install python3-websockets', ['uplink-interop.test.ts (2)']],
      ['chromium', 'apt-get install chromium', ['server-dashboard.test.ts (1)']],
      ['mosquitto', 'apt-get install mosquitto', ['mqtt-restart.test.ts (1)']],
    ] as const) {
      const line = block.split('\n').find((l) => l.startsWith(`  ${program} — ${install}: `));
      assert.ok(line, `${program} named with its install line in:\n${block}`);
      for (const s of suites) assert.ok(line!.includes(s), `${line} names ${s}`);
    }
    // the hashboard suite falls back to raw TCP (as the README promises) instead of skipping
    assert.match(block, /Over raw TCP instead of ptys \(no socat — apt-get install socat\): hashboard-pty\.test\.ts/);
  } finally {
    fs.rmSync(hidden.dir, { recursive: true, force: true });
  }
});

test('With HASHFLEX_REQUIRE_PEERS=1 (CI) the same run fails, naming what is missing', async () => {
  const hidden = hiddenPath();
  try {
    const { code, out } = await runner({ PATH: hidden.path, HASHFLEX_REQUIRE_PEERS: '1' });
    assert.is(code, 1, out.slice(-4000));
    assert.not.match(out, /Exiting early|did not exit/);
    const m = /^(\d+) passed, (\d+) failed$/.exec(lastLine(out));
    assert.ok(m && Number(m[2]) > 0, `closing line: ${lastLine(out)}`);
    assert.match(out, /Failed: \d+ tests needing a program this machine lacks, with HASHFLEX_REQUIRE_PEERS=1/);
    assert.match(out, /mosquitto is not on PATH \(apt-get install mosquitto\); HASHFLEX_REQUIRE_PEERS=1 makes a missing program a failure/);
    assert.match(out, /Failed: ptys are required with HASHFLEX_REQUIRE_PEERS=1 \(no socat — apt-get install socat\): hashboard-pty\.test\.ts/);
  } finally {
    fs.rmSync(hidden.dir, { recursive: true, force: true });
  }
});

test.run();
