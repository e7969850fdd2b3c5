import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildPackage, type PackageResult } from '../scripts/package/build';
import { tmpdir, until, type Proc } from './harness/cli';
import { alive, descendants, mentioning } from './harness/procs';

/**
 * `hashflex sim` and `hashflex bench` from the board package, the built bundle itself, run with
 * node alone. In one esbuild bundle `require.main === module` is true in every module it holds,
 * so a library module that doubled as a program would run that program too (issue 17): the sim
 * printed a controller's `{"listening":…}`, read stdin and exited 0 without running; a bench
 * printed two JSON documents; Ctrl-C left socat processes and the run's temp folder behind.
 */
const t = suite('board package: sim and bench');
const REPO = path.resolve(__dirname, '..');

let work = '';
let pkg: PackageResult;
let bundle = '';
const procs: Proc[] = [];

/** `node hashflex.js ARGS` from the unpacked package: a bare environment, stdin closed (/dev/null) */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [bundle, ...args], {
    cwd: path.dirname(bundle),
    env: { PATH: process.env.PATH, HASHFLEX_LOG: 'warn', HASHFLEX_LOG_FILE: path.join(work, 'hashflex.log'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const p = { child, out: () => out, err: () => err, exited };
  procs.push(p);
  return p;
}

/** a scenario file in the work dir */
function scenario(name: string, text: string): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, text);
  return file;
}

t.before(async () => {
  work = tmpdir('hashflex-package-bundle-');
  assert.ok(!work.startsWith(REPO), 'the test runs outside the repository');
  pkg = await buildPackage({ outDir: path.join(work, 'out') });
  const board = path.join(work, 'board');
  fs.mkdirSync(board);
  execFileSync('tar', ['-xzf', pkg.tarball, '-C', board]);
  bundle = path.join(board, `hashflex-${pkg.version}`, 'hashflex.js');
});

t.after(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exited; }
  fs.rmSync(work, { recursive: true, force: true });
});

t('no module in the bundle runs as a program of its own (require.main is every module there)', () => {
  const text = fs.readFileSync(bundle, 'utf8');
  assert.not.match(text, /require\.main\b/, 'a `require.main === module` block in the bundle runs with every hashflex command');
});

t('sim --speed max with a scenario file writes the report and exits with the expectations\' code', async () => {
  const head = '# duration_s: 30\n# noise_hz: 0\nt_s,hz,generation_kw,load_kw\n0,60,5,1\n10,60,,\n11,59.5,,\n15,59.5,,\n16,60,,\n30,60,5,1\n';
  const pass = scenario('pass.csv', `# name: dip\n# expect: trip within 250 ms of 59.7 Hz\n${head}`);
  const report = path.join(work, 'reports', 'pass.html');
  const p = run(['sim', '--speed', 'max', '--scenario', pass, '--report', report]);
  assert.is(await p.exited, 0, p.out() + p.err());
  assert.not.match(p.out(), /"listening"/, 'no stray controller on stdout');
  assert.match(p.out(), /pass {2}trip within 250 ms of 59\.7 Hz/);
  assert.match(fs.readFileSync(report, 'utf8'), /^<!doctype html>/i);
  const summary = JSON.parse(fs.readFileSync(path.join(work, 'reports', 'pass.json'), 'utf8'));
  assert.is(summary.pass, true);
  assert.is(summary.scenario.name, 'dip');
  assert.ok(summary.trips.some((x: { source: string }) => x.source === 'underfrequency'), 'the scenario really ran');

  // the same dip against an expectation it breaks: exit 1, and still a report
  const fail = scenario('fail.csv', `# name: dip-fails\n# expect: no trip\n${head}`);
  const failed = path.join(work, 'reports', 'fail.html');
  const f = run(['sim', '--speed', 'max', '--scenario', fail, '--report', failed]);
  assert.is(await f.exited, 1, f.out() + f.err());
  assert.match(f.out(), /FAIL {2}no trip/);
  assert.is(JSON.parse(fs.readFileSync(path.join(work, 'reports', 'fail.json'), 'utf8')).pass, false);
});

t('sim with a bad scenario file exits 2 with FILE:LINE:COL and writes no report', async () => {
  const bad = scenario('bad.csv', 't_s,hz\n0,60\n5,abc\n');
  const report = path.join(work, 'reports', 'bad.html');
  const p = run(['sim', '--speed', 'max', '--scenario', bad, '--report', report]);
  assert.is(await p.exited, 2, p.out() + p.err());
  assert.match(p.err(), new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:3: `));
  assert.not.match(p.out(), /"listening"/);
  assert.not.ok(fs.existsSync(report));
});

t('bench hashboard --json prints exactly one JSON document', async () => {
  const p = run(['bench', 'hashboard', '--json']);
  assert.is(await p.exited, 0, p.err());
  const doc = JSON.parse(p.out()); // two documents would not parse
  assert.equal(Object.keys(doc.results), ['hashboard']);
  assert.ok(doc.results.hashboard.n > 0);
});

t('benches built on the repository say so from the package instead of failing inside', async () => {
  const p = run(['bench', 'footprint']);
  assert.is(await p.exited, 2, p.out() + p.err());
  assert.match(p.err(), /bench footprint runs from a development checkout/);
});

for (const socat of [true, false]) {
  t(`sim on the real wires${socat ? '' : ' without socat (raw TCP)'}: SIGINT leaves no child process and no temp folder`, async () => {
    const tmp = fs.mkdtempSync(path.join(work, 'tmp-'));
    // without socat: a PATH that holds nothing (node is started by its absolute path)
    const env: NodeJS.ProcessEnv = { TMPDIR: tmp, ...(socat ? {} : { PATH: fs.mkdtempSync(path.join(work, 'empty-path-')) }) };
    const p = run(['sim', '--boards', '2'], env);
    await until(() => /^dashboard: /m.test(p.out()) || p.child.exitCode !== null, `the sim to start (${p.out()}${p.err()})`, 60_000);
    assert.is(p.child.exitCode, null, p.out() + p.err());
    assert.not.match(p.out(), /"listening"/);
    const served = /socat not found/.test(p.out()) ? 'tcp' : 'pty';
    const kids = descendants(p.child.pid!);
    const runDirs = fs.readdirSync(tmp).filter((d) => d.startsWith('hashflex-sim-'));
    assert.is(runDirs.length, 1, `the run's temp folder in TMPDIR (${fs.readdirSync(tmp).join(', ')})`);
    if (socat && served === 'pty') assert.ok(kids.filter((k) => k.comm === 'socat').length >= 3, `socat for 2 chains and the I/O board: ${JSON.stringify(kids)}`);
    if (!socat) {
      assert.is(served, 'tcp', p.out());
      assert.equal(kids, [], 'no child process without socat');
    }
    const runDir = path.join(tmp, runDirs[0]);

    p.child.kill('SIGINT');
    // stopped seconds into the demo: its dip and relay are not reached, so the run is incomplete (exit 1)
    assert.is(await p.exited, 1, p.out() + p.err());
    assert.match(p.out(), /expectations:/, 'the run ended with its summary');
    assert.match(p.out(), /^result: INCOMPLETE \(.*because it was stopped \(SIGINT\/SIGTERM\)(; its passes hold for that part only)?; exit 1\)$/m);
    await until(() => kids.every((k) => !alive(k.pid)), `children gone: ${JSON.stringify(kids.filter((k) => alive(k.pid)))}`, 5000);
    assert.equal(mentioning(runDir), [], 'no process left that uses the run\'s folder');
    assert.equal(fs.readdirSync(tmp), [], 'TMPDIR is empty again');
  });
}

t.run();
