/** Vocabulary of the control core. Strings here are on the wire (uplink protocol v1). */

export type TripSource = 'command' | 'relay' | 'underfrequency' | 'meter-lost' | 'overtemp' | 'fan-failure' | 'io-lost' | 'scada' | 'openadr';
/** trip sources that are someone's instruction (a curtailment), not a condition: the site reads `curtailed` */
export type CurtailSource = 'command' | 'scada' | 'openadr';
export const CURTAIL_SOURCES: readonly CurtailSource[] = ['command', 'scada', 'openadr'];
export type SiteState = 'running' | 'curtailed' | 'tripped' | 'ramping' | 'fault';
export type Mode = 'surplus' | 'setpoint' | 'heat' | 'off';

/** What control needs to know of a board to split a power target across the chain. */
export interface BoardModel {
  id: string;
  minMhz: number;
  maxMhz: number;
  /** PLL step used for throttling (MHz) */
  stepMhz: number;
  kwAt(mhz: number): number;
}

export type ControlEvent =
  | { kind: 'release'; source: TripSource; by: 'command' | 'auto' }
  | { kind: 'fault'; source: string; detail: string }
  | { kind: 'recover'; source: string };
