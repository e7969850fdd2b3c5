import type { Clock } from '../../agent/clock';
import type { NetworkMiner } from '../../agent/hardware';
import type { Identify, MinerEvidence, MinerIdentity } from './identify';
import type { MinerDriver, MinerOptions } from './options';

export type { MinerDriver, MinerOptions } from './options';
export type { MinerEvidence, MinerIdentity } from './identify';
export type MinerFactory = (o: MinerOptions, clock: Clock) => NetworkMiner;

/** One line per firmware family: the only place that names them (a new family joins here). */
const FAMILIES: Partial<Record<MinerDriver, MinerFactory>> = {
  antminer: (o, clock) => (require('./antminer') as typeof import('./antminer')).createAntminer(o, clock),
  whatsminer: (o, clock) => (require('./whatsminer') as typeof import('./whatsminer')).createWhatsminer(o, clock),
  avalon: (o, clock) => (require('./avalon') as typeof import('./avalon')).createAvalon(o, clock),
  vnish: (o, clock) => (require('./vnish') as typeof import('./vnish')).createVnish(o, clock),
  luxos: (o, clock) => (require('./luxos') as typeof import('./luxos')).createLuxos(o, clock),
  braiins: (o, clock) => (require('./braiins') as typeof import('./braiins')).createBraiins(o, clock),
};

/** Each family's identify(), asked in this order by discover and `driver: auto` (drivers/miner/probe.ts). */
const IDENTIFIERS: Partial<Record<MinerDriver, () => Identify>> = {
  braiins: () => (require('./braiins') as typeof import('./braiins')).identify,
  vnish: () => (require('./vnish') as typeof import('./vnish')).identify,
  luxos: () => (require('./luxos') as typeof import('./luxos')).identify,
  antminer: () => (require('./antminer') as typeof import('./antminer')).identify,
  whatsminer: () => (require('./whatsminer') as typeof import('./whatsminer')).identify,
  avalon: () => (require('./avalon') as typeof import('./avalon')).identify,
};

/**
 * The first family that claims the evidence (their rules exclude each other's words, as pyasic's
 * do). A family whose identify() throws is passed over: one family's bug must not end a scan.
 */
export function identifyMiner(evidence: MinerEvidence): MinerIdentity | undefined {
  for (const load of Object.values(IDENTIFIERS)) {
    try {
      const id = load?.()(evidence);
      if (id) return id;
    } catch { /* next family */ }
  }
  return undefined;
}

export function createMiner(o: MinerOptions, clock: Clock): NetworkMiner {
  if (o.driver === 'auto') {
    const { AutoMiner } = require('./auto') as typeof import('./auto');
    return new AutoMiner(o, clock, (family) => createMiner({ ...o, driver: family }, clock), identifyMiner);
  }
  const make = FAMILIES[o.driver];
  if (!make) throw new Error(`miner ${o.id}: no driver for "${o.driver}"`);
  return make(o, clock);
}

export const minerDrivers = (): MinerDriver[] => Object.keys(FAMILIES) as MinerDriver[];

/** a config `driver` this build can drive (the families above) */
export const isMinerDriver = (d: string): d is MinerDriver => Object.prototype.hasOwnProperty.call(FAMILIES, d);
