/**
 * How each event payload type the agent obeys is read (Definition, "Event Payload Enumerations";
 * the units and currency come from the payload's descriptor, Definition "Unit Enumerations").
 * A rule turns one value into what it asks of the site, or says why the value is ignored:
 * a value of the wrong kind, out of its range or in units the agent cannot convert is never
 * guessed at. Types not listed here are ignored by resolve.ts with a reason.
 */

export interface PayloadDescriptorLike {
  objectType?: string | null;
  payloadType: string;
  units?: string | null;
  currency?: string | null;
}

export interface PayloadContext {
  /** control.max_kw: what a SIMPLE share and a PERCENT setpoint are shares of */
  maxKw: number;
  /** SIMPLE level → share of maxKw */
  simpleLevels: Record<number, number>;
  /** PRICE: mine only at or below this, per kWh (undefined: prices are shown, not obeyed) */
  maxPrice?: number;
  /** the currency maxPrice is in; a price in another one is ignored */
  currency?: string;
}

/** what one payload value asks; undefined fields ask nothing */
export interface Contribution {
  curtail?: boolean;
  capKw?: number;
  setpointKw?: number;
  importLimitKw?: number;
  /** the value as the dashboard shows it */
  shown: number | string;
}

export interface PayloadRule {
  /** several values split the interval into sub-intervals (alerts carry text, read whole) */
  numeric: boolean;
  /** every event of the type applies at once (alerts), rather than the strictest one */
  cumulative?: boolean;
  read(value: unknown, d: PayloadDescriptorLike | undefined, ctx: PayloadContext): Contribution | { problem: string };
}

/** a power figure any site could see: beyond it a value is a mistake, not a request (1 GW) */
export const ABSURD_KW = 1e6;
/** a price per kWh beyond which the value is a mistake (any currency) */
export const ABSURD_PRICE = 1e6;

const POWER_UNITS: Record<string, number> = { KW: 1, W: 0.001, MW: 1000 };
/** what a price per unit is per kWh */
const ENERGY_UNITS: Record<string, number> = { KWH: 1, WH: 1000, MWH: 0.001 };

const describe = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v.slice(0, 40)) : typeof v === 'number' ? String(v) : typeof v);

function number(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** a power value in the descriptor's units → kW (no units: kW, the spec's unit of power) */
function powerKw(v: unknown, d: PayloadDescriptorLike | undefined, percentOf?: number): number | { problem: string } {
  const n = number(v);
  if (n === undefined) return { problem: `value ${describe(v)} is not a number` };
  const units = (d?.units ?? 'KW').toUpperCase();
  let kw: number;
  if (units === 'PERCENT' && percentOf !== undefined) {
    if (n < 0 || n > 1) return { problem: `${n} is not a share between 0 and 1 (PERCENT)` };
    kw = n * percentOf;
  } else if (POWER_UNITS[units] !== undefined) kw = n * POWER_UNITS[units];
  else return { problem: `units ${describe(d?.units)} are not a power (KW, W, MW)` };
  if (Math.abs(kw) > ABSURD_KW) return { problem: `${n} ${units} is beyond any site (${ABSURD_KW} kW)` };
  return kw;
}

export const PAYLOAD_RULES: Record<string, PayloadRule> = {
  // "An indication of the level of a basic demand response signal ... 0, 1, 2, or 3"; 0 is normal operation
  SIMPLE: {
    numeric: true,
    read(v, _d, ctx) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 3) return { problem: `level ${describe(v)} is not 0, 1, 2 or 3` };
      const share = ctx.simpleLevels[v];
      if (share === undefined) return v === 0 ? { shown: 0 } : { problem: `level ${v} has no share in simple_levels` };
      return share === 0 ? { curtail: true, capKw: 0, shown: v } : { capKw: share * ctx.maxKw, shown: v };
    },
  },
  // the price of energy, per the descriptor's units and currency; mining stops above max_price
  PRICE: {
    numeric: true,
    read(v, d, ctx) {
      const n = number(v);
      if (n === undefined) return { problem: `price ${describe(v)} is not a number` };
      const units = (d?.units ?? 'KWH').toUpperCase();
      const perKwh = ENERGY_UNITS[units];
      if (perKwh === undefined) return { problem: `a price per ${describe(d?.units)} is not a price of electric energy (KWH, WH, MWH)` };
      const price = n * perKwh;
      if (Math.abs(price) > ABSURD_PRICE) return { problem: `price ${n} per ${units} is beyond any tariff` };
      if (ctx.currency && d?.currency && d.currency.toUpperCase() !== ctx.currency) return { problem: `price in ${describe(d.currency)}, max_price in ${ctx.currency}` };
      const shown = Math.round(price * 1e6) / 1e6;
      if (ctx.maxPrice === undefined) return { shown };
      return price > ctx.maxPrice ? { capKw: 0, shown } : { shown };
    },
  },
  // "The maximum import level for the site"; a negative limit asks for export, which only shedding approaches
  IMPORT_CAPACITY_LIMIT: {
    numeric: true,
    read(v, d) {
      const kw = powerKw(v, d);
      if (typeof kw !== 'number') return kw;
      return { importLimitKw: kw, shown: round(kw) };
    },
  },
  // "The absolute amount of consumption by a resource": the miners' target
  DISPATCH_SETPOINT: {
    numeric: true,
    read(v, d, ctx) {
      const kw = powerKw(v, d, ctx.maxKw);
      if (typeof kw !== 'number') return kw;
      if (kw < 0) return { problem: `setpoint ${round(kw)} kW is below zero: miners do not generate` };
      return { setpointKw: Math.min(kw, ctx.maxKw), shown: round(kw) };
    },
  },
  // "imminent risk of the grid failing": a curtailment; the value is text for people
  ALERT_GRID_EMERGENCY: {
    numeric: false,
    cumulative: true,
    read(v) {
      const text = typeof v === 'string' ? v.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 200) : 'grid emergency';
      return { curtail: true, capKw: 0, shown: text };
    },
  },
};

const round = (kw: number) => Math.round(kw * 1000) / 1000;
