import type { Clock } from '../../agent/clock';
import type { IoBoard } from '../../agent/hardware';
import { FirmataIoBoard } from './board';
import type { IoOptions } from './options';

export type { IoOptions, FanPins, ThermistorPins } from './options';
export { IO_DEFAULTS, analogChannel } from './options';
export { FirmataIoBoard } from './board';
export { countsToCelsius, celsiusToCounts, DEFAULT_THERMISTOR, type ThermistorCurve } from './thermistor';

/** The Firmata I/O board as the agent sees it. Call start() to connect. */
export function createIoBoard(opts: IoOptions, clock: Clock): IoBoard & FirmataIoBoard {
  return new FirmataIoBoard(opts, clock);
}
