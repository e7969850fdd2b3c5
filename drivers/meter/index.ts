import type { Clock } from '../../agent/clock';
import type { Meter } from '../../agent/hardware';
import { defaultBuses, type BusRegistry, type RegisterReader } from './bus';
import { createMeterOn, prepare } from './create';
import { ModbusMeter } from './meter';
import type { MeterOptions } from './options';

export { BusRegistry, ModbusBus, type BusSpec, type RegisterReader } from './bus';
export { MeterError, type MeterFaultKind } from './errors';
export { ModbusMeter, type MeterCounters } from './meter';
export { METER_DEFAULTS, meterTuning, type MeterOptions, type MeterTuning } from './options';
export { meterMaps, sunspecMaps } from './maps';
export { probeMeter, type MeterProbe } from './probe';

export interface MeterDeps {
  /** buses to share connections in (default: one registry per process) */
  buses?: BusRegistry;
  /** talk through this instead of a real bus (unit tests) */
  reader?: RegisterReader;
}

/**
 * Build a meter from its config (options validated here: bad values throw ConfigInvalid with
 * every `meter.key: problem` at once). Meters whose `tcp` or `serial` name the same connection
 * share one bus (one TCP connection, one serial port), their requests serialized.
 */
export function createMeter(opts: MeterOptions, clock: Clock, deps: MeterDeps = {}): ModbusMeter & Meter {
  if (deps.reader) {
    const { t, id, maps } = prepare(opts);
    return new ModbusMeter(id, t, clock, deps.reader, maps);
  }
  return createMeterOn(opts, clock, deps.buses ?? defaultBuses);
}
