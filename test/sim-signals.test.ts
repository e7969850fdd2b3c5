import fs from 'node:fs';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hashflex, tmpdir, until, type Proc } from './harness/cli';
import { peer } from './harness/peers';
import { alive, descendants, mentioning } from './harness/procs';

/**
 * `hashflex sim` as a separate process (the tsx CLI, bin/hashflex.js), each run with a TMPDIR of
 * its own: Ctrl-C at any point of a run, start-up included, leaves nothing behind; a run stopped
 * early says "incomplete" and exits 1; every run logs to a file of its own, named at the start,
 * and no log line lands on the time-leap progress bar.
 */
const t = suite('hashflex sim: signals, exit codes and logs');
let work = '';
const procs: Proc[] = [];

t.before(() => { work = tmpdir('hashflex-sim-signals-'); });
t.after(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) { p.child.kill('SIGKILL'); await p.exited; }
  fs.rmSync(work, { recursive: true, force: true });
});

/** `hashflex sim ARGS` with a private TMPDIR and no HASHFLEX_LOG_FILE: the run picks its log file */
function sim(args: string[], env: NodeJS.ProcessEnv = {}): Proc & { tmp: string } {
  const tmp = fs.mkdtempSync(path.join(work, 'tmp-'));
  const p = hashflex(['sim', ...args], { TMPDIR: tmp, HASHFLEX_LOG_FILE: undefined, ...env });
  procs.push(p);
  return { ...p, tmp };
}

/** the run's temp folders (a log file has a .log suffix; tsx keeps its cache in tsx-UID) */
const runDirs = (tmp: string) => fs.readdirSync(tmp).filter((d) => /^hashflex-sim-/.test(d) && !d.endsWith('.log'));

const moments: [string, (p: Proc & { tmp: string }) => boolean][] = [
  ['as soon as its temp folder exists', (p) => runDirs(p.tmp).length > 0],
  ...(peer('socat') ? [['once its first socat runs', (p: Proc) => descendants(p.child.pid!).some((k) => k.comm === 'socat')] as [string, (p: Proc) => boolean]] : []),
];
for (const [when, ready] of moments) {
  t(`SIGINT during the real-wire rig's start-up (${when}) stops it: exit 1, no child process, no temp folder`, async () => {
    const p = sim(['--boards', '2']);
    await until(() => ready(p) || p.child.exitCode !== null, `the start-up to begin (${p.out()}${p.err()})`, 60_000);
    assert.is(p.child.exitCode, null, p.out() + p.err());
    const dirs = runDirs(p.tmp).map((d) => path.join(p.tmp, d));
    const kids = descendants(p.child.pid!);
    p.child.kill('SIGINT');
    assert.is(await p.exited, 1, p.out() + p.err());
    assert.match(p.out(), /^hashflex sim: stopped during start-up; nothing was run \(exit 1\)$/m);
    assert.not.match(p.out(), /^dashboard: /m, 'the agent never ran');
    await until(() => kids.every((k) => !alive(k.pid)), `children gone: ${JSON.stringify(kids.filter((k) => alive(k.pid)))}`, 5000);
    for (const d of dirs) assert.equal(mentioning(d), [], `no process left that uses ${d}`);
    assert.equal(runDirs(p.tmp), [], 'the run\'s temp folder is gone');
  });
}

t('SIGINT during a time-leap run ends it with an incomplete summary and report: exit 1', async () => {
  const report = path.join(work, 'leap-stopped.html');
  // ×5 real time: 5 minutes take a minute, so the signal lands mid-run
  const p = sim(['--scenario', 'ercot-ufr', '--speed', '5', '--report', report]);
  await until(() => /\] +10 %/.test(p.err()) || p.child.exitCode !== null, `the run to get going (${p.out()}${p.err()})`, 60_000);
  p.child.kill('SIGINT');
  assert.is(await p.exited, 1, p.out() + p.err());
  assert.match(p.out(), /^result: INCOMPLETE \(\d of 3 expectations not reached: the run covered .* of the scenario's 5:00 because it was stopped \(SIGINT\/SIGTERM\)(; its passes hold for that part only)?; exit 1\)$/m);
  const s = JSON.parse(fs.readFileSync(report.replace(/\.html$/, '.json'), 'utf8'));
  assert.is(s.verdict, 'incomplete');
  assert.is(s.ended_by, 'signal');
  assert.is(s.pass, false);
  assert.ok(s.duration_s < 300, `stopped early: ${s.duration_s} s`);
  assert.match(fs.readFileSync(report, 'utf8'), /class="badge incomplete">INCOMPLETE · \d not reached</);
});

t('Each run logs to a file of its own, named in one line at the start; no log line lands on the progress bar', async () => {
  // uf-dip trips at 20 s: the site logs that at warn, so at info there is something to log
  const file = path.join(__dirname, 'fixtures', 'scenarios', 'uf-dip.csv');
  const runs = [sim(['--scenario', file, '--speed', 'max'], { HASHFLEX_LOG: 'info' }), sim(['--scenario', file, '--speed', 'max'], { HASHFLEX_LOG: 'info' })];
  const files: string[] = [];
  for (const p of runs) {
    assert.is(await p.exited, 1, p.out() + p.err()); // uf-dip declares expectations that fail
    const lines = p.out().split('\n');
    const logLines = lines.filter((l) => /^logs: /.test(l));
    assert.is(logLines.length, 1, p.out());
    assert.is(lines.indexOf(logLines[0]), 1, 'said at the start, right after the run\'s header');
    const log = logLines[0].slice('logs: '.length);
    assert.match(path.basename(log), /^hashflex-sim-\d{8}-\d{6}-\d+\.log$/);
    assert.is(path.dirname(log), p.tmp, 'in TMPDIR');
    files.push(log);
    // stderr holds the progress bar and nothing else (no pino JSON)
    const err = p.err().split('\n').filter(Boolean);
    assert.ok(err.length >= 10, p.err());
    for (const l of err) assert.match(l, /^\[[█░]+\] +\d+ %/, `a stray line on the progress bar: ${l}`);
    await until(() => fs.existsSync(log) && /tripped: all boards off/.test(fs.readFileSync(log, 'utf8')), `the trip logged in ${log}`, 5000);
  }
  assert.is.not(files[0], files[1], 'two runs, two log files');
});

t('HASHFLEX_LOG_FILE, when set, is where a run logs', async () => {
  const log = path.join(work, 'mine.log');
  const p = sim(['--scenario', 'ercot-ffr', '--speed', 'max', '--duration', '5'], { HASHFLEX_LOG_FILE: log });
  assert.is(await p.exited, 0, p.out() + p.err());
  assert.match(p.out(), new RegExp(`^logs: ${log.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  assert.equal(fs.readdirSync(p.tmp).filter((f) => f.endsWith('.log')), [], 'no log file of its own');
});

t.run();
