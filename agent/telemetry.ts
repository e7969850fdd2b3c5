import type { SiteState, Mode } from './control/types';

/** Body of a v1 `telemetry` frame (DESIGN.md §4), without type/seq/ts which the uplink adds. */
export interface TelemetryBody {
  state: SiteState;
  mode: Mode;
  grid: { hz: number; kw: number };
  /** cap_kw / cap_until (additions): the set_power cap in force and when it lapses, only while there is one */
  miners: { kw: number; target_kw: number; cap_kw?: number; cap_until?: string };
  boards: { id: string; on: boolean; mhz: number; kw: number; temp_c: number | null; fault?: string }[];
  fans: { id: string; duty: number; rpm: number }[];
  /** additions to the contract: trip sources in force, meter freshness, link counters */
  trips?: string[];
  meter?: { stale: boolean; age_ms: number };
  links?: Record<string, Record<string, number>>;
  /** stock and aftermarket miners on the LAN (DESIGN.md §7's per-miner fields; README "Network miners") */
  network_miners?: NetworkMinerTelemetry[];
  /** the OpenADR VEN, when configured: its link to the VTN and the events in force (agent/grid/openadr) */
  openadr?: OpenAdrTelemetry;
}

export interface OpenAdrTelemetry {
  connected: boolean;
  ven_id?: string;
  fault?: string;
  notifications: string;
  /** the events in force: program, event, payload type, value, until (wall ms) */
  active: { program: string; event: string; type: string; value: number | string; until?: number }[];
}

export interface NetworkMinerTelemetry {
  id: string;
  on: boolean;
  kw: number;
  ths: number | null;
  temp_c: number | null;
  state: string;
  fault?: string;
}

/** Round for the wire: telemetry is read by people and plotted; 3 decimals is plenty. */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
