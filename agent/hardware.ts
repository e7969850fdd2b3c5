import type { EventEmitter } from 'node:events';

/**
 * The small interfaces the agent owns and drivers/ implements (one capability each, as evcc's
 * api.go). The composition root (agent/site.ts) builds real drivers from config; tests may pass
 * doubles. Times are the injected clock's milliseconds.
 */

/** Per-link health counters, reported in telemetry and /metrics. */
export interface LinkCounters {
  requests: number;
  frames: number;
  timeouts: number;
  crcErrors: number;
  exceptions: number;
  resyncs: number;
  reconnects: number;
}

export function newCounters(): LinkCounters {
  return { requests: 0, frames: 0, timeouts: 0, crcErrors: 0, exceptions: 0, resyncs: 0, reconnects: 0 };
}

export interface MeterSample {
  /** when the values were read (wall clock ms, for timestamps), never re-stamped */
  at: number;
  /** the same instant on the monotonic clock (clock.monotonic()): every duration is measured on this */
  mono: number;
  hz: number;
  /** total active power, positive = import from the grid */
  kw: number;
  importKwh?: number;
  exportKwh?: number;
}

/**
 * A polled grid meter. Events:
 *  'sample' (MeterSample)  every fresh reading, in order
 *  'stale'  ()             no fresh value for stale_ms (emitted once until a sample arrives again)
 *  'fault'  (Error)        a failed poll (timeout, CRC, exception...); polling goes on with backoff
 */
export interface Meter extends EventEmitter {
  readonly id: string;
  readonly counters: LinkCounters;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface BoardStatus {
  id: string;
  /** chain active and hashing */
  on: boolean;
  /** present chip frequency (MHz), 0 when off */
  mhz: number;
  /** estimated electrical power from the model's curve (kW) */
  kw: number;
  /** hottest chip or board sensor (°C), NaN if unknown */
  tempC: number;
  /** set while the board does not answer as it should */
  fault?: string;
  counters: LinkCounters;
}

/** One hashboard's chain over its serial link. */
export interface Hashboard {
  readonly id: string;
  /** open the link and bring the chain up (enumerate, assign addresses); leaves it stopped */
  start(): Promise<void>;
  /** ramp chip frequency to `mhz` in small steps (normal throttling); 0 stops hashing */
  setFrequency(mhz: number): Promise<void>;
  /**
   * Trip: stop hashing NOW. Writes chain-inactive and the lowest PLL setting without waiting for
   * any ramp or reply; resolves when the bytes are handed to the OS.
   */
  trip(): Promise<void>;
  /** frequency range of the model (MHz) and estimated kW at a frequency, for target splitting */
  readonly minMhz: number;
  readonly maxMhz: number;
  kwAt(mhz: number): number;
  status(): BoardStatus;
  close(): Promise<void>;
}

export interface FanStatus {
  id: string;
  duty: number;
  rpm: number;
}

/**
 * The Firmata I/O board. Events:
 *  'relay' (active: boolean)   the grid relay contact changed: active at once (fast path); a release only after a clean
 *                              window (grid.relay.release_ms) that the board confirms when asked again
 *  'fault' (Error)             the board went away or sends garbage (the link is lost); it reconnects by itself
 *  'ready' ()                  (re)connected and pins configured
 *  'pin-fault' (PinFault)      one function's pin cannot be used (wrong pin, no such channel): a fault of
 *                              that function only, never of the link; emitted after every 'ready' that finds it
 */
export interface IoBoard extends EventEmitter {
  /** drive one board's power-enable line; synchronous write to the link */
  setEnable(boardId: string, on: boolean): void;
  /**
   * Trip path: every enable line low now, in one digital-port message per I/O port. Resolves once
   * those bytes are handed to the OS (or at once when the board is not connected: its pull-downs
   * hold the lines low); never rejects.
   */
  shedEnables(): Promise<void>;
  setFanDuty(fanId: string, duty: number): void;
  fans(): FanStatus[];
  /** thermistor readings (°C) by id */
  temperatures(): Record<string, number>;
  readonly relayActive: boolean;
  readonly connected: boolean;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A pin of one function the I/O board cannot drive or read. */
export interface PinFault {
  /** what the pin is for, and whose */
  function: 'enable' | 'relay' | 'fan' | 'tach' | 'thermistor';
  /** board id (enable), fan id (fan, tach), thermistor id, or 'relay' */
  id: string;
  error: string;
}
