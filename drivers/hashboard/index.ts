import type { Clock } from '../../agent/clock';
import { BoardDriver } from './board';
import type { HashboardOptions } from './options';

export { BoardDriver, type HashboardStatus } from './board';
export { ChainLink, type ReadResult, type RegReply, type NonceReply } from './link';
export { MODELS, isChipModel, wattsPerChip, ghsPerChip, type ChipModel, type ModelSpec } from './models';
export { DEFAULTS as HASHBOARD_DEFAULTS, type HashboardOptions } from './options';
export * as codec from './codec';

/**
 * One BM13xx chain over its serial link (a pty, a USB UART, or raw TCP through ser2net). The
 * result is a Hashboard whose status() adds chip count and hash-rate estimates.
 */
export function createHashboard(opts: HashboardOptions, clock: Clock): BoardDriver {
  return new BoardDriver(opts, clock);
}
export { hashboardTuning, hashboardRangeProblems, hashboardOptionsFrom, type HashboardTuning } from './config';
