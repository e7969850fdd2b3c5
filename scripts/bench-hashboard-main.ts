import { benchHashboardTrip } from './bench-hashboard';

/**
 * `hashflex bench hashboard` as a program, with the knobs the CLI does not offer:
 *   npx tsx scripts/bench-hashboard-main.ts [--boards N] [--chips N] [--iterations N] [--tcp] [--json]
 *
 * Its own file, never imported: a module that also runs as a program (`require.main === module`)
 * would run inside the board bundle too, where that test is true for every module it holds.
 */
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : undefined;
};
benchHashboardTrip({ boards: arg('boards'), iterations: arg('iterations'), chips: arg('chips'), usePty: process.argv.includes('--tcp') ? false : undefined }).then(
  (r) => {
    if (process.argv.includes('--json')) console.log(JSON.stringify(r));
    else console.log(`${r.what}\n  ${r.boards} boards × ${r.chips} chips over ${r.transport}, ${r.iterations} trips\n  received: p50 ${r.p50} ms  p99 ${r.p99} ms  max ${r.max} ms\n  handed to OS: p50 ${r.handed.p50} ms  p99 ${r.handed.p99} ms  max ${r.handed.max} ms`);
    process.exit(0);
  },
  (e) => { console.error(e); process.exit(1); },
);
