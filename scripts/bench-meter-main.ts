import { benchMeter, type PollStats } from './bench-meter';

/**
 * `hashflex bench meter` as a program, with the knob the CLI does not offer:
 *   npx tsx scripts/bench-meter-main.ts [--n 300] [--json]
 *
 * Its own file, never imported: a module that also runs as a program (`require.main === module`)
 * would run inside the board bundle too, where that test is true for every module it holds.
 */
process.env.HASHFLEX_LOG ??= 'error';
const args = process.argv.slice(2);
const i = args.indexOf('--n');
benchMeter({ n: i >= 0 ? Number(args[i + 1]) : undefined }).then((r) => {
  if (args.includes('--json')) { process.stdout.write(`${JSON.stringify(r)}\n`); return; }
  const line = (name: string, s: PollStats) => `${name.padEnd(46)} p50 ${s.p50} ms  p99 ${s.p99} ms  max ${s.max} ms  (n=${s.n})`;
  process.stdout.write('meter poll latency: Hz + W block read (20 registers), SDM630 sim\n');
  process.stdout.write(`${line('Modbus TCP, loopback', r.tcp)}\n`);
  process.stdout.write(`${line('RTU on a pty, 115200 baud line time', r.rtu115200)}\n`);
  process.stdout.write(`${line('RTU on a pty, 9600 baud line time', r.rtu9600)}\n`);
  process.stdout.write(`${line('RTU on a pty, unpaced', r.rtuUnpaced)}\n`);
  process.stdout.write(`${line('TCP meter at poll_ms 50: sample interval', r.tcpAt50)}  ${r.tcpAt50.perSecond}/s\n`);
}, (e) => { process.stderr.write(`bench-meter: ${(e as Error).stack}\n`); process.exit(1); });
