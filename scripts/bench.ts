import { args, UsageError } from '../agent/cli';
import { table, type Stats } from './bench/stats';

/**
 * `hashflex bench [NAME] [--json]` (DESIGN.md §6). Timings live here, never in pass/fail tests.
 * Contract names: trip, footprint, surplus, fleet. Additions: hashboard, io, uplink (the
 * per-driver figures each issue reports), meter.
 */
const BENCHES: Record<string, { about: string; run: () => Promise<unknown>; show: (r: never) => string }> = {
  trip: {
    about: 'agent against the simulated site, 8 boards on ptys: trip signal -> all boards off, per source',
    run: async () => (require('./bench/trip') as typeof import('./bench/trip')).benchTrip({ log: (s) => process.stderr.write(`  ${s}\n`) }),
    show: (r: import('./bench/trip').TripBenchResult) =>
      `trip latency, ${r.boards} boards over ${r.transport} (ms)\n` +
      table(Object.entries(r.sources).flatMap(([source, f]) => [
        row(`${source}: received -> all boards off (agent)`, f.agent),
        row(`${source}: ${source === 'underfrequency' ? 'sim crosses trip_hz' : 'signal sent'} -> all enable pins low (wire)`, f.wire),
      ])),
  },
  hashboard: {
    about: '8 chains on ptys: trip() -> chain-inactive received by every simulated chain',
    run: async () => (require('./bench-hashboard') as typeof import('./bench-hashboard')).benchHashboardTrip({}),
    show: (r: import('./bench-hashboard').HashboardBenchResult) =>
      `hashboard trip, ${r.boards} boards × ${r.chips} chips over ${r.transport} (ms)\n` + table([row('trip() -> chain inactive at every chain', r)]),
  },
  io: {
    about: 'Firmata I/O board, 8 enable lines: relay message in -> all enable writes handed to the OS',
    run: async () => (require('./bench-io') as typeof import('./bench-io')).benchIo({}),
    show: (r: import('./bench-io').IoBenchResult) =>
      `I/O board relay trip, ${r.boards} boards over ${r.transport} (ms)\n` +
      table([row('relay in -> all enable writes handed to OS', r.relayToWritten), row('relay in -> board parsed last enable write', r.relayToBoard)]),
  },
  meter: {
    about: 'meter poll latency over Modbus TCP and RTU (pty, line time at 115200 and 9600 baud)',
    run: async () => (require('./bench-meter') as typeof import('./bench-meter')).benchMeter({}),
    show: (r: import('./bench-meter').MeterBenchResult) =>
      'meter poll latency (ms)\n' +
      table([row('Modbus TCP', r.tcp), row('RTU 115200', r.rtu115200), row('RTU 9600', r.rtu9600), row('TCP poll_ms 50: interval between samples', r.tcpAt50)]),
  },
  uplink: {
    about: 'journal throughput and resend of 10,000 queued frames',
    run: async () => (require('./bench-uplink') as typeof import('./bench-uplink')).benchUplink({}),
    show: (r: unknown) => JSON.stringify(r, null, 2),
  },
};

function row(what: string, s: Pick<Stats, 'p50' | 'p99' | 'max'> & { n?: number }) {
  return { figure: what, p50: s.p50, p99: s.p99, max: s.max, ...(s.n !== undefined ? { n: s.n } : {}) };
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, { json: { type: 'boolean', default: false } }, 1);
  const names = positionals.length ? positionals : Object.keys(BENCHES);
  for (const n of names) if (!BENCHES[n]) throw new UsageError(`unknown bench "${n}" (have: ${Object.keys(BENCHES).join(', ')})`);
  process.env.HASHFLEX_LOG ??= 'error';
  const results: Record<string, unknown> = {};
  for (const n of names) {
    process.stderr.write(`bench ${n}: ${BENCHES[n].about}\n`);
    results[n] = await BENCHES[n].run();
    if (!values.json) process.stdout.write(`${BENCHES[n].show(results[n] as never)}\n\n`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ machine: machine(), results }, null, 2)}\n`);
  return 0;
}

function machine() {
  const os = require('node:os') as typeof import('node:os');
  return { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30) };
}
