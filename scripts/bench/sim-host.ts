import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { SimBoard } from '../../sim/plant';
import type { Scenario } from '../../sim/scenarios/types';
import { SimSite } from '../../sim/site';

/**
 * Host of simulated sites for the fleet bench (fleet.ts). Run as a child process (sim-host-main.ts,
 * forked with an IPC channel) so the sims of a 32-agent fleet spread over a few event loops
 * instead of queueing in the bench's own, or in-process (`--sim-hosts 0`, the bench's earlier
 * layout).
 *
 * It starts one SimSite per agent and reports, for every board, each change of its enable line
 * and of "hashing at full clock", stamped where it happens with `monoMs()`: CLOCK_MONOTONIC,
 * the same clock in every process on the machine, so the bench can subtract its own broadcast
 * time from a sim host's stamp.
 *
 * Messages in:  start (sites to run), eld (start / stop sampling event-loop delay), close.
 * Messages out: ready (each site's agent config), board (a change), eld (percentiles), closed,
 *               error.
 */

/** ms on CLOCK_MONOTONIC (libuv's hrtime): comparable across processes on one machine */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** BM1366 stock 485 MHz less one of control's 12.5 MHz split steps: where a full board settles */
export const FULL_MHZ = 485 - 12.5;

export interface HostStart {
  type: 'start';
  sites: { id: string; dir: string }[];
  boards: number;
  chips: number;
  pty: boolean;
  tickMs: number;
}
export type HostIn = HostStart | { type: 'eld'; on: boolean } | { type: 'status' } | { type: 'close' };

export interface SiteReady {
  id: string;
  /** SimSite.agentConfig(): meter, boards, I/O board, grid; the bench adds uplink and control */
  config: Record<string, unknown>;
  transport: 'pty' | 'tcp';
  boards: string[];
}
/** a board as its sim sees it (for a bench's timeout message) */
export interface BoardStatus { key: string; enabled: boolean; active: boolean; mhz: number; tempC: number }
export interface LoopDelay { p50: number; p99: number; max: number }
export type HostOut =
  | { type: 'ready'; sites: SiteReady[] }
  | { type: 'board'; key: string; enabled: boolean; full: boolean; at: number }
  | ({ type: 'eld' } & LoopDelay)
  | { type: 'status'; boards: BoardStatus[] }
  | { type: 'closed' }
  | { type: 'error'; message: string };

const steadyPoint = { hz: 60, generationKw: 1000, baseLoadKw: 0, relay: false };
const steady: Scenario = { name: 'fleet', description: 'steady surplus', durationS: Infinity, at: () => steadyPoint };

export class SimHost {
  private sites: SimSite[] = [];
  private ids: string[] = [];
  private eld?: IntervalHistogram;

  constructor(private readonly emit: (m: HostOut) => void) {}

  async handle(m: HostIn): Promise<void> {
    if (m.type === 'start') this.emit({ type: 'ready', sites: await this.start(m) });
    else if (m.type === 'eld') {
      if (m.on) {
        this.eld = monitorEventLoopDelay({ resolution: 10 });
        this.eld.enable();
      } else if (this.eld) {
        this.eld.disable();
        this.emit({ type: 'eld', ...loopDelay(this.eld) });
        this.eld = undefined;
      }
    } else if (m.type === 'status') {
      this.emit({
        type: 'status',
        boards: this.sites.flatMap((s, i) => [...s.plant.boards].map(([bid, b]) => ({
          key: `${this.ids[i]}/${bid}`, enabled: b.enabled, active: b.active, mhz: b.mhz, tempC: Math.round(b.tempC * 10) / 10,
        }))),
      });
    } else if (m.type === 'close') {
      await this.close();
      this.emit({ type: 'closed' });
    }
  }

  private async start(m: HostStart): Promise<SiteReady[]> {
    const ready: SiteReady[] = [];
    for (const { id, dir } of m.sites) {
      const site = await SimSite.start({ dir, boards: m.boards, chips: m.chips, scenario: steady, usePty: m.pty, tickMs: m.tickMs });
      this.sites.push(site);
      this.ids.push(id);
      for (const [bid, b] of site.plant.boards) {
        const key = `${id}/${bid}`;
        let enabled = b.enabled;
        let full = isFull(b);
        const changed = () => {
          const e = b.enabled;
          const f = isFull(b);
          if (e === enabled && f === full) return;
          enabled = e;
          full = f;
          this.emit({ type: 'board', key, enabled: e, full: f, at: monoMs() });
        };
        for (const prop of ['enabled', 'active', 'mhz'] as const) watchProp(b, prop, changed);
      }
      ready.push({ id, config: site.agentConfig(), transport: site.transport, boards: [...site.plant.boards.keys()] });
    }
    return ready;
  }

  async close(): Promise<void> {
    this.eld?.disable();
    await Promise.allSettled(this.sites.map((s) => s.close()));
    this.sites = [];
    this.ids = [];
  }
}

function isFull(b: SimBoard): boolean {
  return b.enabled && b.active && b.mhz >= FULL_MHZ;
}

/** event-loop delay in ms beyond the 10 ms sampling timer */
export function loopDelay(h: IntervalHistogram): LoopDelay {
  const ms = (ns: number) => Math.round(Math.max(0, ns - 10e6) / 1e4) / 100;
  return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
}

/**
 * Call `cb` after every write of a simulated board property that changes it. The simulated I/O
 * board sets `enabled` the moment it parses the digital write, and the simulated chain sets
 * `active` and `mhz` as it parses each command, so the callback runs at the sim's own moment.
 */
export function watchProp<K extends 'enabled' | 'active' | 'mhz'>(b: SimBoard, prop: K, cb: (v: SimBoard[K]) => void): void {
  let d: PropertyDescriptor | undefined;
  for (let o: object | null = b; o && !d; o = Object.getPrototypeOf(o)) d = Object.getOwnPropertyDescriptor(o, prop);
  if (!d) throw new Error(`watchProp: board has no ${prop} property`);
  let value = b[prop];
  const get: () => SimBoard[K] = d.get ? d.get.bind(b) : () => value;
  const set: (v: SimBoard[K]) => void = d.set ? d.set.bind(b) : (v) => { value = v; };
  Object.defineProperty(b, prop, {
    configurable: true,
    enumerable: true,
    get,
    set(v: SimBoard[K]) {
      const was = get();
      set(v);
      if (was !== v) cb(v);
    },
  });
}

// as a child process: serve the parent over IPC; a lost parent ends the host
