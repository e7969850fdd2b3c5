import type { MinerSettings } from '../../agent/hardware';
import type { SimMachine, MachineSpec } from './machine';
import { FAMILY_NAMES, machineStopSince, SIM_FAMILIES, type Family } from './families';

/**
 * The simulated site's network miners (`hashflex sim --miners N`): the firmware families of
 * sim/miners/families.ts in turn (antminer, whatsminer, avalon, luxos, braiins, vnish), ids am0
 * wm0 av0 lx0 bo0 vn0 am1 …, each on a loopback address of its own in 127.30.0.0/16 (no test
 * suite uses that range: the family and OpenADR suites use 127.20–127.29),
 * serving its firmware's API on the firmware's own ports. Whatsminers alternate API v2 and v3
 * firmware (wm0 v2, wm1 v3, …). Every machine starts hashing at its rated power. The agent's config
 * names each miner's driver, except every third of a family (am2, wm2, av2, am5, …), which it
 * gives `driver: auto` so the agent's identification (drivers/miner/auto.ts) is exercised too.
 *
 * `fleetPlan` is what both rigs share; `startFleet` serves the plan for real (the real-wire rig
 * and `--hardware-only`); the time-leap rig runs the same plan on in-process stand-ins
 * (sim/virtual.ts VirtualMiner with `familySettings`).
 */
export type { Family } from './families';
export const FAMILIES: readonly Family[] = FAMILY_NAMES;
export const MAX_FLEET = 1000;

export interface FleetMiner {
  id: string;
  family: Family;
  /** position in the fleet (0…N-1) */
  index: number;
  spec: MachineSpec;
  /** a family's firmware variant (Whatsminer: the version it reports, v2 or v3 API) */
  firmware?: string;
  /** what the agent's config says: the family, or `auto` (identified at start) */
  configDriver: Family | 'auto';
}

/** N miners, the families in turn (all of them by default) */
export function fleetPlan(n: number, families: readonly Family[] = FAMILIES): FleetMiner[] {
  if (!Number.isInteger(n) || n < 0 || n > MAX_FLEET) throw new RangeError(`miners must be an integer 0..${MAX_FLEET}`);
  return Array.from({ length: n }, (_, index) => {
    const family = families[index % families.length];
    const k = Math.floor(index / families.length);
    const f = SIM_FAMILIES[family];
    const firmwares = f.firmwares;
    return {
      id: `${f.prefix}${k}`, family, index, spec: f.spec, configDriver: k % 3 === 2 ? 'auto' : family,
      ...(firmwares?.length ? { firmware: firmwares[k % firmwares.length] } : {}),
    };
  });
}

/**
 * The loopback address of miner `index` in address slot `slot` (0..63): 127.30.(4·slot + i/250).(1 + i%250).
 * A slot holds 1,000 miners; a second simulated site on the machine finds the first slot taken and
 * moves to the next.
 */
export function fleetHost(slot: number, index: number): string {
  return `127.30.${slot * 4 + Math.floor(index / 250)}.${1 + (index % 250)}`;
}
export const FLEET_SLOTS = 64;

/** the power settings each family's driver offers over the machine's physics (sim/miners/families.ts), for the time-leap rig's stand-ins */
export function familySettings(family: Family, spec: MachineSpec): MinerSettings {
  return SIM_FAMILIES[family].settings(spec);
}

/** One miner served for real. */
export interface RunningMiner {
  readonly plan: FleetMiner;
  readonly host: string;
  /** the ports it serves on (the firmware's own unless one could not be bound) */
  readonly ports: { api?: number; web?: number; v3?: number; grpc?: number };
  readonly machine: SimMachine;
  /**
   * the first stop the firmware carried out at or after `wallMs` (Date.now() ms), or undefined:
   * Antminer's sleep mode taken, Whatsminer's power_off / set.miner.service stop, Avalon's
   * `ascset softoff` request taken and answered (the softoff itself acts at its stamp, which the
   * driver sets to the miner's present second: up to a second or two later)
   */
  stopSince(wallMs: number): number | undefined;
  close(): Promise<void>;
}

export interface SimFleet {
  readonly slot: number;
  readonly miners: RunningMiner[];
  get(id: string): RunningMiner | undefined;
  close(): Promise<void>;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** the firmware's web port 80 needs root (or CAP_NET_BIND_SERVICE): found out once, then a free port */
let privileged: boolean | undefined;

async function withWebPort<T>(start: (web: number) => Promise<T>): Promise<T> {
  if (privileged !== false) {
    try {
      const r = await start(80);
      privileged = true;
      return r;
    } catch (e) {
      if (errno(e) !== 'EACCES') throw e;
      privileged = false;
    }
  }
  return start(0);
}

async function startOne(m: FleetMiner, host: string): Promise<RunningMiner> {
  const f = SIM_FAMILIES[m.family];
  const serve = (web: number | null) => f.serve({ id: m.id, host, spec: m.spec, firmware: m.firmware, web });
  // a family without a web server is never asked for port 80
  const sim = await withWebPort(serve);
  const machine: SimMachine = sim.machine;
  return {
    plan: m, host, ports: sim.ports, machine,
    stopSince: (w) => (sim.stopSince ? sim.stopSince(w) : machineStopSince(machine, w)),
    close: () => sim.close(),
  };
}

/** run `f` over `items`, at most `n` at a time; the first failure is thrown after all settled */
async function pool<T, R>(items: T[], n: number, f: (x: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        out[i] = { status: 'fulfilled', value: await f(items[i]) };
      } catch (reason) {
        out[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/**
 * Serve every miner of the plan on its own loopback address, in the first address slot whose
 * addresses are free (from `slot`, default 0). Everything opened is closed again on failure.
 */
export async function startFleet(plan: FleetMiner[], o: { slot?: number; concurrency?: number } = {}): Promise<SimFleet> {
  for (let slot = o.slot ?? 0; slot < FLEET_SLOTS; slot++) {
    const results = await pool(plan, o.concurrency ?? 16, (m) => startOne(m, fleetHost(slot, m.index)));
    const up = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) {
      const byId = new Map(up.map((m) => [m.plan.id, m]));
      return { slot, miners: up, get: (id) => byId.get(id), close: async () => { await Promise.allSettled(up.map((m) => m.close())); } };
    }
    await Promise.allSettled(up.map((m) => m.close()));
    const code = errno(failed.reason);
    if (code === 'EADDRINUSE') continue; // another simulated site holds this slot: the next one
    if (code === 'EADDRNOTAVAIL') {
      throw new Error(`cannot bind the simulated miners' loopback addresses (${fleetHost(slot, 0)}…): this system routes only 127.0.0.1 to its loopback interface (Linux routes all of 127.0.0.0/8)`);
    }
    throw failed.reason as Error;
  }
  throw new Error(`no free address slot for the simulated miners in 127.30.0.0/16 (${FLEET_SLOTS} slots tried)`);
}
