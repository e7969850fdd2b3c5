import fs from 'node:fs';
import path from 'node:path';
import { args, UsageError } from '../agent/cli-args';
import { table, type Stats } from './bench/stats';
import { BUNDLED } from './bench/where';

/**
 * `hashflex bench [NAME] [--json]` (DESIGN.md §6). Timings live here, never in pass/fail tests.
 * Contract names: trip, footprint, surplus, fleet. Additions: hashboard, io, uplink (the
 * per-driver figures each issue reports), meter, scada (the SCADA curtail coil, §6), miners
 * (network miners, §6), openadr (an OpenADR 3 event at a simulated VTN -> obeyed, §6 and §9).
 */
type Flags = {
  miners?: string; warmup?: string; families?: string;
  seconds?: string; agents?: string; iterations?: string; 'poll-ms'?: string; duration?: string; pty?: boolean; 'sim-hosts'?: string;
  /** fleet: also run it over MQTT; 'auto' (a run of every bench): when mosquitto is installed */
  mqtt?: boolean | 'auto';
};
const progress = (s: string) => process.stderr.write(`  ${s}\n`);
const num = (v: string | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${what} must be a number > 0`);
  return n;
};
const count = (v: string | undefined, what: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${what} must be a whole number ≥ 0`);
  return n;
};

/** `checkout`: why the bench needs a development checkout (it cannot run from the board package) */
const BENCHES: Record<string, { about: string; checkout?: string; run: (f: Flags) => Promise<unknown>; show: (r: never) => string }> = {
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
  scada: {
    about: 'agent against the simulated site, 8 boards on ptys: SCADA curtail coil written over Modbus TCP -> all boards off, and the reply at the RTU',
    run: async (f) => (require('./bench/scada') as typeof import('./bench/scada')).benchScada({ iterations: num(f.iterations, 'iterations'), log: progress }),
    show: (r: import('./bench/scada').ScadaBenchResult) =>
      `SCADA curtail coil, ${r.boards} boards over ${r.transport}, ${r.iterations} curtails (ms; target p99 ≤ 10)\n` +
      table([
        row('coil write received -> all boards off (agent)', r.agent),
        row('coil write sent -> reply received (RTU round trip)', r.reply),
        row('coil write sent -> all enable pins low (wire)', r.wire),
        row('read of registers 0-21 (RTU round trip)', r.read),
      ]),
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
    checkout: 'it compares the tsx agent with a bundle built by esbuild and loads scripts/bench/probe.js into it',
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
      }))) +
      `\nthe same scenario with ${r.fleets[0]?.miners ?? 0} network miners and no boards: trimming by power against switching only\n` +
      table(r.fleets.map((p) => ({
        fleet: p.policy, 'used kWh': p.usedKwh.toFixed(1), 'used %': (100 * p.usedShare).toFixed(2),
        'miner kWh': p.minerKwh.toFixed(1), 'import kWh': p.minerImportKwh.toFixed(3), 'import %': (100 * p.importShare).toFixed(3), how: p.about,
      }))),
  },
  fleet: {
    about: 'agents × 4 boards, one controller broadcasts curtail: ack and board-off latency; then release and staggered ramp (--mqtt: WebSocket and MQTT side by side)',
    checkout: 'its sim hosts run from the sources under tsx and its agents from a bundle built by esbuild',
    run: async (f) => {
      const o = {
        agents: num(f.agents, 'agents'), iterations: num(f.iterations, 'iterations'), pollMs: num(f['poll-ms'], 'poll-ms'), pty: f.pty,
        simHosts: count(f['sim-hosts'], 'sim-hosts'), log: progress,
      };
      const mq = require('./bench/fleet-mqtt') as typeof import('./bench/fleet-mqtt');
      // checked first: `--mqtt` without a broker fails before the WebSocket half spends minutes
      const broker = f.mqtt ? mq.mosquittoVersion() : undefined;
      if (f.mqtt === true && !broker) throw new Error('--mqtt needs mosquitto on this machine (apt-get install mosquitto)');
      const ws = await (require('./bench/fleet') as typeof import('./bench/fleet')).benchFleet(o);
      if (!f.mqtt) return ws;
      if (!broker) {
        progress('fleet over MQTT skipped: mosquitto is not installed (apt-get install mosquitto)');
        return { ...ws, mqtt: { skipped: 'mosquitto is not installed' } };
      }
      return { ...ws, mqtt: await mq.benchFleetMqtt(o) };
    },
    show: (r: FleetShown) => {
      const m = r.mqtt && 'curtail' in r.mqtt ? r.mqtt : undefined;
      const head = `fleet, ${r.agents} agents × ${r.boardsPerAgent} boards over ${r.transport}, ${r.iterations} broadcasts, meter every ${r.pollMs} ms, ` +
        `sims in ${r.simHosts ? `${r.simHosts} sim host processes` : 'the bench process'} (ms; target p99 ≤ 100)\n`;
      const rows: [string, (x: import('./bench/fleet').FleetBenchResult) => Pick<Stats, 'p50' | 'p99' | 'max'> & { n?: number }][] = [
        ['curtail broadcast -> agent ack (all its boards off)', (x) => x.curtail.ack],
        ['curtail broadcast -> last ack of the fleet', (x) => x.curtail.lastAck],
        ['curtail broadcast -> board enable pin low', (x) => x.curtail.boardOff],
        ['curtail broadcast -> agent\'s last board off', (x) => x.curtail.agentAllOff],
        ['curtail broadcast -> last board of the fleet off', (x) => x.curtail.lastBoardOff],
        ['agent: curtail received -> all its boards off (its trip event)', (x) => x.curtail.agentReported],
        ['release broadcast -> agent ack', (x) => x.release.ack],
        [`release -> every board powered (stagger ${r.staggerMs} ms)`, (x) => x.release.allPowered],
        ['release -> every board at full clock', (x) => x.release.allFullClock],
        ['bench process (controller): event-loop delay', (x) => x.hostLoopDelayMs],
        [r.simHosts ? 'sim hosts: event-loop delay (worst host)' : 'sims (in the bench process): event-loop delay', (x) => x.simLoopDelayMs],
      ];
      const cpu = (x: import('./bench/fleet').FleetBenchResult, label: string) => x.cpuPct
        ? `\n${label}CPU during the rounds, % of one core (${x.cpuPct.cores} cores): machine ${x.cpuPct.machine} = agents ${x.cpuPct.agents}` +
          ` + sim hosts ${x.cpuPct.simHosts} + bench ${x.cpuPct.bench}${x.cpuPct.broker !== undefined ? ` + broker ${x.cpuPct.broker}` : ''} + other processes ${x.cpuPct.other}`
        : '';
      if (!m) {
        const skipped = r.mqtt && 'skipped' in r.mqtt ? `\nfleet over MQTT skipped: ${r.mqtt.skipped}` : '';
        return head + table(rows.map(([what, get]) => row(what, get(r)))) + cpu(r, '') + skipped;
      }
      return head + `WebSocket: one frame per agent; MQTT: one site-wide publish through ${m.broker ?? 'the broker'} on 127.0.0.1\n` +
        table(rows.map(([what, get]) => {
          const a = get(r), b = get(m);
          return { figure: what, 'WS p50': a.p50, 'WS p99': a.p99, 'WS max': a.max, 'MQTT p50': b.p50, 'MQTT p99': b.p99, 'MQTT max': b.max, ...(a.n !== undefined ? { n: a.n } : {}) };
        })) + cpu(r, 'WS: ') + cpu(m, 'MQTT: ');
    },
  },
  miners: {
    about: 'agent process with 1,000 network miners (stock Antminer, Whatsminer, Avalon and aftermarket LuxOS, Braiins OS+, VNish in equal shares) simulated in other processes: curtail -> every stop accepted at its miner; RSS and CPU while polling every 5 s',
    checkout: 'its miner hosts run from the sources under tsx and its agent from a bundle built by esbuild',
    run: async (f) => (require('./bench/miners') as typeof import('./bench/miners')).benchMiners({
      miners: num(f.miners, 'miners'), iterations: num(f.iterations, 'iterations'), seconds: num(f.seconds, 'seconds'),
      warmupS: count(f.warmup, 'warmup'), simHosts: num(f['sim-hosts'], 'sim-hosts'), log: progress,
      families: f.families === undefined ? undefined : familiesArg(String(f.families)),
    }),
    show: (r: import('./bench/miners').MinersBenchResult) => {
      const c = r.curtail, p = r.polling;
      const fam = (label: string, x: import('./bench/miners').StopFigures) => ({
        figure: label, p50: x.accepted.p50, p99: x.accepted.p99, max: x.accepted.max, n: x.accepted.n,
        'arrived p50/p99': `${x.arrived.p50} / ${x.arrived.p99}`, 'at miner p50/p99': `${x.atMiner.p50} / ${x.atMiner.p99}`,
      });
      return `network miners, ${r.miners} (${Object.entries(r.kinds).map(([k, v]) => `${v} ${k}`).join(', ')}) in ${r.simHosts} miner host processes, ` +
        `${r.iterations} curtails (ms; targets p99 ≤ 250, max ≤ 500)\n` +
        table([
          fam('curtail sent -> stop accepted at its miner (all)', c),
          ...Object.entries(c.byFamily).map(([f, x]) => fam(`  ${f}`, x!)),
          ...(Object.keys(c.byKind).length > Object.keys(c.byFamily).length ? Object.entries(c.byKind).filter(([k]) => k.includes('-')).map(([k, x]) => fam(`    ${k}`, x!)) : []),
          row('curtail sent -> last stop of the site accepted', c.lastAccepted),
          row('curtail sent -> ack at the controller', c.ack),
          row('agent: curtail received -> every stop accepted (its trip event)', c.agent),
          row('agent: trip -> power gone (its settled event)', c.settledMs),
        ]) +
        `\nstops accepted ${c.stopsAccepted}/${c.stopsExpected}, acks ok ${c.acksOk}/${r.iterations}${c.resent ? `, ${c.resent} stop requests sent again` : ''}` +
        `${Object.keys(c.otherTrips).length ? `; other trips: ${Object.entries(c.otherTrips).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}; ` +
        `agent's open files at most ${c.openFdsPeak} during a curtail (limit ${r.agent.openFiles.soft}); CPU from command to ack (median): agent ${c.cpuMs.agent.p50} ms, miner hosts ${c.cpuMs.simHosts.p50} ms; ` +
        `miner hosts' loop delay p99 ${c.simLoopDelayMs.p99} ms, max ${c.simLoopDelayMs.max} ms\n\n` +
        `polling ${r.miners} miners every ${r.minerPollMs / 1000} s, meter every ${r.meterPollMs} ms, telemetry ${p.telemetryPerS}/s (${Math.round(p.telemetryBytes / 1024)} KB a frame), ${p.seconds} s (targets: RSS ≤ 150 MB, CPU ≤ 15 %)\n` +
        table([{
          'RSS steady MB': p.rssMb.steady.toFixed(1), 'RSS peak MB': p.rssMb.peak.toFixed(1), 'CPU %': p.cpuPercent.mean.toFixed(2), 'CPU % p99 (1 s)': p.cpuPercent.p99.toFixed(1),
          'loop delay p50/p99/max ms': p.eventLoopDelayMs ? `${p.eventLoopDelayMs.p50}/${p.eventLoopDelayMs.p99}/${p.eventLoopDelayMs.max}` : '-',
          'GC n / total ms': p.gc ? `${p.gc.count} / ${p.gc.totalMs}` : '-', 'heap MB': p.heapUsedMb ?? '-', 'requests/s at the miners': p.requestsPerS, 'open files': p.openFds,
        }]) +
        `\nCPU over the window, % of one core (${p.cpuPct.cores} cores): machine ${p.cpuPct.machine} = agent ${p.cpuPct.agent} + miner hosts ${p.cpuPct.simHosts} + bench ${p.cpuPct.bench} + other processes ${p.cpuPct.other}` +
        `\n/metrics: ${r.metrics.lines} samples, ${Math.round(r.metrics.bytes / 1024)} KB, ${r.metrics.ms} ms`;
    },
  },
  openadr: {
    about: 'agent against the simulated site and a simulated OpenADR 3 VTN on loopback: event created at the VTN -> all boards off, polling and with webhook notifications',
    run: async (f) => (require('./bench/openadr') as typeof import('./bench/openadr')).benchOpenAdr({ iterations: num(f.iterations, 'iterations'), log: progress }),
    show: (r: import('./bench/openadr').OpenAdrBenchResult) =>
      `OpenADR event -> obeyed, ${r.boards} boards over ${r.transport}, ${r.iterations} ALERT_GRID_EMERGENCY events a series (ms)\n` +
      table(r.series.flatMap((s) => [
        { ...row(`${s.mode} (poll_s ${s.pollS}): event created at the VTN -> all boards off`, s.obeyed), target: `p99 ≤ ${s.targetMs}`, met: s.met ? 'yes' : 'NO' },
        row(`${s.mode}: curtail received -> all boards off (agent)`, s.agent),
        row(`${s.mode}: event deleted at the VTN -> a board on again`, s.release),
      ])) +
      `\n${r.series.map((s) => `${s.mode}: ${s.obeyedEvents}/${s.events} events obeyed with trip source openadr` +
        (s.notificationsDelivered !== undefined ? `, ${s.notificationsDelivered} notifications delivered` : '')).join('; ')}`,
  },
  uplink: {
    about: 'journal throughput and resend of 10,000 queued frames',
    run: async () => (require('./bench-uplink') as typeof import('./bench-uplink')).benchUplink({}),
    show: (r: unknown) => JSON.stringify(r, null, 2),
  },
};

type FleetShown = import('./bench/fleet').FleetBenchResult & { mqtt?: import('./bench/fleet').FleetBenchResult | { skipped: string } };

function row(what: string, s: Pick<Stats, 'p50' | 'p99' | 'max'> & { n?: number }) {
  return { figure: what, p50: s.p50, p99: s.p99, max: s.max, ...(s.n !== undefined ? { n: s.n } : {}) };
}

/**
 * Flags: --json (print JSON instead of tables), --out FILE (merge results into FILE, keyed by
 * bench, with the machine they came from; `npm run bench` writes bench/results.json),
 * --seconds S (footprint window, default 60), --duration S (surplus, default the scenario's 24 h),
 * --agents N / --iterations N / --pty / --sim-hosts N (fleet; 0 = sims in the bench process),
 * --mqtt (fleet: the same fleet over MQTT through a local Mosquitto too, side by side; a run of
 * every bench does so whenever mosquitto is installed, and says so when it is not), --poll-ms MS
 * (surplus: hashflex's meter period; fleet: the agents'), --miners N / --warmup S (miners: how
 * many simulated miners, default 1,000; warm-up before its polling window, default 20 s; its
 * --seconds is that window, --iterations the curtails, --sim-hosts the miner host processes,
 * --families a,b the firmware families, default all).
 */
function familiesArg(list: string): import('./bench/miner-host').MinerFamily[] {
  const { FAMILY_NAMES } = require('../sim/miners/families') as typeof import('../sim/miners/families');
  const names = list.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = names.find((x) => !(FAMILY_NAMES as string[]).includes(x));
  if (bad !== undefined || !names.length) throw new UsageError(`--families: a comma-separated list of ${FAMILY_NAMES.join(', ')}${bad ? ` (not "${bad}")` : ''}`);
  return names as import('./bench/miner-host').MinerFamily[];
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = args(argv, {
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
    seconds: { type: 'string' }, duration: { type: 'string' }, agents: { type: 'string' }, iterations: { type: 'string' },
    'poll-ms': { type: 'string' }, pty: { type: 'boolean' }, 'sim-hosts': { type: 'string' }, mqtt: { type: 'boolean' },
    miners: { type: 'string' }, warmup: { type: 'string' }, families: { type: 'string' },
  }, Object.keys(BENCHES).length);
  for (const n of positionals) if (!BENCHES[n]) throw new UsageError(`unknown bench "${n}" (have: ${Object.keys(BENCHES).join(', ')})`);
  // the board package holds the agent, not the repository: benches built on it are left out
  const elsewhere = BUNDLED ? (positionals.length ? positionals : Object.keys(BENCHES)).filter((n) => BENCHES[n].checkout) : [];
  if (positionals.length && elsewhere.length) throw new UsageError(`bench ${elsewhere[0]} runs from a development checkout, not the board package: ${BENCHES[elsewhere[0]].checkout}`);
  for (const n of elsewhere) process.stderr.write(`bench ${n} skipped: it runs from a development checkout, not the board package\n`);
  const names = (positionals.length ? positionals : Object.keys(BENCHES)).filter((n) => !elsewhere.includes(n));
  process.env.HASHFLEX_LOG ??= 'error';
  const results: Record<string, unknown> = {};
  let failed = 0;
  for (const n of names) {
    process.stderr.write(`bench ${n}: ${BENCHES[n].about}\n`);
    try {
      // every bench (`npm run bench`): the fleet over MQTT too, when mosquitto is there
      const flags: Flags = { ...values, mqtt: values.mqtt ?? (positionals.length ? undefined : 'auto') };
      results[n] = { at: new Date().toISOString(), ...(await BENCHES[n].run(flags) as object) };
    } catch (e) {
      // a bad flag is bad usage (exit 2), whichever bench read it
      if (e instanceof UsageError) throw e;
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
