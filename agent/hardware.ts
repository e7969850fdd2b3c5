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
 *  'stale'  ()             no reply for stale_ms, or the same reading for frozen_ms (once until a new sample)
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

/**
 * A network miner's power settings as its firmware offers them; control picks one setting per
 * miner, as it picks a chip frequency per hashboard. The scale is the firmware's own: a power
 * percent (Whatsminer), a work level (Avalon), a mode index (stock Antminer: low power, normal),
 * watts (power-targeting firmware), or 1 alone (on/off only). 0 always means asleep.
 */
export interface MinerSettings {
  /** lowest running setting, highest, and the step between settings */
  min: number;
  max: number;
  step: number;
  /** estimated kW at a setting (0: asleep, the control board's standby only) */
  kwAt(setting: number): number;
  /** what the scale is, for logs, docs and the doctor */
  unit: 'percent' | 'level' | 'mode' | 'watts' | 'on-off';
}

export type MinerState = 'hashing' | 'sleeping' | 'waking' | 'stopping' | 'unreachable' | 'unknown';

export interface MinerStatus {
  id: string;
  /** hashing (or waking up to) */
  on: boolean;
  /** the miner's own power reading (kW), or its estimate from rated_kw and mode where the firmware reports none */
  kw: number;
  kwMeasured: boolean;
  /** hashrate, TH/s; NaN if unknown */
  ths: number;
  /** hottest board or chip (°C), NaN if unknown */
  tempC: number;
  state: MinerState;
  /** the setting in force as the miner reports it (0 asleep) */
  setting: number;
  /** set while the miner does not answer as it should (unreachable, refused credentials, garbage) */
  fault?: string;
  counters: LinkCounters;
}

/**
 * A stock or aftermarket miner on the site LAN, over its own network API (drivers/miner/, one
 * driver per firmware family: DESIGN.md §7). The agent drives it as it drives a hashboard; the
 * driver keeps its connection, session or token fresh ahead of time, so a trip never waits for
 * a logon.
 */
export interface NetworkMiner {
  readonly id: string;
  /** the firmware family (config `driver`; after `auto`, the one identified) */
  readonly driver: string;
  readonly settings: MinerSettings;
  /**
   * Identify the firmware, log in where it has accounts, start polling status and keeping
   * credentials fresh. Resolves after the first attempt; never rejects: a miner that is down is
   * a `fault` in status(), and the driver keeps trying.
   */
  start(): Promise<void>;
  /**
   * Trip: stop hashing now (sleep). Resolves once the miner's API has accepted the stop;
   * rejects with why it did not (unreachable, refused). Never waits for a poll or a logon.
   */
  stop(): Promise<void>;
  /** normal control: run at `setting` of `settings` (0 = sleep); resolves when the API accepted it */
  set(setting: number): Promise<void>;
  status(): MinerStatus;
  close(): Promise<void>;
}
