import type { SerialSpec } from '../transport';
import type { ByteTransport } from '../transport';
import type { ChipModel } from './models';

/**
 * Board options. The config keys (snake_case in YAML, see README "Hashboards") map 1:1 to these.
 * Units in the names; defaults are ESP-Miner's where it has one.
 */
export interface HashboardOptions {
  id: string;
  model: ChipModel;
  serial: SerialSpec;
  /** chips expected on the chain, 1..256 (address space is 8 bits, split evenly) */
  chips: number;
  /** throttling floor, MHz; default the model's minimum (50) */
  minMhz?: number;
  /** throttling ceiling, MHz; default the model's stock frequency (485/490/525) */
  maxMhz?: number;
  /** ramp step, MHz; default 6.25 (ESP-Miner frequency_transition_bmXX.c) */
  rampStepMhz?: number;
  /** pause between ramp steps, ms; default 100 (ESP-Miner) */
  rampStepMs?: number;
  /** reply timeout on top of the replies' wire time, ms; default 200 */
  timeoutMs?: number;
  /** health / hash-counter poll period, ms; default 1000 */
  pollMs?: number;
  /** work (job frame) period while hashing, ms; default 1000 */
  jobIntervalMs?: number;
  /** share difficulty for the ticket mask (power of two), default 256 (ESP-Miner) */
  difficulty?: number;
  /** consecutive failed polls before the board is reported faulted; default 3 */
  faultAfter?: number;
  /** pause between reconnect / re-initialisation attempts, ms; default 1000 */
  retryMs?: number;
  /**
   * The board's power-enable line (e.g. `(on) => io.setEnable(id, on)`). When given, trip() drops
   * it right after writing chain-inactive, start() raises it, and the first setFrequency(>0)
   * after a trip raises it again and re-initialises the chain (it comes back reset).
   */
  power?: (on: boolean) => void;
  /** wait after raising the enable line before enumerating, ms; default 300 */
  powerOnMs?: number;
  /** a temperature source for status().tempC (e.g. the I/O board thermistor); default NaN */
  temperature?: () => number;
  /** transport factory, for tests; default drivers/transport openTransport */
  open?: (spec: SerialSpec) => Promise<ByteTransport>;
}

export const DEFAULTS = {
  rampStepMhz: 6.25,
  rampStepMs: 100,
  timeoutMs: 200,
  pollMs: 1000,
  jobIntervalMs: 1000,
  difficulty: 256,
  faultAfter: 3,
  retryMs: 1000,
  powerOnMs: 300,
} as const;
