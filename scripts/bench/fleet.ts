import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import YAML from 'yaml';
import { startSimController, type AckFrame } from '../../sim/controller';
import type { SimBoard } from '../../sim/plant';
import { agentBundle, type Bundle } from './bundle';
import { cpuWindow } from './proc';
import { loopDelay, monoMs, SimHost, watchProp, type HostIn, type HostOut, type BoardStatus, type LoopDelay, type SiteReady } from './sim-host';
import { stats, type Stats } from './stats';

/**
 * `hashflex bench fleet`: 32 agents, each its own `node` process running the bundled agent (as
 * boards do) against its own simulated site of 4 boards, all reporting to one site controller.
 * The controller broadcasts `curtail` (one frame per agent, as sim/controller.ts `command('*')`)
 * and the bench times, from the broadcast:
 *  - each agent's ack (sent by the agent only once all its boards are off, DESIGN.md §4);
 *  - each board's enable pin seen low by its simulated I/O board, and the last one of all.
 * Then `release`: acks, and the staggered ramp back to every board on and at full clock.
 *
 * The simulated sites run in a few child processes (sim-host.ts, `--sim-hosts`, default 4),
 * the controller in this one. Each sim host stamps a board's pin change where it happens, on
 * CLOCK_MONOTONIC (`monoMs`), which this process shares; nothing here polls or spins, so the
 * bench's own process stays idle between the frames it times. `--sim-hosts 0` runs every sim
 * in this process (the bench's first layout, for comparison).
 *
 * startFleet() and runRounds() are shared with the MQTT form (fleet-mqtt.ts): the two differ
 * only by the uplink.
 */
export interface FleetBenchResult {
  agents: number;
  boardsPerAgent: number;
  /** the wire between agents and simulated boards: tcp or pty */
  transport: string;
  /** the agents' uplink: websocket (one frame per agent) or mqtt (one site-wide publish) */
  uplink: 'websocket' | 'mqtt';
  /** MQTT: the broker (`mosquitto -h`'s version line) */
  broker?: string;
  pollMs: number;
  iterations: number;
  /** child processes running the simulated sites; 0 = all in the bench's own process */
  simHosts: number;
  curtail: { ack: Stats; lastAck: Stats; boardOff: Stats; agentAllOff: Stats; lastBoardOff: Stats; agentReported: Stats };
  release: { ack: Stats; allPowered: Stats; allFullClock: Stats };
  staggerMs: number;
  /** event-loop delay of this process (the controller) during the rounds (ms beyond the 10 ms sampling timer) */
  hostLoopDelayMs: LoopDelay;
  /** the same for the sim hosts: the worst host's p50, p99 and max (with simHosts 0, this process) */
  simLoopDelayMs: LoopDelay;
  /**
   * CPU use during the rounds, in % of one core: the agent processes together, the sim hosts
   * together, this process (controller; with simHosts 0, every sim too), the broker (MQTT), the
   * whole machine (`cores` × 100 is flat out), and the rest of the machine: other processes
   */
  cpuPct: { cores: number; machine: number; agents: number; simHosts: number; bench: number; broker?: number; other: number };
}

export interface FleetOptions {
  agents?: number;
  boards?: number;
  iterations?: number;
  /** agents' meter.poll_ms (default 50, the config default) */
  pollMs?: number;
  /** serve chains and I/O boards over ptys (socat) instead of TCP */
  pty?: boolean;
  /** child processes for the simulated sites (default 4, at most one per agent); 0 = in this process */
  simHosts?: number;
  log?: (s: string) => void;
}

const TOKEN = 'fleet-bench-token';
export const STAGGER_MS = 2000;
export const DEFAULT_SIM_HOSTS = 4;

export async function benchFleet(o: FleetOptions = {}): Promise<FleetBenchResult> {
  const w = waiters();
  const ctl = await startSimController({ token: TOKEN, commandTimeoutMs: 30_000, keep: 100 });
  const reported: number[] = [];
  // the agents' own figure (trip event latency_ms: command received -> all boards off), which
  // splits the broadcast time into the way there (socket, scheduling) and the agent's work
  ctl.on('event', (e: { kind?: string; source?: string; latency_ms?: number }) => {
    if (e.kind === 'trip' && e.source === 'command' && typeof e.latency_ms === 'number') reported.push(e.latency_ms);
  });
  ctl.on('connection', () => w.poke());
  ctl.on('disconnect', () => w.poke());
  let fleet: Fleet | undefined;
  try {
    fleet = await startFleet({ ...o, waiters: w, uplink: () => ({ url: ctl.url, token: TOKEN }) });
    const f = fleet;
    await w.when(() => f.ids.every((id) => ctl.agents.get(id)?.connected), 120_000, 'every agent connected');
    return await runRounds(f, {
      name: 'websocket',
      reported,
      async broadcast(action) {
        const acks = new Map<string, number>();
        const onAck = (_a: AckFrame, agentId: string) => acks.set(agentId, monoMs());
        ctl.on('ack', onAck);
        const t0 = monoMs();
        try {
          const all = await ctl.command('*', action);
          const bad = all.find((a) => !a.ok);
          if (bad) throw new Error(`bench: ${action} refused: ${JSON.stringify(bad)}`);
        } finally {
          ctl.off('ack', onAck);
        }
        return { t0, acks };
      },
    }, o);
  } finally {
    await fleet?.close();
    await ctl.close();
  }
}

/** How a bench reaches the agents: the WebSocket controller or an MQTT client. */
export interface FleetUplink {
  name: FleetBenchResult['uplink'];
  broker?: string;
  /**
   * Send `action` to every agent at once; resolve once every agent has acked (ok), with the
   * broadcast time and each agent's ack time (both monoMs, taken as the frames go and come).
   */
  broadcast(action: 'curtail' | 'release'): Promise<{ t0: number; acks: Map<string, number> }>;
  /** the agents' own trip latencies (their trip events' latency_ms), filled as they arrive */
  reported: number[];
  /** the broker's process, for its CPU use */
  brokerPid?: number;
}

/** Condition waits driven by events (board changes, acks), with no polling loop. */
export interface Waiters {
  when(cond: () => unknown, timeoutMs: number, what: string | (() => string)): Promise<void>;
  /** something changed: re-check every pending condition */
  poke(): void;
}

export function waiters(): Waiters {
  const pending = new Set<() => void>();
  return {
    when(cond, timeoutMs, what) {
      if (cond()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!cond()) return;
          pending.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          pending.delete(check);
          reject(new Error(`bench: timed out waiting for ${typeof what === 'string' ? what : what()}`));
        }, timeoutMs);
        pending.add(check);
      });
    },
    poke() {
      for (const check of [...pending]) check();
    },
  };
}

/** A running fleet: sims (in sim hosts) and agent processes, with each board's latest state. */
export interface Fleet {
  ids: string[];
  boardKeys: string[];
  transport: 'pty' | 'tcp';
  simHosts: number;
  pollMs: number;
  pids: { agents: number[]; simHosts: number[] };
  /** when each board's enable line last went low / high (monoMs at the sim), since cleared */
  offAt: Map<string, number>;
  onAt: Map<string, number>;
  /** boards hashing at full clock now */
  full: Set<string>;
  /** when the last board to reach full clock got there (monoMs at the sim) */
  lastFullAt: number;
  waiters: Waiters;
  /** sample every sim host's event-loop delay from now until stopLoopDelay() */
  startLoopDelay(): void;
  /** every board's state at its sim (for timeout messages) */
  status(): Promise<BoardStatus[]>;
  stopLoopDelay(): Promise<LoopDelay>;
  close(): Promise<void>;
}

export interface StartFleetOptions extends FleetOptions {
  waiters: Waiters;
  /** the `uplink:` section of agent `id`'s config */
  uplink(id: string): Record<string, unknown>;
}

/**
 * Start the simulated sites (in `simHosts` child processes, or here with 0), then one bundled
 * agent process per site, configured for setpoint mode at full power (every board on, at full
 * clock, once it has ramped) with `uplink(id)` as its uplink. Does not wait for the uplink.
 */
export async function startFleet(o: StartFleetOptions): Promise<Fleet> {
  const nAgents = o.agents ?? 32;
  const nBoards = o.boards ?? 4;
  const pollMs = o.pollMs ?? 50;
  const nHosts = Math.min(nAgents, o.simHosts ?? DEFAULT_SIM_HOSTS);
  const log = o.log ?? (() => {});
  const w = o.waiters;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-fleet-'));
  const ids = Array.from({ length: nAgents }, (_, i) => `agent-${String(i).padStart(2, '0')}`);
  const hosts: HostLink[] = [];
  const agents: ChildProcess[] = [];
  let bundle: Bundle | undefined;
  const enabled = new Map<string, boolean>();
  const fleet: Fleet = {
    ids, boardKeys: [], transport: 'tcp', simHosts: nHosts, pollMs, pids: { agents: [], simHosts: [] },
    offAt: new Map(), onAt: new Map(), full: new Set(), lastFullAt: NaN, waiters: w,
    startLoopDelay: () => { for (const h of hosts) h.send({ type: 'eld', on: true }); },
    async stopLoopDelay() {
      const all = await Promise.all(hosts.map((h) => h.request({ type: 'eld', on: false }, 'eld')));
      const worst = (k: keyof LoopDelay) => Math.max(...all.map((d) => (d as LoopDelay)[k]));
      return { p50: worst('p50'), p99: worst('p99'), max: worst('max') };
    },
    async status() {
      const all = await Promise.all(hosts.map((h) => h.request({ type: 'status' }, 'status')));
      return all.flatMap((r) => (r as { boards: BoardStatus[] }).boards);
    },
    async close() {
      await Promise.all(agents.map((a) => stop(a)));
      await Promise.allSettled(hosts.map((h) => h.close()));
      bundle?.cleanup();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  const onBoard = (m: Extract<HostOut, { type: 'board' }>) => {
    if (enabled.get(m.key) !== m.enabled) {
      enabled.set(m.key, m.enabled);
      (m.enabled ? fleet.onAt : fleet.offAt).set(m.key, m.at);
    }
    if (m.full) {
      fleet.full.add(m.key);
      if (fleet.full.size === fleet.boardKeys.length) fleet.lastFullAt = m.at;
    } else fleet.full.delete(m.key);
    w.poke();
  };
  try {
    bundle = await agentBundle();
    const per = Math.ceil(nAgents / Math.max(1, nHosts));
    const groups = nHosts === 0 ? [ids] : Array.from({ length: nHosts }, (_, h) => ids.slice(h * per, (h + 1) * per)).filter((g) => g.length);
    hosts.push(...groups.map(() => (nHosts === 0 ? inProcessHost(onBoard) : childHost(onBoard))));
    const ready = (await Promise.all(hosts.map((h, i) => h.request({
      type: 'start', sites: groups[i].map((id) => ({ id, dir: path.join(root, id) })), boards: nBoards, chips: 16, pty: o.pty ?? false, tickMs: 100,
    }, 'ready')))).flatMap((r) => (r as { sites: SiteReady[] }).sites);
    fleet.transport = ready[0]?.transport ?? 'tcp';
    fleet.pids.simHosts = hosts.map((h) => h.pid).filter((p): p is number => p !== undefined);
    for (const site of ready) {
      fleet.boardKeys.push(...site.boards.map((b) => `${site.id}/${b}`));
      const dir = path.join(root, site.id);
      const doc = site.config as Record<string, any>;
      doc.agent.id = site.id;
      doc.uplink = o.uplink(site.id);
      doc.meter.poll_ms = pollMs;
      doc.meter.stale_ms = Math.max(1000, 4 * pollMs);
      doc.control = { mode: 'setpoint', setpoint_kw: 1000, max_kw: 1000, stagger_ms: STAGGER_MS };
      const file = path.join(dir, 'agent.yaml');
      fs.writeFileSync(file, YAML.stringify(doc));
      const a = spawn(process.execPath, [bundle.file, 'run', '-c', file], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, ...bundle.env, HASHFLEX_LOG: 'warn', HASHFLEX_LOG_FILE: path.join(dir, 'agent.log') },
      });
      agents.push(a);
      if (a.pid !== undefined) fleet.pids.agents.push(a.pid);
    }
    log(`${nAgents} agents started, sims in ${nHosts ? `${hosts.length} sim host process${hosts.length === 1 ? '' : 'es'}` : 'the bench process'}`);
    return fleet;
  } catch (e) {
    await fleet.close();
    throw e;
  }
}

/**
 * The measured rounds, the same for every uplink: once every board hashes at full clock,
 * `iterations` × (curtail, every board off; release, every board back at full clock).
 */
export async function runRounds(fleet: Fleet, up: FleetUplink, o: FleetOptions): Promise<FleetBenchResult> {
  const iterations = o.iterations ?? 10;
  const log = o.log ?? (() => {});
  const w = fleet.waiters;
  const n = fleet.boardKeys.length;
  const allFull = () => fleet.full.size === n;
  const untilAllFull = (what: string) => w.when(allFull, 120_000, what).catch(async (e: Error) => {
    const st = await fleet.status().catch(() => []);
    const not = st.filter((b) => !fleet.full.has(b.key));
    throw new Error(`${e.message} (${not.length} not yet: ${not.slice(0, 6).map((b) => `${b.key} enabled ${b.enabled} active ${b.active} ${b.mhz} MHz ${b.tempC} °C`).join('; ')})`);
  });
  await untilAllFull('every board hashing at full clock');
  log(`every board hashing (${up.name})`);

  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  fleet.startLoopDelay();
  const cpu = cpuWindow({ agents: fleet.pids.agents, simHosts: fleet.pids.simHosts, bench: [process.pid], broker: up.brokerPid ? [up.brokerPid] : [] });
  const acks: number[] = [], lastAck: number[] = [], off: number[] = [], agentOff: number[] = [], lastOff: number[] = [];
  const relAcks: number[] = [], powered: number[] = [], fullClock: number[] = [];
  for (let it = 0; it < iterations; it++) {
    fleet.offAt.clear();
    const c = await up.broadcast('curtail');
    await w.when(() => fleet.offAt.size >= n, 10_000, 'every board off');
    const a = [...c.acks.values()].map((t) => t - c.t0);
    acks.push(...a);
    lastAck.push(Math.max(...a));
    off.push(...[...fleet.offAt.values()].map((t) => t - c.t0));
    for (const id of fleet.ids) {
      agentOff.push(Math.max(...[...fleet.offAt].filter(([k]) => k.startsWith(`${id}/`)).map(([, t]) => t - c.t0)));
    }
    lastOff.push(Math.max(...fleet.offAt.values()) - c.t0);

    fleet.onAt.clear();
    const r = await up.broadcast('release');
    relAcks.push(...[...r.acks.values()].map((t) => t - r.t0));
    await w.when(() => fleet.onAt.size >= n, 60_000, 'every board powered');
    powered.push(Math.max(...fleet.onAt.values()) - r.t0);
    await untilAllFull('every board at full clock again');
    fullClock.push(fleet.lastFullAt - r.t0);
    log(`${up.name} round ${it + 1}: last ack ${lastAck[lastAck.length - 1].toFixed(1)} ms, last board off ${lastOff[lastOff.length - 1].toFixed(1)} ms, full clock again after ${(fullClock[fullClock.length - 1] / 1000).toFixed(1)} s`);
  }
  eld.disable();
  const used = cpu.stop();
  const sims = await fleet.stopLoopDelay();
  const host = loopDelay(eld);
  return {
    agents: fleet.ids.length, boardsPerAgent: n / fleet.ids.length, transport: fleet.transport, uplink: up.name,
    ...(up.broker ? { broker: up.broker } : {}),
    pollMs: fleet.pollMs, iterations, simHosts: fleet.simHosts, staggerMs: STAGGER_MS,
    curtail: { ack: stats(acks), lastAck: stats(lastAck), boardOff: stats(off), agentAllOff: stats(agentOff), lastBoardOff: stats(lastOff), agentReported: stats(up.reported) },
    release: { ack: stats(relAcks), allPowered: stats(powered), allFullClock: stats(fullClock) },
    hostLoopDelayMs: host,
    simLoopDelayMs: fleet.simHosts ? sims : host,
    cpuPct: {
      cores: used.cores, machine: used.machine, agents: used.groups.agents, simHosts: used.groups.simHosts, bench: used.groups.bench,
      ...(up.brokerPid ? { broker: used.groups.broker } : {}),
      other: Math.round(10 * Math.max(0, used.machine - Object.values(used.groups).reduce((a, b) => a + b, 0))) / 10,
    },
  };
}

/** One sim host as the fleet sees it: a child process over IPC, or a SimHost in this process. */
interface HostLink {
  /** the child's pid; undefined in this process */
  pid?: number;
  send(m: HostIn): void;
  request(m: HostIn, reply: HostOut['type']): Promise<HostOut>;
  close(): Promise<void>;
}

function childHost(onBoard: (m: Extract<HostOut, { type: 'board' }>) => void): HostLink {
  // tsx for the TypeScript sources; a `--cpu-prof` given to the bench applies to the hosts too
  const p = fork(path.join(__dirname, 'sim-host-main.ts'), [], {
    execArgv: ['-r', require.resolve('tsx/cjs'), ...process.execArgv.filter((a) => a.startsWith('--cpu-prof'))],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const replies: { type: string; resolve(m: HostOut): void; reject(e: Error): void }[] = [];
  const fail = (e: Error) => { for (const r of replies.splice(0)) r.reject(e); };
  p.on('message', (m: HostOut) => {
    if (m.type === 'board') return onBoard(m);
    if (m.type === 'error') return fail(new Error(`sim host: ${m.message}`));
    const i = replies.findIndex((r) => r.type === m.type);
    if (i >= 0) replies.splice(i, 1)[0].resolve(m);
  });
  p.on('exit', (code, signal) => fail(new Error(`sim host exited (${signal ?? code})`)));
  p.on('error', (e) => fail(e));
  return {
    pid: p.pid,
    send: (m) => { if (p.connected) p.send(m); },
    request: (m, type) => new Promise((resolve, reject) => {
      if (!p.connected) return reject(new Error('sim host is gone'));
      replies.push({ type, resolve, reject });
      p.send(m);
    }),
    async close() {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      if (p.connected) p.send({ type: 'close' });
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

function inProcessHost(onBoard: (m: Extract<HostOut, { type: 'board' }>) => void): HostLink {
  const replies: { type: string; resolve(m: HostOut): void }[] = [];
  const host = new SimHost((m) => {
    if (m.type === 'board') return onBoard(m);
    const i = replies.findIndex((r) => r.type === m.type);
    if (i >= 0) replies.splice(i, 1)[0].resolve(m);
  });
  return {
    send: (m) => void host.handle(m),
    request: (m, type) => new Promise((resolve, reject) => {
      replies.push({ type, resolve });
      host.handle(m).catch(reject);
    }),
    close: () => host.close(),
  };
}

/**
 * Observe a simulated board's enable line: the simulated I/O board sets `enabled` the moment
 * it parses the digital write, so wrapping the accessor timestamps the pin change at the sim
 * (monoMs, comparable across processes).
 */
export function watchEnable(b: SimBoard, cb: (on: boolean, at: number) => void): void {
  watchProp(b, 'enabled', (on) => cb(on, monoMs()));
}

export function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.once('exit', () => { clearTimeout(t); resolve(); });
    p.kill('SIGTERM');
  });
}
