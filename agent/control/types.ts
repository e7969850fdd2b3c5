/** Vocabulary of the control core. Strings here are on the wire (uplink protocol v1). */

export type TripSource = 'command' | 'relay' | 'underfrequency' | 'meter-lost' | 'overtemp' | 'fan-failure' | 'io-lost' | 'scada' | 'openadr';
/** trip sources that are someone's instruction (a curtailment), not a condition: the site reads `curtailed` */
export type CurtailSource = 'command' | 'scada' | 'openadr';
export const CURTAIL_SOURCES: readonly CurtailSource[] = ['command', 'scada', 'openadr'];
export type SiteState = 'running' | 'curtailed' | 'tripped' | 'ramping' | 'fault';
export type Mode = 'surplus' | 'setpoint' | 'heat' | 'off';

/**
 * What control needs to know of one load (a hashboard, a network miner) to split a power target
 * across the site. Each has a setting on its own scale: a hashboard's chip frequency (MHz), a
 * miner's power percent, work level or mode (agent/hardware.ts MinerSettings). 0 is off.
 */
export interface LoadModel {
  id: string;
  /** the fault source that holds it out of the split (`board:ID`, `miner:ID`) */
  source: string;
  /** lowest running setting, highest, and the step control moves it by */
  min: number;
  max: number;
  step: number;
  kwAt(setting: number): number;
  /** once switched off by control, it stays off at least this long (ms): machines that must not cycle */
  minOffMs?: number;
  /** once switched on by control, it is not switched off (by control; trips always shed) for this long (ms) */
  minOnMs?: number;
}

export type ControlEvent =
  | { kind: 'release'; source: TripSource; by: 'command' | 'auto' }
  | { kind: 'fault'; source: string; detail: string }
  | { kind: 'recover'; source: string }
  /** after a trip with network miners: their readings and the meter show the power gone (agent/settle.ts) */
  | { kind: 'settled'; source: TripSource; ok: boolean; ms: number; miners_kw: number; grid_drop_kw?: number };
