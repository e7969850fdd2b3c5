/** What a grid scenario sets on the plant at a moment (seconds from the start). */
export interface ScenarioPoint {
  hz: number;
  generationKw: number;
  baseLoadKw: number;
  /** the grid operator's relay contact */
  relay: boolean;
}

/** A site-controller command sent at a set time (uplink protocol v1 actions). */
export type ScenarioCommand =
  | { atS: number; action: 'curtail' }
  | { atS: number; action: 'release' }
  | { atS: number; action: 'set_power'; kw: number; ttlS: number };

/**
 * Faults a scenario switches on for a while:
 *  meter-silence      the grid meter stops answering (sim meter `faults.timeout`)
 *  board-garbage      a hashboard chain prefixes its replies with noise (sim chain `faults.garbage`)
 *  io-loss            the Firmata I/O board's cable is pulled (sim firmata `unplug()` / `replug()`)
 *  controller-outage  the site controller is unreachable (connections dropped)
 */
export type FaultKind = 'meter-silence' | 'board-garbage' | 'io-loss' | 'controller-outage';
export const FAULT_KINDS: readonly FaultKind[] = ['meter-silence', 'board-garbage', 'io-loss', 'controller-outage'];

export interface ScenarioFault {
  atS: number;
  durationS: number;
  kind: FaultKind;
  /** board id for board-garbage (default hb0) */
  target?: string;
}

/**
 * A declared expectation, checked against the run's summary:
 *  trip-within      every fall of the frequency below `hz` (or relay close, or curtail command) is
 *                   followed by all boards off within `ms`, reported with the matching source
 *  no-trip          no trip at all, or none from `source`
 *  trip-from        at least one trip from `source`
 *  surplus-used     energy used from surplus ≥ pct % of the surplus
 *  miner-import     grid import caused by the miners ≤ pct % of the miners' energy
 *  state-at         the site state at `atS` is `state`
 */
export type Expectation = { text: string } & (
  | { kind: 'trip-within'; ms: number; signal: { hz: number } | 'relay' | 'curtail' }
  | { kind: 'no-trip'; source?: string }
  | { kind: 'trip-from'; source: string }
  | { kind: 'surplus-used'; pct: number }
  | { kind: 'miner-import'; pct: number }
  | { kind: 'state-at'; atS: number; state: string }
);

export interface Scenario {
  name: string;
  description: string;
  /** natural length (s); the simulator loops or stops at it */
  durationS: number;
  /** the grid's nominal frequency (default 60 Hz) */
  nominalHz?: 50 | 60;
  at(tS: number): ScenarioPoint;
  /** controller commands at set times, in time order */
  commands?: ScenarioCommand[];
  /** faults switched on at set times, in time order */
  faults?: ScenarioFault[];
  /** what the run must show; each gets pass/fail in the report */
  expect?: Expectation[];
  /** the seed the scenario's randomness was drawn with */
  seed?: number;
}
