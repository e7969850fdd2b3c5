import type { RegisterReader } from './bus';
import { MeterError } from './errors';
import type { MeterMap } from './maps';

/**
 * SunSpec discovery walk (SunSpec Modbus Specification, "Device Modbus Map"): the map starts
 * with the marker "SunS" (0x5375 0x6E53) at 40000, else 0 or 50000; then models follow as
 * [ID, L, L registers of body], the first being the common model 1, until ID 0xFFFF.
 */
const BASES = [40000, 0, 50000];
const SUNS = 0x53756e53;
/** a device map never holds this many models; stops a walk over garbage */
const MAX_MODELS = 64;

export interface SunSpecLayout {
  map: MeterMap;
  /** address of the chosen model's first body register */
  base: number;
  /** every model id found, in order */
  models: number[];
}

export async function discoverSunSpec(bus: RegisterReader, unit: number, timeoutMs: number, maps: MeterMap[]): Promise<SunSpecLayout> {
  let start = -1;
  for (const b of BASES) {
    try {
      const r = await bus.read(unit, 3, b, 2, timeoutMs);
      if (r.readUInt32BE(0) === SUNS) { start = b; break; }
    } catch (e) {
      // an exception means "not here"; silence means the meter is not answering at all
      if (!(e instanceof MeterError) || e.kind !== 'exception') throw e;
    }
  }
  if (start < 0) throw new MeterError(`unit ${unit}: no SunSpec marker at ${BASES.join(', ')}`, 'discovery');
  const models: number[] = [];
  const found = new Map<number, number>();
  let addr = start + 2;
  for (let i = 0; i < MAX_MODELS; i++) {
    const r = await bus.read(unit, 3, addr, 2, timeoutMs);
    const id = r.readUInt16BE(0);
    const len = r.readUInt16BE(2);
    if (id === 0xffff) break;
    models.push(id);
    if (!found.has(id)) found.set(id, addr + 2);
    addr += 2 + len;
    if (addr > 0xffff) break;
  }
  if (models[0] !== 1) throw new MeterError(`unit ${unit}: SunSpec map does not start with model 1 (got ${models[0]})`, 'discovery');
  for (const map of maps) {
    const base = found.get(map.sunspec ?? -1);
    if (base !== undefined) return { map, base, models };
  }
  throw new MeterError(`unit ${unit}: no supported SunSpec meter model among ${models.join(',')}`, 'discovery');
}
