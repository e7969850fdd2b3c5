import fs from 'node:fs';
import path from 'node:path';
import { args, UsageError } from '../agent/cli';
import { table, type Stats } from './bench/stats';

/**
 * `hashflex bench [NAME] [--json]` (DESIGN.md §6). Timings live here, never in pass/fail tests.
 * Contract names: trip, footprint, surplus, fleet. Additions: hashboard, io, uplink (the
 * per-driver figures each issue reports), meter.
 */
type Flags = { seconds?: string; agents?: string; iterations?: string; 'poll-ms'?: string; duration?: string; pty?: boolean };
const progress = (s: string) => process.stderr.write(`  ${s}\n`);
const num = (v: string | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${what} must be a number > 0`);
  return n;
};

const BENCHES: Record<string, { about: string; run: (f: Flags) => Promise<unknown>; show: (r: never) => string }> = {
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
  footprint: {
    about: 'agent process, 8 boards on ptys, meter every 50 ms, telemetry 1 Hz: RSS, CPU, event-loop delay, GC (tsx and bundled)',
    run: async (f) => (require('./bench/footprint') as typeof import('./bench/footprint')).benchFootprint({ seconds: num(f.seconds, 'seconds'), log: progress }),
    show: (r: import('./bench/footprint').FootprintBenchResult) =>
      `footprint, ${r.boards} boards over ${r.transport}, meter every ${r.pollMs} ms, telemetry 1 Hz (targets: RSS ≤ 80 MB, CPU ≤ 5 %)\n` +
      table(r.runs.map((x) => ({
        form: x.form + (x.nodeArgs.length ? ` (${x.nodeArgs.join(' ')})` : ''), 's': x.seconds, 'RSS steady MB': x.rssMb.steady.toFixed(1), 'RSS peak MB': x.rssMb.peak.toFixed(1),
        'CPU %': x.cpuPercent.mean.toFixed(2), 'CPU % p99 (1 s)': x.cpuPercent.p99.toFixed(1),
        'loop delay p50/p99/max ms': x.eventLoopDelayMs ? `${x.eventLoopDelayMs.p50}/${x.eventLoopDelayMs.p99}/${x.eventLoopDelayMs.max}` : '-',
        'GC n / total / max ms': x.gc ? `${x.gc.count} / ${x.gc.totalMs} / ${x.gc.max}` : '-',
        'heap MB': x.heapUsedMb ?? '-', 'polls/s': x.meterPollsPerS, 'telemetry/s': x.telemetryPerS,
      }))),
  },
  surplus: {
    about: 'wind-surplus-24h in virtual time: hashflex surplus mode against a 1 s (OpenEMS-like) and a 30 s + delays (evcc-like) baseline',
    run: async (f) => (require('./bench/surplus') as typeof import('./bench/surplus')).benchSurplus({
      durationS: num(f.duration, 'duration'), pollMs: num(f['poll-ms'], 'poll-ms'), log: progress,
    }),
    show: (r: import('./bench/surplus').SurplusBenchResult) =>
      `surplus following, ${r.scenario} (${r.durationS / 3600} h), ${r.boards} boards × ${r.chips} chips (targets: ≥ 97 % used, ≤ 1 % import)\n` +
      table(r.policies.map((p) => ({
        policy: p.policy, 'surplus kWh': p.surplusKwh.toFixed(1), 'used kWh': p.usedKwh.toFixed(1), 'used %': (100 * p.usedShare).toFixed(2),
        'miner kWh': p.minerKwh.toFixed(1), 'import kWh': p.minerImportKwh.toFixed(3), 'import %': (100 * p.importShare).toFixed(3),
        switchings: p.switchings, how: p.about,
      }))),
  },
  fleet: {
    about: 'agents × 4 boards, one controller broadcasts curtail: ack and board-off latency; then release and staggered ramp',
    run: async (f) => (require('./bench/fleet') as typeof import('./bench/fleet')).benchFleet({
      agents: num(f.agents, 'agents'), iterations: num(f.iterations, 'iterations'), pollMs: num(f['poll-ms'], 'poll-ms'), pty: f.pty, log: progress,
    }),
    show: (r: import('./bench/fleet').FleetBenchResult) =>
      `fleet, ${r.agents} agents × ${r.boardsPerAgent} boards over ${r.transport}, ${r.iterations} broadcasts, meter every ${r.pollMs} ms (ms; target p99 ≤ 100)\n` +
      table([
        row('curtail broadcast -> agent ack (all its boards off)', r.curtail.ack),
        row('curtail broadcast -> board enable pin low', r.curtail.boardOff),
        row('curtail broadcast -> agent\'s last board off', r.curtail.agentAllOff),
        row('curtail broadcast -> last board of the fleet off', r.curtail.lastBoardOff),
        row('agent: curtail received -> all its boards off (its trip event)', r.curtail.agentReported),
        row('release broadcast -> agent ack', r.release.ack),
        row(`release -> every board powered (stagger ${r.staggerMs} ms)`, r.release.allPowered),
        row('release -> every board at full clock', r.release.allFullClock),
        row('bench host (controller + all sims): event-loop delay', r.hostLoopDelayMs),
      ]),
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

/**
 * Flags: --json (print JSON instead of tables), --out FILE (merge results into FILE, keyed by
 * bench, with the machine they came from; `npm run bench` writes bench/results.json),
 * --seconds S (footprint window, default 60), --duration S (surplus, default the scenario's 24 h),
 * --agents N / --iterations N / --pty (fleet), --poll-ms MS (surplus: hashflex's meter period;
 * fleet: the agents').
 */
export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, {
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
    seconds: { type: 'string' }, duration: { type: 'string' }, agents: { type: 'string' }, iterations: { type: 'string' },
    'poll-ms': { type: 'string' }, pty: { type: 'boolean' },
  }, Object.keys(BENCHES).length);
  const names = positionals.length ? positionals : Object.keys(BENCHES);
  for (const n of names) if (!BENCHES[n]) throw new UsageError(`unknown bench "${n}" (have: ${Object.keys(BENCHES).join(', ')})`);
  process.env.HASHFLEX_LOG ??= 'error';
  const results: Record<string, unknown> = {};
  let failed = 0;
  for (const n of names) {
    process.stderr.write(`bench ${n}: ${BENCHES[n].about}\n`);
    try {
      results[n] = { at: new Date().toISOString(), ...(await BENCHES[n].run(values) as object) };
    } catch (e) {
      // one broken bench does not cost the others' figures; the run still exits 1
      failed++;
      process.stderr.write(`bench ${n} failed: ${(e as Error).stack ?? e}\n`);
      continue;
    }
    if (!values.json) process.stdout.write(`${BENCHES[n].show(results[n] as never)}\n\n`);
    // written after every bench, so a long run that fails late keeps what it measured
    if (values.out) writeResults(values.out, { [n]: results[n] });
  }
  if (values.json) process.stdout.write(`${JSON.stringify({ machine: machine(), results }, null, 2)}\n`);
  return failed ? 1 : 0;
}

/** Merge into FILE: benches not run this time keep their last figures (each with its own `at`). */
export function writeResults(file: string, results: Record<string, unknown>): void {
  let old: { results?: Record<string, unknown> } = {};
  try {
    old = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch { /* first run, or unreadable: start afresh */ }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const doc = { machine: machine(), updated: new Date().toISOString(), results: { ...old.results, ...results } };
  fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
}

export function machine() {
  const os = require('node:os') as typeof import('node:os');
  return {
    node: process.version, platform: `${os.platform()} ${os.release()}`, arch: os.arch(),
    cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30),
  };
}
