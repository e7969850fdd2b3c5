import type { Family } from '../miners/families';

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
 *  miner-down         a network miner's API refuses every connection (its `faults.down`): the
 *                     machine keeps doing what it last did, the agent can neither read nor stop it
 */
export type FaultKind = 'meter-silence' | 'board-garbage' | 'io-loss' | 'controller-outage' | 'miner-down';
export const FAULT_KINDS: readonly FaultKind[] = ['meter-silence', 'board-garbage', 'io-loss', 'controller-outage', 'miner-down'];

export interface ScenarioFault {
  atS: number;
  durationS: number;
  kind: FaultKind;
  /** board id for board-garbage (default hb0); miner id for miner-down (required) */
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
 *  miners-stop-within  every delivered curtail: every network miner drawing power took its stop
 *                   (its firmware carried it out) within `ms`, and the curtail's ack named none
 *  power-gone-within   every delivered curtail: the agent's `settled` event (ok) and every
 *                   miner's own power at standby within `s` seconds
 *  openadr-obeyed-within  every OpenADR event of the scenario's track shows its effect at the site
 *                   within `s` seconds of its start (sim/report/openadr.ts), and a deleted event's
 *                   effect ends within `s` seconds of the deletion
 */
export type Expectation = { text: string } & (
  | { kind: 'trip-within'; ms: number; signal: { hz: number } | 'relay' | 'curtail' }
  | { kind: 'no-trip'; source?: string }
  | { kind: 'trip-from'; source: string }
  | { kind: 'surplus-used'; pct: number }
  | { kind: 'miner-import'; pct: number }
  | { kind: 'state-at'; atS: number; state: string }
  | { kind: 'miners-stop-within'; ms: number }
  | { kind: 'power-gone-within'; s: number }
  | { kind: 'openadr-obeyed-within'; s: number }
);

/** the payload types an OpenADR scenario track creates (Definitions 3.1.0, event payload types) */
export type ScenarioVtnEventType = 'SIMPLE' | 'PRICE' | 'IMPORT_CAPACITY_LIMIT' | 'DISPATCH_SETPOINT' | 'ALERT_GRID_EMERGENCY';

/** an event the utility creates at the simulated VTN at `atS` (seconds from the start) */
export interface ScenarioVtnEvent {
  atS: number;
  /** the program's name (one of the track's programs) */
  program: string;
  name: string;
  type: ScenarioVtnEventType;
  /** SIMPLE: the level (0..3); PRICE: per kWh; the limits and setpoint: kW; ALERT: its text */
  value: number | string;
  /** its start relative to its creation, s; 0 = the specification's "now" start */
  startS: number;
  /** absent: open-ended */
  durationS?: number;
  /** lower number = higher priority; absent = lowest */
  priority?: number;
  /** when the utility deletes it (seconds from the scenario's start) */
  deleteAtS?: number;
}

/** the VTN track: the programs the simulated VTN offers and the events of the run */
export interface ScenarioOpenAdr {
  /** the VEN's poll_s (default 10) */
  pollS?: number;
  /** webhook notifications on a listener of the agent (default false: polling only) */
  notify?: boolean;
  programs: string[];
  /** the VEN's max_price (PRICE events: mine only at or below it) */
  maxPrice?: number;
  /** in creation order */
  events: ScenarioVtnEvent[];
}

/** The site a scenario is written for; `--boards` / `--miners` override it. */
export interface ScenarioSite {
  boards?: number;
  /** network miners of the firmware families in turn (sim/miners/fleet.ts) */
  miners?: number;
  /** of these families only (default every family): a scenario written for stock firmware says so */
  families?: readonly Family[];
  /**
   * how often the simulated meter refreshes its registers (Hz; default 5, as many real meters):
   * the under-frequency scenarios use a fast meter, as a site enrolled for under-frequency trips has
   */
  meterHz?: number;
  /** control.max_kw of the generated config (default: sim/site.ts siteMaxKw) */
  maxKw?: number;
}

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
  /** the site it is written for (default: 4 boards, no network miners) */
  site?: ScenarioSite;
  /** OpenADR events at a simulated VTN (real-wire rig only) */
  openadr?: ScenarioOpenAdr;
}
