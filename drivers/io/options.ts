import type { SerialSpec } from '../transport';
import { DEFAULT_THERMISTOR, type ThermistorCurve } from './thermistor';

/**
 * What createIoBoard needs, already validated by agent/config (this module only parses pin
 * names and fills defaults). Units in the key names' comments; README "I/O board pins" has the
 * user-facing table.
 */
export interface IoOptions {
  /** the Firmata board's link; StandardFirmata runs at 57600 baud, the default here */
  serial: SerialSpec;
  /** board id -> digital pin of its power-enable line (HIGH = board powered) */
  enable: Record<string, number>;
  fans: FanPins[];
  /**
   * grid operator's relay contact on a digital input; `active` = the level that means "trip".
   * A trip (contact goes active) is reported at once; a release only once it has held for
   * `release_ms` (default 250) on a line without noise and the board, asked again, confirms it.
   */
  relay?: { pin: number; active: 'low' | 'high'; release_ms?: number };
  thermistors?: ThermistorPins[];
  /** analog sampling interval asked of the board (ms), default 100 */
  sample_ms?: number;
  /** no valid frame for this long = board lost (ms), default 1500; a ping goes out at a third of it */
  watchdog_ms?: number;
  /** open -> Firmata ready must take less than this (ms), default 3000 */
  handshake_ms?: number;
  /** reconnect back-off: first and longest wait (ms), defaults 250 and 5000 */
  reconnect_ms?: { min: number; max: number };
}

export interface FanPins {
  id: string;
  /** PWM-capable digital pin driving the fan's PWM input */
  pwm_pin: number;
  /** analog input "A0".. reading the tach through a frequency-to-voltage converter */
  tach_pin: string | number;
  /** rpm at full-scale ADC (the F/V converter's scaling), default 10000 */
  tach_full_scale_rpm?: number;
}

export interface ThermistorPins {
  id: string;
  /** analog input "A0".. */
  pin: string | number;
  /** B constant (K), default 3950 */
  beta?: number;
  /** NTC resistance at t0_c (ohm), default 10000 */
  r0_ohm?: number;
  /** reference temperature of r0_ohm (°C), default 25 */
  t0_c?: number;
  /** divider's series resistor from the ADC reference (ohm), default 10000 */
  series_ohm?: number;
}

export const IO_DEFAULTS = {
  baud: 57600,
  sample_ms: 100,
  watchdog_ms: 1500,
  handshake_ms: 3000,
  reconnect_ms: { min: 250, max: 5000 },
  tach_full_scale_rpm: 10_000,
  relay_release_ms: 250,
} as const;

/** "A3" or 3 -> analog channel 3; anything else throws (config validation reports it first) */
export function analogChannel(pin: string | number): number {
  const n = typeof pin === 'number' ? pin : /^A(\d{1,2})$/i.exec(pin.trim())?.[1];
  const ch = Number(n);
  if (n === undefined || !Number.isInteger(ch) || ch < 0 || ch > 15) {
    throw new Error(`not an analog input (A0..A15): ${JSON.stringify(pin)}`);
  }
  return ch;
}

export function withDefaults(o: IoOptions) {
  const serial: SerialSpec = 'tcp' in o.serial ? o.serial : { path: o.serial.path, baud: o.serial.baud ?? IO_DEFAULTS.baud };
  return {
    serial,
    enable: { ...o.enable },
    fans: o.fans.map((f) => ({
      id: f.id,
      pwmPin: f.pwm_pin,
      tachChannel: analogChannel(f.tach_pin),
      fullScaleRpm: f.tach_full_scale_rpm ?? IO_DEFAULTS.tach_full_scale_rpm,
    })),
    relay: o.relay && { pin: o.relay.pin, active: o.relay.active, releaseMs: o.relay.release_ms ?? IO_DEFAULTS.relay_release_ms },
    thermistors: (o.thermistors ?? []).map((t) => ({
      id: t.id,
      channel: analogChannel(t.pin),
      curve: {
        beta: t.beta ?? DEFAULT_THERMISTOR.beta,
        r0: t.r0_ohm ?? DEFAULT_THERMISTOR.r0,
        t0C: t.t0_c ?? DEFAULT_THERMISTOR.t0C,
        rSeries: t.series_ohm ?? DEFAULT_THERMISTOR.rSeries,
      } satisfies ThermistorCurve,
    })),
    sampleMs: o.sample_ms ?? IO_DEFAULTS.sample_ms,
    watchdogMs: o.watchdog_ms ?? IO_DEFAULTS.watchdog_ms,
    handshakeMs: o.handshake_ms ?? IO_DEFAULTS.handshake_ms,
    reconnectMs: o.reconnect_ms ?? IO_DEFAULTS.reconnect_ms,
  };
}

export type ResolvedIoOptions = ReturnType<typeof withDefaults>;
