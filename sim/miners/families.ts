import type { MinerSettings } from '../../agent/hardware';
import { SimMachine, STOCK_SPEC, type MachineSpec } from './machine';

/**
 * Every simulated firmware family, one entry each: how to serve one miner of it for real, its
 * machine, and the setting scale its driver offers. The simulated site (fleet.ts), the time-leap
 * rig (agent/leap.ts) and `hashflex bench miners` (scripts/bench/miner-host.ts) all start miners
 * through this table: a new family joins here, beside its simulator, and nowhere else in sim/.
 * Each simulator is loaded only when a miner of its family is served.
 */
export type Family = 'antminer' | 'whatsminer' | 'avalon' | 'luxos' | 'braiins' | 'vnish';

/** one miner being served */
export interface ServedMiner {
  machine: SimMachine;
  /** the ports it serves on (the firmware's own unless one could not be bound) */
  ports: { api?: number; web?: number; v3?: number; grpc?: number };
  /**
   * when the firmware carried out its first stop at or after `wallMs` (Date.now() ms); default:
   * the machine's first sleep in that time
   */
  stopSince?(wallMs: number): number | undefined;
  close(): Promise<void>;
}

export interface ServeOptions {
  id: string;
  host: string;
  spec: MachineSpec;
  /** the web server's port: the firmware's 80 where this process may bind it, else 0 (a free one); null: none */
  web: number | null;
  /** a family's firmware variant (Whatsminer: the version string, which picks API v2 or v3) */
  firmware?: string;
}

export interface SimFamily {
  /** the fleet's id prefix (am0, wm0, …) */
  prefix: string;
  spec: MachineSpec;
  /** the driver's scale over the machine's physics (drivers/miner/<family>: the same numbers), for stand-ins */
  settings(spec: MachineSpec): MinerSettings;
  /** a stand-in's API call in the time-leap rig (ms): about what the simulator answers in over loopback */
  apiMs: number;
  /** firmware variants the fleet alternates (Whatsminer v2 / v3); none: one */
  firmwares?: readonly string[];
  serve(o: ServeOptions): Promise<ServedMiner>;
}

/** start a simulator, closing it again if its start fails half-way (a port bound, the next refused) */
async function started<T extends { close(): Promise<unknown> }>(sim: T, start: (s: T) => Promise<unknown>): Promise<T> {
  try {
    await start(sim);
    return sim;
  } catch (e) {
    await sim.close().catch(() => {});
    throw e;
  }
}

const antminer: SimFamily = {
  prefix: 'am',
  spec: STOCK_SPEC,
  apiMs: 20, // its stop is a digest-signed web POST; the others one small request
  settings(spec) {
    const { LOW_POWER_SHARE } = require('./antminer') as typeof import('./antminer');
    return { min: 1, max: 2, step: 1, unit: 'mode', kwAt: (s) => (s <= 0 ? spec.standbyKw : s < 2 ? spec.ratedKw * LOW_POWER_SHARE : spec.ratedKw) };
  },
  async serve(o) {
    const { SimAntminer } = require('./antminer') as typeof import('./antminer');
    const sim = await started(new SimAntminer({ id: o.id, host: o.host, spec: o.spec, ports: { api: 4028, web: o.web ?? 0 } }), (s) => s.start());
    return { machine: sim.machine, ports: { ...sim.ports }, close: () => sim.close() };
  },
};

const whatsminer: SimFamily = {
  prefix: 'wm',
  get spec() { return (require('./whatsminer') as typeof import('./whatsminer')).WHATSMINER_SPEC; },
  apiMs: 10,
  get firmwares() {
    const w = require('./whatsminer') as typeof import('./whatsminer');
    return [w.WHATSMINER_V2_FIRMWARE, w.WHATSMINER_V3_FIRMWARE];
  },
  settings: (spec) => ({ min: 10, max: 100, step: 5, unit: 'percent', kwAt: (s) => (s <= 0 ? spec.standbyKw : (spec.ratedKw * Math.min(100, s)) / 100) }),
  async serve(o) {
    const { SimWhatsminer } = require('./whatsminer') as typeof import('./whatsminer');
    const sim = await started(new SimWhatsminer({ id: o.id, host: o.host, spec: o.spec, firmware: o.firmware, ports: { api: 4028, v3: 4433, web: o.web } }), (s) => s.start());
    return { machine: sim.machine, ports: { ...sim.ports }, close: () => sim.close() };
  },
};

const avalon: SimFamily = {
  prefix: 'av',
  get spec() {
    const { A1466 } = require('./avalon-profile') as typeof import('./avalon-profile');
    return { ratedKw: A1466.ratedKw, standbyKw: A1466.standbyKw, ratedThs: A1466.ratedThs, stopMs: A1466.stopMs, wakeMs: A1466.wakeMs, rampMs: A1466.rampMs };
  },
  apiMs: 10,
  // the A1466's work levels 0..2 (80 / 90 / 100 % of rated) as the driver's levels 1..3
  settings(spec) {
    const shares = (require('./avalon-profile') as typeof import('./avalon-profile')).A1466.levelShares;
    return { min: 1, max: shares.length, step: 1, unit: 'level', kwAt: (s) => (s <= 0 ? spec.standbyKw : spec.ratedKw * shares[Math.max(0, Math.min(shares.length, Math.round(s)) - 1)]) };
  },
  async serve(o) {
    const { AvalonSim } = require('./avalon') as typeof import('./avalon');
    const machine = new SimMachine(o.id, o.spec);
    const sim = await started(new AvalonSim({ host: o.host, port: 4028, machine }), (s) => s.start());
    return {
      machine, ports: { api: sim.port }, close: () => sim.close(),
      // softoff acts at its stamp, up to a second or two later: the request taken and answered is the stop
      stopSince: (w) => firstSince(sim.requests, w, (x) => x.at - sim.skewMs, (x) => x.command === 'ascset' && /,softoff,/.test(x.parameter ?? '') && x.outcome === 'answered'),
    };
  },
};

/** LuxOS on an Antminer: the LUXminer API on 4028, profiles by power, one session at a time */
const luxos: SimFamily = {
  prefix: 'lx',
  get spec() { return (require('./luxos') as typeof import('./luxos')).LUXOS_SPEC; },
  apiMs: 10,
  settings: (spec) => (require('./luxos') as typeof import('./luxos')).luxosSettings(spec),
  async serve(o) {
    const { LuxosSim } = require('./luxos') as typeof import('./luxos');
    const sim = await started(new LuxosSim({ id: o.id, host: o.host, spec: o.spec, ports: { api: 4028, web: o.web } }), (s) => s.start());
    return { machine: sim.machine, ports: { api: sim.ports.api, ...(o.web === null ? {} : { web: sim.ports.web }) }, close: () => sim.close() };
  },
};

/** Braiins OS+: its gRPC API on 50051 (power targets in watts), cgminer-style 4028 beside it */
const braiins: SimFamily = {
  prefix: 'bo',
  get spec() { return (require('./braiins') as typeof import('./braiins')).BRAIINS_SPEC; },
  apiMs: 10,
  // the simulator's power-target range, 40..120 % of rated in 100 W steps; 0 pauses
  settings: (spec) => ({ min: Math.round(spec.ratedKw * 4) * 100, max: Math.round(spec.ratedKw * 12) * 100, step: 100, unit: 'watts', kwAt: (w) => (w <= 0 ? spec.standbyKw : w / 1000) }),
  async serve(o) {
    const { SimBraiins } = require('./braiins') as typeof import('./braiins');
    const sim = await started(new SimBraiins({ id: o.id, host: o.host, spec: o.spec, ports: { grpc: 50051, api: 4028, web: o.web } }), (s) => s.start());
    return { machine: sim.machine, ports: { ...sim.ports }, close: () => sim.close() };
  },
};

/** VNish on an Antminer: its REST API on the web port, presets in watts */
const vnish: SimFamily = {
  prefix: 'vn',
  spec: STOCK_SPEC,
  apiMs: 10,
  settings: (spec) => (require('./vnish') as typeof import('./vnish')).vnishSettings(spec),
  async serve(o) {
    const { SimVnish } = require('./vnish') as typeof import('./vnish');
    const sim = await started(new SimVnish({ id: o.id, host: o.host, spec: o.spec, ports: { api: 4028, web: o.web ?? 0 } }), (s) => s.start());
    return { machine: sim.machine, ports: { ...sim.ports }, close: () => sim.close() };
  },
};

/** the families, in the fleet's order */
export const SIM_FAMILIES: Readonly<Record<Family, SimFamily>> = { antminer, whatsminer, avalon, luxos, braiins, vnish };
export const FAMILY_NAMES = Object.keys(SIM_FAMILIES) as Family[];

/** the time of the earliest matching entry at or after `since` (entries in time order), scanning back from the newest */
export function firstSince<T>(log: readonly T[], since: number, at: (x: T) => number, match: (x: T) => boolean): number | undefined {
  let found: number | undefined;
  for (let i = log.length - 1; i >= 0; i--) {
    const t = at(log[i]);
    if (t < since) break;
    if (match(log[i])) found = t;
  }
  return found;
}

// what the families' simulators note when the firmware stops hashing (SimMachine.sleep's `what`)
const STOP_WORDS = /sleep|power_off|service stop|softoff/;

/** the machine's first stop at or after `wallMs`, from its command log */
export const machineStopSince = (machine: SimMachine, wallMs: number): number | undefined =>
  firstSince(machine.log, wallMs, (x) => x.at, (x) => STOP_WORDS.test(x.what));
