/**
 * `npm run fuzz`: every parser the agent owns (test/fixtures/fuzz) against generated input,
 * 100,000 cases each by default, and a table of parsers, cases, failures, slowest case and peak
 * memory. Each parser runs in its own child process so that a hang (an input that never
 * returns) is caught: a child that reports no progress for --stall-s seconds (default 120) is killed and
 * the parser is listed as hung. Exit 1 on any failure or hang.
 *
 *   npm run fuzz                          # 100,000 cases per parser, seed 1
 *   npm run fuzz -- --runs 5000 --seed 7  # shorter, another seed
 *   npm run fuzz -- --only firmata,meter  # parsers whose name contains "firmata" or "meter"
 *   npm run fuzz -- --json                # the results as JSON (for the issue note / CI)
 *   npm run fuzz -- --no-shrink           # report a failing case as found (shrinking a config case can take minutes)
 * A failure prints fast-check's seed and path: `fc.check(prop, { seed, path })` replays it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { TARGETS } from '../test/fixtures/fuzz';
import { runTarget, type FuzzResult } from '../test/fixtures/fuzz/run';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
};
const runs = Number(arg('runs', '100000'));
const seed = Number(arg('seed', '1'));
const stallS = Number(arg('stall-s', '120'));
const BATCH = 2000;

async function child(index: number): Promise<void> {
  const r = await runTarget(TARGETS[index].make, runs, seed, { batch: BATCH, caseTimeoutMs: 10_000, shrink: !process.argv.includes('--no-shrink'), onBatch: (n) => process.stdout.write(`progress ${n}\n`) });
  const mem = { peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), heapMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20) };
  process.stdout.write(`result ${JSON.stringify({ ...r, ...mem })}\n`);
  process.exit(0);
}

type Row = FuzzResult & { peakRssMb?: number; hung?: boolean; ms: number };

function runChild(index: number, name: string): Promise<Row> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const c = spawn(process.execPath, ['--import', 'tsx', __filename, '--child', String(index), '--runs', String(runs), '--seed', String(seed), ...(process.argv.includes('--no-shrink') ? ['--no-shrink'] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, HASHFLEX_LOG: 'silent' },
    });
    let buf = '';
    let result: Row | undefined;
    let done = 0;
    let stall = setTimeout(() => c.kill('SIGKILL'), stallS * 1000);
    c.stdout.on('data', (d: Buffer) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('progress ')) {
          done = Number(line.slice(9));
          clearTimeout(stall);
          stall = setTimeout(() => c.kill('SIGKILL'), stallS * 1000);
          if (process.stderr.isTTY) process.stderr.write(`\r${name}: ${done}/${runs}   `);
        } else if (line.startsWith('result ')) result = { ...JSON.parse(line.slice(7)), ms: Date.now() - t0 };
      }
    });
    c.on('exit', () => {
      clearTimeout(stall);
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      resolve(result ?? { name, input: '', cases: done, failures: 1, hung: true, maxCaseMs: NaN, stats: {}, ms: Date.now() - t0, repro: { seed, counterexample: `no progress for ${stallS} s after ${done} cases (batches of ${BATCH} from seed ${seed}: batch seed ${seed + Math.floor(done / BATCH)})`, error: 'hang or crash' } });
    });
  });
}

async function main(): Promise<void> {
  const only = arg('only', '');
  const rows: Row[] = [];
  for (let i = 0; i < TARGETS.length; i++) {
    const { name } = TARGETS[i];
    if (only && !only.split(',').some((o) => name.includes(o))) continue;
    rows.push(await runChild(i, name));
  }
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ runs, seed, rows }, null, 2));
  } else {
    const pad = (s: string | number, n: number) => String(s).padEnd(n);
    console.log(`${pad('parser', 20)}${pad('cases', 9)}${pad('failures', 10)}${pad('slowest case', 14)}${pad('peak RSS', 10)}${pad('time', 8)}counters`);
    for (const r of rows) {
      const stats = Object.entries(r.stats).map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`${pad(r.name, 20)}${pad(r.cases, 9)}${pad(r.hung ? 'HUNG' : r.failures, 10)}${pad(`${r.maxCaseMs.toFixed(1)} ms`, 14)}${pad(r.peakRssMb ? `${r.peakRssMb} MB` : '-', 10)}${pad(`${(r.ms / 1000).toFixed(0)} s`, 8)}${stats}`);
    }
    for (const r of rows.filter((x) => x.repro)) console.log(`\n${r.name} FAILED (seed ${r.repro!.seed}${r.repro!.path ? `, path ${r.repro!.path}` : ''}): ${r.repro!.error}\n  input: ${r.repro!.counterexample}`);
    const cases = rows.reduce((s, r) => s + r.cases, 0);
    const failed = rows.filter((r) => r.failures).length;
    console.log(`\n${rows.length} parsers, ${cases} cases, ${failed} failed`);
  }
  process.exit(rows.some((r) => r.failures) ? 1 : 0);
}

const ci = process.argv.indexOf('--child');
if (ci >= 0) void child(Number(process.argv[ci + 1]));
else void main();
