import type { VirtualClock } from '../../agent/clock';

/**
 * A driver and its simulated firmware on one virtual clock, as each family's test rig
 * (test/fixtures/<family>/rig.ts) hands them to its tests: the driver polls only when a test
 * advances time, and the firmware's requests since mark() read as lines.
 */
export interface MinerRig<S, M> {
  clock: VirtualClock;
  sim: S;
  miner: M;
  /** advance virtual time and wait for the driver's poll and credential work to finish */
  advance(ms: number): Promise<void>;
  /** the requests the sim took after mark(), as lines */
  since(): string[];
  mark(): void;
  close(): Promise<void>;
}

export function minerRig<S extends { close(): Promise<unknown> }, M extends { idle(): Promise<void>; close(): Promise<void> }>(
  clock: VirtualClock, sim: S, miner: M,
  /** how many requests the sim has taken, and its requests from an index on as lines */
  requests: { count(): number; lines(from: number): string[] },
): MinerRig<S, M> {
  let from = 0;
  return {
    clock, sim, miner,
    async advance(ms) {
      clock.advance(ms);
      await miner.idle();
    },
    mark() {
      from = requests.count();
    },
    since: () => requests.lines(from),
    async close() {
      await miner.close();
      await sim.close();
    },
  };
}
