import type { Mode, SiteState, TripSource } from '../../control/types';
import MAP from '../../../schemas/scada-map.json';

/**
 * The SCADA register map (DESIGN.md §8, a contract), read from schemas/scada-map.json so that the
 * file integrators are given and the server cannot drift apart (test/scada-map.test.ts checks the
 * README table against the same file). Holding and input registers are one table.
 */
export type RegisterType = 'u16' | 'u32' | 'f32';

export interface RegisterDef {
  address: number;
  name: keyof ScadaValues;
  type: RegisterType;
  access: 'r' | 'rw';
  unit: string;
  meaning: string;
}

/** one value per register of the map, in engineering units (NaN where unknown) */
export interface ScadaValues {
  map_version: number;
  state: number;
  trip_sources: number;
  mode: number;
  heartbeat_s: number;
  grid_hz: number;
  grid_kw: number;
  miners_kw: number;
  target_kw: number;
  flexible_kw: number;
  capacity_kw: number;
  last_trip_latency_ms: number;
  trips: number;
  cap_kw: number;
  cap_lease_s: number;
}

export const MAP_VERSION: number = MAP.map_version;
export const REGISTERS = MAP.registers as RegisterDef[];
/** the highest cap the server accepts (kW), as the uplink's set_power (schemas/command.json) */
export const CAP_MAX_KW: number = MAP.limits.cap_kw.max;

/** Codes on the wire. Typed as complete records so that a new state, mode or source fails to compile until it has one. */
export const STATE_CODE: Record<SiteState, number> = { running: 0, curtailed: 1, tripped: 2, ramping: 3, fault: 4 };
export const MODE_CODE: Record<Mode, number> = { surplus: 0, setpoint: 1, heat: 2, off: 3 };
export const TRIP_BIT: Record<TripSource, number> = {
  command: 0, relay: 1, underfrequency: 2, 'meter-lost': 3, overtemp: 4, 'fan-failure': 5, 'io-lost': 6, scada: 7, openadr: 8,
};

export const words = (t: RegisterType): number => (t === 'u16' ? 1 : 2);

/** register address -> the definition whose value starts or continues there */
const AT = new Map<number, { def: RegisterDef; word: number }>();
for (const def of REGISTERS) for (let w = 0; w < words(def.type); w++) AT.set(def.address + w, { def, word: w });
const TOP = Math.max(...AT.keys());

export function registerAt(address: number): { def: RegisterDef; word: number } | undefined {
  return AT.get(address);
}

/** every address in [addr, addr + qty) is in the map (reads may start or end inside a 32-bit value) */
export function mapped(addr: number, qty: number): boolean {
  if (addr + qty - 1 > TOP) return false;
  for (let a = addr; a < addr + qty; a++) if (!AT.has(a)) return false;
  return true;
}

const scratch = Buffer.alloc(4);

/** the registers [addr, addr + qty) from one snapshot of values; the range must be mapped() */
export function encodeRange(values: ScadaValues, addr: number, qty: number): number[] {
  const out: number[] = new Array(qty);
  for (let i = 0; i < qty; i++) {
    const { def, word } = AT.get(addr + i)!;
    out[i] = encodeWord(def.type, values[def.name], word);
  }
  return out;
}

function encodeWord(type: RegisterType, v: number, word: number): number {
  switch (type) {
    case 'u16':
      return clampInt(v, 0xffff);
    case 'u32':
      scratch.writeUInt32BE(clampInt(v, 0xffffffff));
      return scratch.readUInt16BE(word * 2);
    case 'f32':
      // IEEE 754 single, big-endian, high word first (NaN stays NaN: "unknown")
      scratch.writeFloatBE(v);
      return scratch.readUInt16BE(word * 2);
  }
}

function clampInt(v: number, max: number): number {
  if (!Number.isFinite(v) || v <= 0) return 0;
  return Math.min(max, Math.floor(v));
}

/** the f32 in two registers, high word first */
export function decodeF32(hi: number, lo: number): number {
  scratch.writeUInt16BE(hi & 0xffff, 0);
  scratch.writeUInt16BE(lo & 0xffff, 2);
  return scratch.readFloatBE(0);
}
