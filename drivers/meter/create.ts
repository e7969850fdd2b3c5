import type { Clock } from '../../agent/clock';
import type { BusRegistry, BusSpec } from './bus';
import { meterMaps, sunspecMaps } from './maps';
import { ModbusMeter } from './meter';
import { meterTuning, type MeterOptions } from './options';

/** build a meter on a bus from `buses` (shared with every other meter naming the same line) */
export function createMeterOn(opts: MeterOptions, clock: Clock, buses: BusRegistry): ModbusMeter {
  const { t, id, maps } = prepare(opts);
  const spec: BusSpec = opts.tcp !== undefined ? { tcp: opts.tcp } : { serial: opts.serial! };
  const bus = buses.acquire(spec);
  return new ModbusMeter(id, t, clock, bus, maps, () => buses.release(bus));
}

export function prepare(opts: MeterOptions) {
  const t = meterTuning(opts);
  const id = opts.id ?? `meter-${t.unit}`;
  const maps = opts.model === 'sunspec' ? { sunspec: sunspecMaps } : { direct: meterMaps[opts.model], sunspec: [] };
  return { t, id, maps };
}
