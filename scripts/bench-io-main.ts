import { benchIo, type LatencyStats } from './bench-io';

/**
 * `hashflex bench io` as a program, with the knobs the CLI does not offer:
 *   npx tsx scripts/bench-io-main.ts [--iterations 300] [--boards 8] [--tcp] [--json]
 *
 * Its own file, never imported: a module that also runs as a program (`require.main === module`)
 * would run inside the board bundle too, where that test is true for every module it holds.
 */
const args = process.argv.slice(2);
const val = (k: string) => { const i = args.indexOf(k); return i >= 0 ? Number(args[i + 1]) : undefined; };
benchIo({ iterations: val('--iterations'), boards: val('--boards'), usePty: !args.includes('--tcp') }).then((r) => {
  if (args.includes('--json')) process.stdout.write(`${JSON.stringify(r)}\n`);
  else {
    const line = (name: string, s: LatencyStats) => `${name.padEnd(44)} p50 ${s.p50} ms  p99 ${s.p99} ms  max ${s.max} ms  (n=${s.n})`;
    process.stdout.write(`I/O board relay trip, ${r.boards} boards over ${r.transport}\n`);
    process.stdout.write(`${line('relay in -> all enable writes handed to OS', r.relayToWritten)}\n`);
    process.stdout.write(`${line('relay in -> board parsed last enable write', r.relayToBoard)}\n`);
  }
}, (e) => { process.stderr.write(`bench-io: ${(e as Error).message}\n`); process.exit(1); });
