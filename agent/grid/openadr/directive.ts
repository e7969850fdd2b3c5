/**
 * The seam between the VEN and the site (fixed with the lead; agent/grid/openadr/resolve.ts
 * computes it, the site obeys it). Every figure is what the events in force allow right now;
 * the site keeps its own protections on top.
 */

/** what the events in force ask of the site now, most restrictive first (agent/grid/openadr/resolve.ts computes it) */
export interface OpenAdrDirective {
  /** ALERT_GRID_EMERGENCY, or a SIMPLE level whose share is 0: curtail (trip source `openadr`) */
  curtail: boolean;
  /** cap on the miners' power, kW (SIMPLE share × max_kw, PRICE above max_price → 0); undefined = none */
  minersMaxKw?: number;
  /** DISPATCH_SETPOINT: the miners' target, kW (still under every cap) */
  setpointKw?: number;
  /** IMPORT_CAPACITY_LIMIT: the site's grid import held at or below this, kW */
  importLimitKw?: number;
  /** the events in force, for telemetry, /metrics and the dashboard */
  active: { program: string; event: string; type: string; value: number | string; until?: number }[];
  /** wall ms of the next interval boundary, when the directive changes again without news from the VTN */
  nextChangeAt?: number;
}

/** what the site gives the VEN for its reports (the same figures as telemetry) */
export interface SiteReading { at: number; gridKw: number; minersKw: number; targetKw: number; state: string; mode: string }

/** the directive with nothing in force */
export const NO_DIRECTIVE: OpenAdrDirective = { curtail: false, active: [] };

/** whether two directives ask the same of the site (onDirective is called only on a change) */
export function sameDirective(a: OpenAdrDirective, b: OpenAdrDirective): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
