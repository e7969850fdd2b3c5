import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import YAML from 'yaml';
import { startSimController, type AckFrame } from '../../sim/controller';
import type { SimBoard } from '../../sim/plant';
import type { Scenario } from '../../sim/scenarios/types';
import { SimSite } from '../../sim/site';
import { agentBundle } from './bundle';
import { stats, type Stats } from './stats';

/**
 * `hashflex bench fleet`: 32 agents, each its own `node` process running the bundled agent (as
 * boards do) against its own simulated site of 4 boards, all reporting to one site controller.
 * The controller broadcasts `curtail` (one frame per agent, as sim/controller.ts `command('*')`)
 * and the bench times, from the broadcast:
 *  - each agent's ack (sent by the agent only once all its boards are off, DESIGN.md §4);
 *  - each board's enable pin seen low by its simulated I/O board, and the last one of all.
 * Then `release`: acks, and the staggered ramp back to every board on and at full clock.
 * The simulated sites all live in this process (the controller too); the agents' CPU and the
 * sims' share the machine, which makes these figures an upper bound for a real fleet where
 * every agent has its own board.
 */
export interface FleetBenchResult {
  agents: number;
  boardsPerAgent: number;
  transport: string;
  pollMs: number;
  iterations: number;
  curtail: { ack: Stats; boardOff: Stats; agentAllOff: Stats; lastBoardOff: Stats; agentReported: Stats };
  release: { ack: Stats; allPowered: Stats; allFullClock: Stats };
  staggerMs: number;
  /**
   * event-loop delay of this process (controller + every simulated site) during the broadcasts
   * (ms beyond the 10 ms sampling timer): a pin change waits this long to be seen
   */
  hostLoopDelayMs: { p50: number; p99: number; max: number };
}

export interface FleetOptions {
  agents?: number;
  boards?: number;
  iterations?: number;
  /** agents' meter.poll_ms (default 50, the config default) */
  pollMs?: number;
  /** serve chains and I/O boards over ptys (socat) instead of TCP */
  pty?: boolean;
  log?: (s: string) => void;
}

const TOKEN = 'fleet-bench-token';
/** BM1366 stock 485 MHz less one of control's 12.5 MHz split steps: where a full board settles */
const FULL_MHZ = 485 - 12.5;

export async function benchFleet(o: FleetOptions = {}): Promise<FleetBenchResult> {
  const nAgents = o.agents ?? 32;
  const nBoards = o.boards ?? 4;
  const iterations = o.iterations ?? 10;
  const pollMs = o.pollMs ?? 50;
  const staggerMs = 2000;
  const log = o.log ?? (() => {});
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hashflex-fleet-'));
  const point = { hz: 60, generationKw: 1000, baseLoadKw: 0, relay: false };
  const steady: Scenario = { name: 'fleet', description: 'steady surplus', durationS: Infinity, at: () => point };
  const ctl = await startSimController({ token: TOKEN, commandTimeoutMs: 30_000, keep: 100 });
  const sites: SimSite[] = [];
  const agents: ChildProcess[] = [];
  const bundle = await agentBundle();
  try {
    /** time each board's enable pin went low / high at its simulated I/O board */
    const offAt = new Map<string, number>();
    const onAt = new Map<string, number>();
    const boards: { key: string; b: SimBoard }[] = [];
    for (let i = 0; i < nAgents; i++) {
      const id = `agent-${String(i).padStart(2, '0')}`;
      const dir = path.join(root, id);
      const site = await SimSite.start({ dir, boards: nBoards, chips: 16, scenario: steady, usePty: o.pty ?? false, tickMs: 100 });
      sites.push(site);
      for (const [bid, b] of site.plant.boards) {
        const key = `${id}/${bid}`;
        boards.push({ key, b });
        watchEnable(b, (on, at) => (on ? onAt : offAt).set(key, at));
      }
      const doc = site.agentConfig({ uplinkUrl: ctl.url, token: TOKEN }) as Record<string, any>;
      doc.agent.id = id;
      doc.meter.poll_ms = pollMs;
      doc.meter.stale_ms = Math.max(1000, 4 * pollMs);
      doc.control = { mode: 'setpoint', setpoint_kw: 1000, max_kw: 1000, stagger_ms: staggerMs };
      const file = path.join(dir, 'agent.yaml');
      fs.writeFileSync(file, YAML.stringify(doc));
      agents.push(spawn(process.execPath, [bundle.file, 'run', '-c', file], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, ...bundle.env, HASHFLEX_LOG: 'warn', HASHFLEX_LOG_FILE: path.join(dir, 'agent.log') },
      }));
    }
    log(`${nAgents} agents started`);
    await waitFor(() => ctl.agents.size >= nAgents && [...ctl.agents.values()].filter((a) => a.connected).length >= nAgents, 120_000, 'every agent connected');
    const allOn = () => boards.every(({ b }) => b.enabled && b.active && b.mhz >= FULL_MHZ);
    await waitFor(allOn, 120_000, () => `every board hashing at full clock (${boards.filter(({ b }) => !(b.enabled && b.active && b.mhz >= FULL_MHZ)).slice(0, 3).map(({ key, b }) => `${key}: ${b.enabled}/${b.active}/${b.mhz}`).join(", ")})`);
    log('every board hashing');

    const eld = monitorEventLoopDelay({ resolution: 10 });
    eld.enable();
    const acks: number[] = [], off: number[] = [], agentOff: number[] = [], lastOff: number[] = [];
    // the agents' own figure (trip event latency_ms: command received -> all boards off), which
    // splits the broadcast time into the way there (socket, scheduling) and the agent's work
    const reported: number[] = [];
    const onEvent = (e: { kind?: string; source?: string; latency_ms?: number }) => {
      if (e.kind === 'trip' && e.source === 'command' && typeof e.latency_ms === 'number') reported.push(e.latency_ms);
    };
    ctl.on('event', onEvent);
    const relAcks: number[] = [], powered: number[] = [], fullClock: number[] = [];
    for (let it = 0; it < iterations; it++) {
      offAt.clear();
      const ackAt = new Map<string, number>();
      const onAck = (a: AckFrame, agentId: string) => ackAt.set(agentId, performance.now());
      ctl.on('ack', onAck);
      const t0 = performance.now();
      const all = await ctl.command('*', 'curtail');
      await waitFor(() => offAt.size >= boards.length, 10_000, 'every board off');
      ctl.off('ack', onAck);
      if (all.some((a) => !a.ok)) throw new Error(`bench: curtail refused: ${JSON.stringify(all.find((a) => !a.ok))}`);
      acks.push(...[...ackAt.values()].map((t) => t - t0));
      off.push(...[...offAt.values()].map((t) => t - t0));
      for (let i = 0; i < nAgents; i++) {
        const prefix = `agent-${String(i).padStart(2, '0')}/`;
        agentOff.push(Math.max(...[...offAt].filter(([k]) => k.startsWith(prefix)).map(([, t]) => t - t0)));
      }
      lastOff.push(Math.max(...offAt.values()) - t0);

      onAt.clear();
      const relAckAt = new Map<string, number>();
      const onRelAck = (a: AckFrame, agentId: string) => relAckAt.set(agentId, performance.now());
      ctl.on('ack', onRelAck);
      const r0 = performance.now();
      const rel = await ctl.command('*', 'release');
      ctl.off('ack', onRelAck);
      if (rel.some((a) => !a.ok)) throw new Error(`bench: release refused: ${JSON.stringify(rel.find((a) => !a.ok))}`);
      relAcks.push(...[...relAckAt.values()].map((t) => t - r0));
      await waitFor(() => onAt.size >= boards.length, 60_000, 'every board powered');
      powered.push(Math.max(...onAt.values()) - r0);
      await waitFor(allOn, 120_000, 'every board at full clock');
      fullClock.push(performance.now() - r0);
      log(`round ${it + 1}: last board off ${lastOff[lastOff.length - 1].toFixed(1)} ms, full clock again after ${(fullClock[fullClock.length - 1] / 1000).toFixed(1)} s`);
    }
    eld.disable();
    const ms = (ns: number) => Math.round(Math.max(0, ns - 10e6) / 1e4) / 100;
    return {
      hostLoopDelayMs: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) },
      agents: nAgents, boardsPerAgent: nBoards, transport: sites[0]?.transport ?? '', pollMs, iterations, staggerMs,
      curtail: { ack: stats(acks), boardOff: stats(off), agentAllOff: stats(agentOff), lastBoardOff: stats(lastOff), agentReported: stats(reported) },
      release: { ack: stats(relAcks), allPowered: stats(powered), allFullClock: stats(fullClock) },
    };
  } finally {
    await Promise.all(agents.map((a) => stop(a)));
    await Promise.allSettled(sites.map((s) => s.close()));
    await ctl.close();
    bundle.cleanup();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Observe a simulated board's enable line: the simulated I/O board sets `enabled` the moment
 * it parses the digital write, so wrapping the accessor timestamps the pin change at the sim.
 */
export function watchEnable(b: SimBoard, cb: (on: boolean, at: number) => void): void {
  let d: PropertyDescriptor | undefined;
  for (let o: object | null = b; o && !d; o = Object.getPrototypeOf(o)) d = Object.getOwnPropertyDescriptor(o, 'enabled');
  if (!d) throw new Error('watchEnable: board has no enabled property');
  let value = b.enabled;
  const get = d.get ? d.get.bind(b) : () => value;
  const set = d.set ? d.set.bind(b) : (v: boolean) => { value = v; };
  Object.defineProperty(b, 'enabled', {
    configurable: true,
    enumerable: true,
    get,
    set(v: boolean) {
      const was = get();
      set(v);
      if (was !== v) cb(v, performance.now());
    },
  });
}

function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.once('exit', () => { clearTimeout(t); resolve(); });
    p.kill('SIGTERM');
  });
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const end = performance.now() + timeoutMs;
  // setImmediate, not a timer: the figure must not carry a polling interval
  while (!cond()) {
    if (performance.now() > end) throw new Error(`bench: timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setImmediate(r));
  }
}
