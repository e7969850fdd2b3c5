import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startSimController, type SimController } from '../../sim/controller';
import { startSimMeter, type SimMeter } from '../../sim/meter';
import { Plant } from '../../sim/plant';
import { SIM_FAMILIES } from '../../sim/miners/families';
import { agentBundle, type Bundle } from './bundle';
import { waiters } from './fleet';
import { serviceLaunch } from './footprint';
import type { MinerFamily, MinerHostIn, MinerHostOut, MinerHostStatus, MinerKind, PlannedMiner, StopStamp } from './miner-host';
import { cpuPercent, cpuWindow, sampleProc, type ProcSample } from './proc';
import { monoMs, type LoopDelay } from './sim-host';
import { stats, type Stats } from './stats';

/**
 * `hashflex bench miners` (DESIGN.md §6, network miners): the agent in its own process, as the
 * board runs it (the bundle under deploy/hashflex.service's node flags and environment), with
 * N network miners in its config (default 1,000, the families in equal shares: stock Antminer,
 * Whatsminer half on API v2 and half on v3, Avalon, and the aftermarket LuxOS, Braiins OS+ and
 * VNish), each driven by its real driver over loopback TCP/HTTP/gRPC to a simulated miner on an
 * address of its own (127.40.x.y Antminer, 127.41 Whatsminer, 127.42 Avalon, 127.43 LuxOS,
 * 127.44 Braiins, 127.45 VNish; another block of x where a run beside it holds the first). The simulators run in `--sim-hosts` child processes (miner-host.ts), never in the
 * agent's; the grid meter (Modbus TCP) and the site controller (WebSocket) in this one.
 *
 *  1. Polling: once every miner is identified and hashing and a warm-up has passed, RSS and CPU
 *     of the agent from /proc over `seconds`, every miner polled every 5 s (its default), the
 *     meter every 50 ms and telemetry (with its thousand `network_miners`) once a second to the
 *     controller, journal on disk, info logs to a file, the local server up: what a site runs.
 *  2. Curtails: the controller sends `curtail` (the uplink command, as a site gets it) and every
 *     miner host stamps when each miner's stop request arrived and when its API answered it, on
 *     the machine's monotonic clock; figures from the command's send. Also the agent's own
 *     (its trip event: curtail received -> every stop accepted), the ack, and the `settled`
 *     event (power gone at the miners' readings and the meter). Then `release`, and the next
 *     curtail once every miner hashes again and the agent has polled it.
 *
 * What the bench changes from a real site, so that curtails can repeat in minutes: the
 * simulated machines wake in `wakeMs` (5 s, not 30-90 s), and control's miner_min_on_ms /
 * miner_min_off_ms / board_on_delay_ms are 0 and stagger_ms 10 (a trip sheds at once whatever
 * they are; they only pace the way back). Stopping takes its real 4-5 s.
 */
export interface MinersBenchOptions {
  miners?: number;
  /** curtails (default 5) */
  iterations?: number;
  /** polling window (s, default 60) */
  seconds?: number;
  /** warm-up before the window (s, default 20) */
  warmupS?: number;
  /** miner host processes (default 4) */
  simHosts?: number;
  /** the agent's meter.poll_ms (default 50, the config's) */
  meterPollMs?: number;
  /** extra node options for the agent (profiling: ['--cpu-prof', '--cpu-prof-dir=DIR']) */
  nodeArgs?: string[];
  /** the firmware families, in equal shares (default every family with a driver and a simulator) */
  families?: MinerFamily[];
  /** keep the agent's log and data here instead of a temp dir removed after */
  keepDir?: string;
  log?: (s: string) => void;
}

export interface StopFigures {
  /** curtail sent -> the stop's reply handed to the socket at the miner: "accepted by its API" */
  accepted: Stats;
  /** curtail sent -> the stop's first byte at the miner (the agent's part and the wire) */
  arrived: Stats;
  /** first byte -> reply, at the miner (the simulated firmware's part, queueing included) */
  atMiner: Stats;
}

export interface MinersBenchResult {
  miners: number;
  families: Partial<Record<MinerFamily, number>>;
  kinds: Partial<Record<MinerKind, number>>;
  simHosts: number;
  minerPollMs: number;
  meterPollMs: number;
  iterations: number;
  agent: { source: string; nodeArgs: string[]; env: Record<string, string>; openFiles: { soft: number; hard: number } };
  curtail: StopFigures & {
    /** per curtail: the last miner's stop accepted */
    lastAccepted: Stats;
    /** curtail sent -> the agent's ack at the controller (sent once every stop is accepted) */
    ack: Stats;
    /** the agent's own figure: curtail received -> every stop accepted (its trip event's latency_ms) */
    agent: Stats;
    /** the agent's `settled` event: trip -> power gone at the miners' readings and the meter (ms) */
    settledMs: Stats;
    byFamily: Partial<Record<MinerFamily, StopFigures>>;
    byKind: Partial<Record<MinerKind, StopFigures>>;
    /** stops the miners answered / stops expected (miners × iterations); acks with ok:true */
    stopsAccepted: number;
    stopsExpected: number;
    acksOk: number;
    /** stop requests sent more than once (a refused nonce or token, then again) */
    resent: number;
    /** trips by any other source during the run, by source (none expected) */
    otherTrips: Record<string, number>;
    ackErrors: string[];
    /** the agent's open file descriptors: most seen while a curtail was in flight */
    openFdsPeak: number;
    /**
     * CPU time used from the command's send to its ack, per curtail (ms): the agent, and the
     * miner hosts together (on one machine the simulated miners' own work competes with the agent's)
     */
    cpuMs: { agent: Stats; simHosts: Stats };
    simLoopDelayMs: LoopDelay;
  };
  polling: {
    seconds: number;
    rssMb: { steady: number; peak: number; min: number; max: number };
    cpuPercent: { mean: number; p50: number; p99: number; max: number };
    /** requests answered by the simulated miners per second, all and per kind */
    requestsPerS: number;
    requestsPerSByKind: Partial<Record<MinerKind, number>>;
    telemetryPerS: number;
    /** one telemetry frame, as the controller got it (bytes) */
    telemetryBytes: number;
    openFds: number;
    eventLoopDelayMs?: { p50: number; p99: number; max: number; mean: number };
    gc?: { count: number; totalMs: number; p50: number; p99: number; max: number };
    heapUsedMb?: number;
    timeline: { s: number; rssMb: number; heapUsedMb?: number }[];
    /** % of one core over the window: the machine, the agent, the miner hosts, this process, and others */
    cpuPct: { cores: number; machine: number; agent: number; simHosts: number; bench: number; other: number };
  };
  /** one GET /metrics after the window */
  metrics: { bytes: number; lines: number; ms: number };
}

const TOKEN = 'miners-bench-token';
const AGENT_ID = 'miners-bench';
const ROOT = path.join(__dirname, '..', '..');
export const MINERS_WAKE_MS = 5000;
/** the stock families first, then the aftermarket firmware (each family's octet: 127.(40 + its place)) */
const FAMILIES: MinerFamily[] = ['antminer', 'whatsminer', 'avalon', 'luxos', 'braiins', 'vnish'];

/** the families whose driver and simulator are both in this tree (others are still being written) */
export function availableFamilies(): MinerFamily[] {
  const { isMinerDriver } = require('../../drivers/miner') as typeof import('../../drivers/miner');
  return FAMILIES.filter((f) => {
    if (!isMinerDriver(f)) return false;
    try {
      require.resolve(`../../sim/miners/${f}`);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * N miners in equal shares of the families (the first ones get the remainder), Whatsminer
 * alternating v2 / v3; a family's i-th miner on 127.(40+f).(block + i / 250).(i % 250 + 1)
 */
export function planMiners(n: number, families: MinerFamily[] = availableFamilies(), block = 0): PlannedMiner[] {
  if (!families.length) throw new Error('bench miners: no miner family has both a driver and a simulator yet');
  const out: PlannedMiner[] = [];
  families.forEach((family, fi) => {
    const count = Math.floor(n / families.length) + (fi < n % families.length ? 1 : 0);
    const octet = 40 + FAMILIES.indexOf(family);
    for (let i = 0; i < count; i++) {
      const kind: MinerKind = family === 'whatsminer' ? (i % 2 ? 'whatsminer-v3' : 'whatsminer-v2') : family;
      out.push({ id: `${SIM_FAMILIES[family].prefix}-${String(i).padStart(3, '0')}`, family, kind, host: `127.${octet}.${block + Math.floor(i / 250)}.${(i % 250) + 1}` });
    }
  });
  return out;
}

/** the open-file limits of a process (/proc/PID/limits) */
export function openFileLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  try {
    const line = fs.readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line?.match(/(\d+|unlimited)\s+(\d+|unlimited)/)?.slice(1) ?? []).map((x) => (x === 'unlimited' ? Infinity : Number(x)));
    return { soft: soft ?? NaN, hard: hard ?? NaN };
  } catch {
    return { soft: NaN, hard: NaN };
  }
}

function openFds(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

export async function benchMiners(o: MinersBenchOptions = {}): Promise<MinersBenchResult> {
  const n = o.miners ?? 1000;
  const iterations = o.iterations ?? 5;
  const seconds = o.seconds ?? 60;
  const warmupS = o.warmupS ?? 20;
  const meterPollMs = o.meterPollMs ?? 50;
  const log = o.log ?? (() => {});
  let plan = await freePlan(n, false, o.families);
  const nHosts = Math.max(1, Math.min(n, o.simHosts ?? 4));
  // Node raises its soft open-file limit to the hard one at start: the hard limit is what counts.
  // The agent holds a socket per miner during a curtail (and per poll in flight), a host a
  // listener or two per miner
  const limits = openFileLimits();
  const need = 2 * n + 512;
  if (limits.hard < need) {
    throw new Error(`bench miners: the open-file limit (${limits.hard}) is below the ${need} that ${n} miners need: raise it (ulimit -Hn ${4 * n}, or prlimit --nofile=${4 * n} hashflex bench miners)`);
  }
  const w = waiters();
  const dir = o.keepDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-miners-'));
  fs.mkdirSync(dir, { recursive: true });
  const plant = new Plant();
  const hosts: HostLink[] = [];
  const hostKw = new Map<number, number>();
  let meter: SimMeter | undefined;
  let ctl: SimController | undefined;
  let agent: ChildProcess | undefined;
  let bundle: Bundle | undefined;
  try {
    // ---- the miners, in their hosts (another block of addresses if a run beside this one took
    // some of these between the check and the listen)
    const webPort = await canBind('127.40.255.1', 80) ? 80 : 8080;
    let ready: { id: string; ports: Record<string, number> }[] = [];
    for (let attempt = 1; ; attempt++) {
      const groups = Array.from({ length: nHosts }, (_, h) => plan.filter((_, i) => i % nHosts === h));
      groups.forEach((_, h) => hosts.push(childHost((m) => {
        if (m.type === 'kw') {
          hostKw.set(h, m.kw);
          plant.baseLoadKw = [...hostKw.values()].reduce((a, b) => a + b, 0);
        }
      })));
      try {
        ready = (await Promise.all(hosts.map((h, i) => h.request({ type: 'start', miners: groups[i], webPort, wakeMs: MINERS_WAKE_MS, tickMs: 200, kwEveryMs: 250 }, 'ready'))))
          .flatMap((r) => (r as Extract<MinerHostOut, { type: 'ready' }>).miners);
        break;
      } catch (e) {
        if (attempt >= 3 || !/EADDRINUSE/.test((e as Error).message)) throw e;
        await Promise.allSettled(hosts.splice(0).map((h) => h.close()));
        plan = await freePlan(n, true, o.families);
      }
    }
    const portsOf = new Map(ready.map((r) => [r.id, r.ports]));
    log(`${n} simulated miners in ${nHosts} host processes (${countBy(plan, (p) => p.kind)})`);

    // ---- meter and controller here, the agent in its own process
    meter = await startSimMeter({ plant, model: 'sdm630', unit: 1 });
    const c = await startSimController({ token: TOKEN, keep: 5, commandTimeoutMs: 60_000 });
    ctl = c;
    const ratedKw = plan.length * 3.5;
    const localPort = await freePort();
    const doc = {
      agent: { id: AGENT_ID },
      meter: { model: 'sdm630', tcp: meter.tcp, unit: 1, poll_ms: meterPollMs, stale_ms: Math.max(1000, 4 * meterPollMs) },
      miners: plan.map((p) => {
        const ports = portsOf.get(p.id) ?? {};
        // a web server not on the firmware's 80 (the bench may not bind it) is named in the config
        return { id: p.id, host: p.host, driver: p.family, ...(ports.web !== undefined && ports.web !== 80 ? { ports: { web: ports.web } } : {}) };
      }),
      grid: { nominal_hz: 60 },
      control: { mode: 'setpoint', setpoint_kw: ratedKw, max_kw: ratedKw, stagger_ms: 10, board_on_delay_ms: 0, miner_min_on_ms: 0, miner_min_off_ms: 0 },
      uplink: { url: c.url, token: TOKEN },
      local: { listen: `127.0.0.1:${localPort}` },
      storage: { dir: path.join(dir, 'storage') },
    };
    const file = path.join(dir, 'agent.yaml');
    fs.writeFileSync(file, YAML.stringify(doc));
    bundle = await agentBundle();
    const unit = serviceLaunch(fs.readFileSync(path.join(ROOT, 'deploy', 'hashflex.service'), 'utf8'));
    const env = { ...unit.env, ...bundle.env };
    const nodeArgs = [...unit.nodeArgs, ...(o.nodeArgs ?? [])];
    const probeOut = path.join(dir, 'probe.json');
    let latest: Record<string, any> | undefined;
    let telemetryFrames = 0;
    const trips: number[] = [];
    const settled: { ms: number; ok: boolean }[] = [];
    /** trips the bench did not ask for (a meter-lost trip would say the agent's loop stalled) */
    const otherTrips: Record<string, number> = {};
    c.on('telemetry', (f: Record<string, any>) => { latest = f; telemetryFrames++; w.poke(); });
    c.on('event', (e: { kind?: string; source?: string; latency_ms?: number; ms?: number; ok?: boolean }) => {
      if (e.kind === 'trip' && e.source === 'command' && typeof e.latency_ms === 'number') trips.push(e.latency_ms);
      else if (e.kind === 'trip' && e.source) otherTrips[e.source] = (otherTrips[e.source] ?? 0) + 1;
      if (e.kind === 'settled' && e.source === 'command' && typeof e.ms === 'number') settled.push({ ms: e.ms, ok: e.ok === true });
      w.poke();
    });
    c.on('hello', () => w.poke());
    agent = spawn(process.execPath, [...nodeArgs, '-r', path.join(__dirname, 'probe.js'), bundle.file, 'run', '-c', file], {
      stdio: ['ignore', 'ignore', 'inherit'],
      // as systemd starts the service: PATH and the unit's variables, nothing else of the bench's
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, HASHFLEX_LOG_FILE: path.join(dir, 'agent.log'), HASHFLEX_PROBE_OUT: probeOut },
    });
    const pid = agent.pid!;
    const a = agent;
    const agentLimits = openFileLimits(pid);
    a.once('exit', () => w.poke());
    const alive = () => a.exitCode === null && a.signalCode === null;
    const agentSeesAll = () => {
      const nm = latest?.network_miners as { on: boolean; state: string; fault?: string }[] | undefined;
      return !!nm && nm.length === n && nm.every((m) => m.on && m.state === 'hashing' && !m.fault);
    };
    const agentNot = () => {
      const nm = (latest?.network_miners ?? []) as { id: string; state: string; fault?: string }[];
      const bad = nm.filter((m) => m.state !== 'hashing' || m.fault);
      return `${nm.length} miners in telemetry, ${bad.length} not hashing: ${bad.slice(0, 5).map((m) => `${m.id} ${m.state}${m.fault ? ` (${m.fault})` : ''}`).join('; ')}`;
    };
    const status = async (): Promise<MinerHostStatus> => {
      const all = (await Promise.all(hosts.map((h) => h.request({ type: 'status' }, 'status')))) as unknown as MinerHostStatus[];
      return {
        total: sum(all.map((s) => s.total)), stopped: sum(all.map((s) => s.stopped)), notHashing: all.flatMap((s) => s.notHashing).slice(0, 8),
        states: all.reduce<Record<string, number>>((acc, s) => { for (const [k, v] of Object.entries(s.states)) acc[k] = (acc[k] ?? 0) + v; return acc; }, {}),
      };
    };
    const untilSims = async (cond: (s: MinerHostStatus) => boolean, timeoutMs: number, what: string) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const s = await status();
        if (cond(s)) return;
        if (!alive()) throw new Error('bench miners: the agent exited');
        if (Date.now() > end) throw new Error(`bench miners: timed out waiting for ${what} (${JSON.stringify(s.states)}; ${s.notHashing.join(', ')})`);
        await sleep(250);
      }
    };
    /** every simulated miner hashing, then a telemetry frame showing the agent has polled them all so */
    const untilReady = async (what: string) => {
      await untilSims((s) => (s.states.hashing ?? 0) === n, 180_000, `every simulated miner hashing (${what})`);
      const after = telemetryFrames;
      await w.when(() => !alive() || (telemetryFrames > after && agentSeesAll()), 120_000, () => `the agent to see every miner hashing (${what}): ${agentNot()}`);
      if (!alive()) throw new Error('bench miners: the agent exited');
    };

    await w.when(() => !alive() || c.agents.get(AGENT_ID)?.connected, 120_000, 'the agent to connect');
    if (!alive()) throw new Error(`bench miners: the agent exited (${a.exitCode ?? a.signalCode}); see ${path.join(dir, 'agent.log')}`);
    await untilReady('start');
    log(`agent up, every miner identified and hashing; warm-up ${warmupS} s`);
    await sleep(warmupS * 1000);

    // ---- 1. polling: RSS and CPU over the window
    process.kill(pid, 'SIGUSR2'); // the probe starts its figures afresh
    const counts0 = await requestCounts(hosts);
    const frames0 = telemetryFrames;
    const cpu = cpuWindow({ agent: [pid], simHosts: hosts.map((h) => h.pid).filter((p): p is number => p !== undefined), bench: [process.pid] });
    const samples: ProcSample[] = [];
    const fds: number[] = [];
    const first = sampleProc(pid);
    if (!first) throw new Error('bench miners: the agent is gone');
    samples.push(first);
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      const s = sampleProc(pid);
      if (!s) throw new Error('bench miners: the agent died during the window');
      samples.push(s);
      fds.push(openFds(pid));
    }
    const used = cpu.stop();
    const frames1 = telemetryFrames;
    // the probe writes its figures every 5 s: the first write after the window covers it (and at
    // most 5 s more of the same polling), before any curtail
    const windowEnd = Date.now();
    for (let i = 0; i < 70 && !(fs.existsSync(probeOut) && fs.statSync(probeOut).mtimeMs > windowEnd); i++) await sleep(100);
    const probe = fs.existsSync(probeOut) ? JSON.parse(fs.readFileSync(probeOut, 'utf8')) : {};
    const last = samples[samples.length - 1];
    const windowS = (last.at - first.at) / 1000;
    const counts1 = await requestCounts(hosts);
    const telemetryBytes = latest ? Buffer.byteLength(JSON.stringify(latest)) : 0;
    const rss = stats(samples.map((s) => s.rssMb));
    const slices = samples.slice(1).map((s, i) => cpuPercent(samples[i], s));
    const r2 = (x: number) => Math.round(x * 100) / 100;
    const perS = (k: MinerKind) => r2(((counts1[k] ?? 0) - (counts0[k] ?? 0)) / windowS);
    const kinds = [...new Set(plan.map((p) => p.kind))];
    log(`polling: rss ${rss.p50.toFixed(1)} MB, cpu ${cpuPercent(first, last).toFixed(2)} % over ${windowS.toFixed(0)} s`);

    // ---- 2. curtails
    const ids = new Set(plan.map((p) => p.id));
    const all: { s: StopStamp; t0: number }[] = [];
    const lastAccepted: number[] = [], acks: number[] = [], ackErrors: string[] = [];
    let acksOk = 0, resent = 0, fdPeak = 0;
    const agentCpuMs: number[] = [], hostsCpuMs: number[] = [];
    const hostPids = hosts.map((h) => h.pid).filter((p): p is number => p !== undefined);
    const cpuS = (pids: number[]) => sum(pids.map((p) => sampleProc(p)?.cpuS ?? 0));
    for (const h of hosts) h.send({ type: 'eld', on: true });
    for (let it = 0; it < iterations; it++) {
      if (it > 0) await untilReady(`before curtail ${it + 1}`);
      await Promise.all(hosts.map((h) => h.request({ type: 'arm' }, 'stops')));
      const trips0 = trips.length, settled0 = settled.length;
      const cpu0 = { agent: cpuS([pid]), hosts: cpuS(hostPids) };
      const fdTimer = setInterval(() => { fdPeak = Math.max(fdPeak, openFds(pid) || 0); }, 50);
      const t0 = monoMs();
      const acked = c.command(AGENT_ID, 'curtail');
      fdPeak = Math.max(fdPeak, openFds(pid) || 0); // at least what it holds when the command goes
      const ack = await acked;
      const tAck = monoMs();
      clearInterval(fdTimer);
      agentCpuMs.push(1000 * (cpuS([pid]) - cpu0.agent));
      hostsCpuMs.push(1000 * (cpuS(hostPids) - cpu0.hosts));
      acks.push(tAck - t0);
      if (ack.ok) acksOk++;
      else ackErrors.push(ack.error ?? 'ack ok:false');
      await w.when(() => trips.length > trips0, 30_000, 'the agent\'s trip event');
      // every stop has answered before the agent could ack; a refused one is in the ack
      let stops: StopStamp[] = [];
      for (let k = 0; k < 20; k++) {
        stops = await collect(hosts, 'collect');
        if (new Set(stops.map((s) => s.id)).size >= ids.size || !ack.ok) break;
        await sleep(250);
      }
      // per miner its last stop request: an earlier one refused (a stale nonce) was sent again
      const byId = new Map<string, StopStamp>();
      for (const s of stops) byId.set(s.id, s);
      resent += stops.length - byId.size;
      for (const s of byId.values()) all.push({ s, t0 });
      lastAccepted.push(Math.max(...[...byId.values()].map((s) => s.answeredAt - t0)));
      log(`curtail ${it + 1}: ${byId.size}/${n} stops accepted, last ${lastAccepted[lastAccepted.length - 1].toFixed(1)} ms after the command, ack ${(tAck - t0).toFixed(1)} ms (${ack.ok ? 'ok' : ack.error}), agent ${trips[trips.length - 1].toFixed(1)} ms`);
      // the stops carried out (an Avalon's softoff acts at its stamp, up to 2 s on), then the power gone
      await untilSims((s) => s.stopped === n, 30_000, 'every simulated miner stopping');
      await w.when(() => settled.length > settled0 || !alive(), 330_000, 'the agent\'s settled event');
      await Promise.all(hosts.map((h) => h.request({ type: 'disarm' }, 'stops')));
      if (it < iterations - 1) {
        const r = await c.command(AGENT_ID, 'release');
        if (!r.ok) throw new Error(`bench miners: release refused: ${r.error}`);
      }
    }
    const simLoop = await Promise.all(hosts.map((h) => h.request({ type: 'eld', on: false }, 'eld'))) as unknown as LoopDelay[];

    // ---- /metrics, once
    const m0 = performance.now();
    const metricsText = await fetch(`http://127.0.0.1:${localPort}/metrics`).then((r) => r.text());
    const metricsMs = performance.now() - m0;

    // ---- stop the agent (it leaves the miners as they are) and read its probe
    await stop(a);
    const figures = (xs: { s: StopStamp; t0: number }[]): StopFigures => ({
      accepted: stats(xs.map((x) => x.s.answeredAt - x.t0)),
      arrived: stats(xs.map((x) => x.s.arrivedAt - x.t0)),
      atMiner: stats(xs.map((x) => x.s.answeredAt - x.s.arrivedAt)),
    });
    const families = [...new Set(plan.map((p) => p.family))];
    const every = 30;
    const heap: { s: number; heapUsedMb: number }[] = probe.timeline ?? [];
    return {
      miners: n,
      families: Object.fromEntries(families.map((f) => [f, plan.filter((p) => p.family === f).length])),
      kinds: Object.fromEntries(kinds.map((k) => [k, plan.filter((p) => p.kind === k).length])),
      simHosts: nHosts, minerPollMs: 5000, meterPollMs, iterations,
      agent: { source: `${bundle.source}, as deploy/hashflex.service runs it`, nodeArgs, env, openFiles: agentLimits },
      curtail: {
        ...figures(all),
        lastAccepted: stats(lastAccepted),
        ack: stats(acks),
        agent: stats(trips),
        settledMs: stats(settled.filter((x) => x.ok).map((x) => x.ms)),
        byFamily: Object.fromEntries(families.map((f) => [f, figures(all.filter((x) => x.s.family === f))])),
        byKind: Object.fromEntries(kinds.map((k) => [k, figures(all.filter((x) => x.s.kind === k))])),
        stopsAccepted: all.length, stopsExpected: n * iterations, acksOk, resent, ackErrors: ackErrors.slice(0, 5), otherTrips,
        openFdsPeak: fdPeak,
        cpuMs: { agent: stats(agentCpuMs), simHosts: stats(hostsCpuMs) },
        simLoopDelayMs: { p50: Math.max(...simLoop.map((d) => d.p50)), p99: Math.max(...simLoop.map((d) => d.p99)), max: Math.max(...simLoop.map((d) => d.max)) },
      },
      polling: {
        seconds: r2(windowS),
        rssMb: { steady: rss.p50, peak: r2(last.hwmMb), min: r2(Math.min(...samples.map((s) => s.rssMb))), max: rss.max },
        cpuPercent: { mean: r2(cpuPercent(first, last)), p50: stats(slices).p50, p99: stats(slices).p99, max: stats(slices).max },
        requestsPerS: r2(sum(kinds.map((k) => (counts1[k] ?? 0) - (counts0[k] ?? 0))) / windowS),
        requestsPerSByKind: Object.fromEntries(kinds.map((k) => [k, perS(k)])),
        telemetryPerS: r2((frames1 - frames0) / windowS),
        telemetryBytes,
        openFds: Math.max(...fds.filter(Number.isFinite)),
        eventLoopDelayMs: probe.eventLoopDelayMs, gc: probe.gc, heapUsedMb: probe.heapUsedMb,
        timeline: samples.filter((_, i) => i % every === 0 || i === samples.length - 1).map((x) => {
          const s = Math.round((x.at - first.at) / 1000);
          const h = heap.reduce<typeof heap[number] | undefined>((best, p) => (Math.abs(p.s - s) <= every / 2 && (!best || Math.abs(p.s - s) < Math.abs(best.s - s)) ? p : best), undefined);
          return { s, rssMb: r2(x.rssMb), heapUsedMb: h?.heapUsedMb };
        }),
        cpuPct: {
          cores: used.cores, machine: used.machine, agent: used.groups.agent, simHosts: used.groups.simHosts, bench: used.groups.bench,
          other: Math.round(10 * Math.max(0, used.machine - used.groups.agent - used.groups.simHosts - used.groups.bench)) / 10,
        },
      },
      metrics: { bytes: Buffer.byteLength(metricsText), lines: metricsText.split('\n').filter((l) => l && !l.startsWith('#')).length, ms: r2(metricsMs) },
    };
  } finally {
    if (agent) await stop(agent);
    await Promise.allSettled(hosts.map((h) => h.close()));
    await meter?.close();
    await ctl?.close();
    bundle?.cleanup();
    if (!o.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A plan on loopback addresses nobody listens on: another run of this bench on the machine (a
 * test suite's small one beside a full one) takes other blocks of 127.40-42.x.
 */
async function freePlan(n: number, elsewhere = false, only?: MinerFamily[]): Promise<PlannedMiner[]> {
  const families = only ?? availableFamilies();
  const blocks = Math.ceil(Math.ceil(n / families.length) / 250);
  for (let attempt = 0; attempt < 20; attempt++) {
    const block = attempt === 0 && !elsewhere ? 0 : 1 + Math.floor(Math.random() * (254 - blocks));
    const plan = planMiners(n, families, block);
    if ((await Promise.all(plan.map((p) => canBind(p.host, 4028)))).every(Boolean)) return plan;
  }
  throw new Error('bench miners: no free block of loopback addresses in 127.40-45.x (other runs of this bench?)');
}

async function collect(hosts: HostLink[], type: 'collect' | 'disarm'): Promise<StopStamp[]> {
  const all = await Promise.all(hosts.map((h) => h.request({ type }, 'stops')));
  return all.flatMap((r) => (r as Extract<MinerHostOut, { type: 'stops' }>).stops);
}

async function requestCounts(hosts: HostLink[]): Promise<Partial<Record<MinerKind, number>>> {
  const all = await Promise.all(hosts.map((h) => h.request({ type: 'counts' }, 'counts')));
  const out: Partial<Record<MinerKind, number>> = {};
  for (const r of all) for (const [k, v] of Object.entries((r as Extract<MinerHostOut, { type: 'counts' }>).requests)) out[k as MinerKind] = (out[k as MinerKind] ?? 0) + v;
  return out;
}

function countBy<T>(xs: T[], key: (x: T) => string): string {
  const m = new Map<string, number>();
  for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return [...m].map(([k, v]) => `${v} ${k}`).join(', ');
}

/** SIGTERM, and SIGKILL if it has not exited within 30 s (it closes a thousand drivers first) */
function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.once('exit', () => { clearTimeout(t); resolve(); });
    p.kill('SIGTERM');
  });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** whether this process may listen on `port` (80 needs root or CAP_NET_BIND_SERVICE) */
function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** One miner host: a child process over IPC. */
interface HostLink {
  pid?: number;
  send(m: MinerHostIn): void;
  request(m: MinerHostIn, reply: MinerHostOut['type']): Promise<MinerHostOut>;
  close(): Promise<void>;
}

function childHost(onOther: (m: MinerHostOut) => void): HostLink {
  // tsx for the TypeScript sources; a `--cpu-prof` given to the bench applies to the hosts too
  const p = fork(path.join(__dirname, 'miner-host-main.ts'), [], {
    execArgv: ['-r', require.resolve('tsx/cjs'), ...process.execArgv.filter((a) => a.startsWith('--cpu-prof'))],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const replies: { type: string; resolve(m: MinerHostOut): void; reject(e: Error): void }[] = [];
  const fail = (e: Error) => { for (const r of replies.splice(0)) r.reject(e); };
  p.on('message', (m: MinerHostOut) => {
    if (m.type === 'error') return fail(new Error(`miner host: ${m.message}`));
    const i = replies.findIndex((r) => r.type === m.type);
    if (i >= 0) replies.splice(i, 1)[0].resolve(m);
    else onOther(m);
  });
  p.on('exit', (code, signal) => fail(new Error(`miner host exited (${signal ?? code})`)));
  p.on('error', (e) => fail(e));
  return {
    pid: p.pid,
    send: (m) => { if (p.connected) p.send(m); },
    request: (m, type) => new Promise((resolve, reject) => {
      if (!p.connected) return reject(new Error('miner host is gone'));
      replies.push({ type, resolve, reject });
      p.send(m);
    }),
    async close() {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      if (p.connected) p.send({ type: 'close' });
      const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

