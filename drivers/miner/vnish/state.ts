import type { MinerState } from '../../../agent/hardware';
import type { VnishSummary } from './reply';

/**
 * What VNish's `summary` miner_state means for MinerStatus.state. The values as VNish's API
 * reference and pyasic's `_is_mining` name them (stopped, shutting-down and failure are not
 * mining); a command the API took and no read has shown yet overrides what the last read said.
 */
export type Command = 'stop' | 'start';

/** miner_state values in which it does not hash, and is not about to */
export const ASLEEP: ReadonlySet<string> = new Set(['stopped', 'shutting-down', 'stopping', 'paused']);
const WAKING: ReadonlySet<string> = new Set(['initializing', 'starting', 'restarting']);
const HASHING: ReadonlySet<string> = new Set(['mining', 'auto-tuning', 'autotuning', 'tuning']);

export function stateOf(s: VnishSummary, pending: Command | undefined): MinerState {
  if (pending === 'stop' && !ASLEEP.has(s.state)) return 'stopping';
  if (pending === 'start' && ASLEEP.has(s.state)) return 'waking';
  if (s.state === 'failure') return 'unknown';
  if (s.state === 'stopped' || s.state === 'paused') return 'sleeping';
  if (s.state === 'shutting-down' || s.state === 'stopping') return 'stopping';
  if (WAKING.has(s.state)) return 'waking';
  // the firmware says it mines: still ramping while it shows no hashrate (unknown is not zero)
  if (HASHING.has(s.state)) return Number.isNaN(s.ths) || s.ths > 0 ? 'hashing' : 'waking';
  return s.ths > 0 ? 'hashing' : 'unknown';
}
