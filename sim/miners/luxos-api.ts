import type { MinerSettings } from '../../agent/hardware';
import { statsBlock } from './antminer-api';
import type { MachineSpec, SimMachine } from './machine';

/**
 * What the simulated LuxOS firmware (sim/miners/luxos.ts) answers, as reply builders: the reply
 * shapes of Luxor's API documents (docs.luxor.tech/firmware/api) and of what pyasic reads
 * (pyasic/miners/backends/luxminer.py), each STATUS naming the program as LUXminer does.
 *
 * Profiles as LuxOS makes them (docs.luxor.tech/firmware/features): linear steps of 25 MHz and
 * 0.1 V from the machine's EEPROM nameplate (the `default` profile), 16 under-clocked ones below;
 * the firmware makes 8 over-clocked ones above, the simulator 3 (SimMachine draws at most 1.2 ×
 * rated). Each profile's power estimate goes with frequency × voltage², as CMOS power does.
 */
export const LUXOS_FIRMWARE = '2024.5.1.155800-e2bd3c5c';
export const LUXOS_MODEL = 'Antminer S19j Pro';
/** an S19j Pro 104T at its default profile (LuxOS features page: 545 MHz, 13.4 V) */
export const LUXOS_SPEC: MachineSpec = { ratedKw: 3.068, standbyKw: 0.015, ratedThs: 104, stopMs: 2000, wakeMs: 60_000, rampMs: 15_000 };
const BASE = { mhz: 545, volts: 13.4 };
const UNDER = 16;
const OVER = 3;

export interface SimProfile {
  name: string;
  step: number;
  mhz: number;
  volts: number;
  watts: number;
  ths: number;
}

export function luxosProfiles(spec: MachineSpec = LUXOS_SPEC): SimProfile[] {
  const out: SimProfile[] = [];
  for (let step = -UNDER; step <= OVER; step++) {
    const mhz = BASE.mhz + 25 * step;
    const volts = Math.round((BASE.volts + 0.1 * step) * 10) / 10;
    const share = (mhz / BASE.mhz) * (volts / BASE.volts) ** 2;
    out.push({ name: step === 0 ? 'default' : `${mhz}MHz`, step, mhz, volts, watts: Math.round(spec.ratedKw * 1000 * share), ths: Math.round(spec.ratedThs * (mhz / BASE.mhz) * 100) / 100 });
  }
  return out;
}

/**
 * The LuxOS driver's scale over these profiles (drivers/miner/luxos/scale.ts: the under-clocked
 * ones and the default, by power; 0 asleep), for the simulated site's stand-ins.
 */
export function luxosSettings(spec: MachineSpec = LUXOS_SPEC): MinerSettings {
  const steps = luxosProfiles(spec).filter((p) => p.step <= 0);
  return { min: 1, max: steps.length, step: 1, unit: 'level', kwAt: (s) => (s <= 0 ? spec.standbyKw : steps[Math.min(steps.length, Math.max(1, Math.round(s))) - 1].watts / 1000) };
}

export interface LuxosView {
  machine: SimMachine;
  model: string;
  profiles: readonly SimProfile[];
  profile: string;
  curtailed: boolean;
  redLed: string;
  atm: boolean;
  host: string;
  elapsedS: number;
  whenS: number;
}

export type Reply = Record<string, unknown>;

export function reply(v: { whenS: number }, state: 'S' | 'E' | 'I', code: number, msg: string, body: Reply = {}): Reply {
  return { STATUS: [{ STATUS: state, When: v.whenS, Code: code, Msg: msg, Description: `LUXminer ${LUXOS_FIRMWARE}` }], ...body, id: 1 };
}

/** the read commands; undefined for a command this module does not answer */
export function readReply(command: string, v: LuxosView): Reply | undefined {
  const ghs = v.machine.ths * 1000;
  switch (command) {
    case 'version':
      return reply(v, 'S', 22, 'LUXminer versions', { VERSION: [{ API: '3.7', LUXminer: LUXOS_FIRMWARE, Miner: LUXOS_FIRMWARE, Type: v.model }] });
    case 'devdetails':
      return reply(v, 'S', 69, 'Device Details', { DEVDETAILS: [0, 1, 2].map((i) => ({ DEVDETAILS: i, Name: 'BC', ID: i, Driver: 'luxminer', Kernel: '', Model: v.model, 'Device Path': '' })) });
    case 'summary':
      return reply(v, 'S', 11, 'Summary', { SUMMARY: [{ Elapsed: v.elapsedS, 'GHS 5s': Number(ghs.toFixed(2)), 'GHS av': Number(ghs.toFixed(2)), 'GHS 30m': Number(ghs.toFixed(2)), Accepted: Math.floor(v.elapsedS * 0.8), Rejected: 0, 'Hardware Errors': 0, 'Found Blocks': 0 }] });
    case 'power':
      return reply(v, 'S', 12, 'Power', { POWER: [{ PSU: !v.curtailed, Watts: Math.round(v.machine.kw * 1000) }] });
    case 'stats':
      return reply(v, 'S', 70, 'LUXminer stats', { STATS: [{ STATS: 0, ID: 'LUXMINER0', Elapsed: v.elapsedS }, statsBlock(v.machine, ghs, v.elapsedS)] });
    case 'config':
      return reply(v, 'S', 33, 'LUXminer config', {
        CONFIG: [{
          'ASC Count': 3, 'PGA Count': 0, 'Pool Count': 1, Strategy: 'Failover', 'Log Interval': 5, OS: 'Linux', Hotplug: 'None',
          Model: v.model, MACAddr: macOf(v.host), NumBoards: 3, Profile: v.profile, CurtailMode: v.curtailed ? 'Sleep' : 'None', RedLed: v.redLed, IsAtmEnabled: v.atm,
        }],
      });
    case 'profiles':
      return reply(v, 'S', 327, 'Profiles', {
        PROFILES: v.profiles.map((p) => ({ 'Profile Name': p.name, Frequency: p.mhz, Voltage: p.volts, Watts: p.watts, Hashrate: p.ths, Step: String(p.step), IsDynamic: false, IsTuned: false })),
      });
    default:
      return undefined;
  }
}

/**
 * profileset's name, or LuxOS's selectors (the profileset page): `3000W` / `3.0kW` the profile
 * nearest that power, `95THs` the one nearest that hashrate.
 */
export function pickProfile(profiles: readonly SimProfile[], wanted: string): SimProfile | undefined {
  const named = profiles.find((p) => p.name === wanted);
  if (named) return named;
  const m = /^(\d+(?:\.\d+)?)(W|kW|THs)$/.exec(wanted);
  if (!m) return undefined;
  const x = Number(m[1]) * (m[2] === 'kW' ? 1000 : 1);
  const of = (p: SimProfile) => (m[2] === 'THs' ? p.ths : p.watts);
  return profiles.reduce((a, b) => (Math.abs(of(b) - x) < Math.abs(of(a) - x) ? b : a));
}

/** a locally administered MAC made from the address, so each simulated miner has its own */
function macOf(host: string): string {
  const octets = host.split('.').map((x) => (Number(x) & 0xff).toString(16).padStart(2, '0'));
  return ['02', '4c', ...octets].join(':').toUpperCase();
}
