import { ErrorCode, HashflexError } from '../../../agent/errors';

/**
 * The Braiins OS+ replies this driver reads, as decoded by proto.ts (plain objects, absent
 * messages null), checked and reduced to what the agent uses. A value no miner could report (a
 * negative or enormous power, a hashrate of petahashes, a chip at 500 °C) is not taken as a
 * reading: the reply is refused as unreadable (FrameInvalid) and named, field and value.
 */
type Obj = Record<string, unknown>;

/** one miner's ceilings: the largest hydro machines draw about 6 kW and hash about 500 TH/s */
export const LIMITS = { watts: 30_000, ths: 10_000, tempC: { lo: -50, hi: 200 } } as const;

export interface BosDetails {
  /** MinerStatus (proto.ts MinerStatusCode) */
  status: number;
  /** e.g. "Antminer S19j Pro" */
  model?: string;
  /** MinerBrand: 1 Antminer, 2 Whatsminer */
  brand: number;
  /** BosVersion.current, e.g. "2024-05-09-0-0ce150e9-24.04-plus" */
  firmware?: string;
  bosPlus: boolean;
  /** the manufacturer's hashrate (TH/s), NaN if not said */
  stickerThs: number;
}

export interface BosStats {
  /** approximated consumption (W), NaN where the firmware reports none */
  watts: number;
  /** real hashrate over the last seconds (TH/s), NaN if none */
  ths: number;
  /** the hashrate expected at the present target (TH/s), NaN if none */
  nominalThs: number;
}

export interface BosTuner {
  /** the tuner's power target in force (W), undefined outside power-target mode */
  targetW?: number;
  /** TunerState (proto.ts TunerStateCode) */
  state: number;
  mode: 'power' | 'hashrate' | 'none';
}

export interface PowerRange {
  min: number;
  max: number;
  default?: number;
}

const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

function bad(what: string, detail: string): HashflexError {
  return new HashflexError(`${what}: unreadable reply (${detail})`, ErrorCode.FrameInvalid);
}

function root(what: string, r: unknown): Obj {
  const o = obj(r);
  if (!o) throw bad(what, 'not a message');
  return o;
}

/** a number inside [lo, hi], or NaN when the field is absent; anything else is refused */
function within(what: string, field: string, v: unknown, lo: number, hi: number): number {
  if (v === undefined || v === null) return NaN;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw bad(what, `${field} ${JSON.stringify(v)} is outside ${lo}..${hi}`);
  return v;
}

/** Power { watt } as watts; NaN when the message is absent */
function watts(what: string, field: string, p: unknown): number {
  return within(what, field, obj(p)?.watt, 0, LIMITS.watts);
}

/** GigaHashrate { gigahash_per_second } as TH/s; NaN when absent */
function terahash(what: string, field: string, g: unknown): number {
  const gh = within(what, field, obj(g)?.gigahash_per_second, 0, LIMITS.ths * 1000);
  return gh / 1000;
}

export function parseApiVersion(r: unknown): string {
  const o = root('GetApiVersion', r);
  const part = (k: string) => within('GetApiVersion', k, o[k] ?? 0, 0, 1e6);
  const v = `${part('major')}.${part('minor')}.${part('patch')}`;
  const pre = str(o.pre);
  return pre ? `${v}-${pre}` : v;
}

export function parseDetails(r: unknown): BosDetails {
  const what = 'GetMinerDetails';
  const o = root(what, r);
  const id = obj(o.miner_identity);
  const ver = obj(o.bos_version);
  return {
    status: within(what, 'status', o.status ?? 0, 0, 1000),
    model: str(id?.miner_model) ?? str(id?.name),
    brand: typeof id?.brand === 'number' ? id.brand : 0,
    firmware: str(ver?.current),
    bosPlus: ver?.bos_plus === true,
    stickerThs: terahash(what, 'sticker_hashrate', o.sticker_hashrate),
  };
}

export function parseStats(r: unknown): BosStats {
  const what = 'GetMinerStats';
  const o = root(what, r);
  const work = obj(o.miner_stats);
  const real = obj(work?.real_hashrate);
  const recent = terahash(what, 'real_hashrate.last_5s', real?.last_5s);
  return {
    watts: watts(what, 'power_stats.approximated_consumption', obj(o.power_stats)?.approximated_consumption),
    ths: Number.isFinite(recent) ? recent : terahash(what, 'real_hashrate.last_1m', real?.last_1m),
    nominalThs: terahash(what, 'nominal_hashrate', work?.nominal_hashrate),
  };
}

export function parseTuner(r: unknown): BosTuner {
  const what = 'GetTunerState';
  const o = root(what, r);
  const state = within(what, 'overall_tuner_state', o.overall_tuner_state ?? 0, 0, 1000);
  const power = obj(o.power_target_mode_state);
  if (power) {
    const w = watts(what, 'power_target_mode_state.current_target', power.current_target);
    return { state, mode: 'power', targetW: Number.isFinite(w) ? w : undefined };
  }
  return { state, mode: obj(o.hashrate_target_mode_state) ? 'hashrate' : 'none' };
}

/** the hottest sensor (°C), NaN if the firmware names none */
export function parseCooling(r: unknown): number {
  const what = 'GetCoolingState';
  const t = obj(obj(root(what, r).highest_temperature)?.temperature);
  return within(what, 'highest_temperature', t?.degree_c, LIMITS.tempC.lo, LIMITS.tempC.hi);
}

/** the power-target range of the model, or undefined where the firmware gives none or one that makes no sense */
export function parseConstraints(r: unknown): PowerRange | undefined {
  const what = 'GetConstraints';
  const pt = obj(obj(root(what, r).tuner_constraints)?.power_target);
  if (!pt) return undefined;
  const min = watts(what, 'power_target.min', pt.min);
  const max = watts(what, 'power_target.max', pt.max);
  const def = watts(what, 'power_target.default', pt.default);
  if (!(min > 0) || !(max > min)) return undefined;
  return { min, max, ...(def >= min && def <= max ? { default: def } : {}) };
}

/** SetPowerTargetResponse: the target the firmware took (W), which it may have rounded */
export function parseSetTarget(r: unknown): number | undefined {
  const w = watts('SetPowerTarget', 'power_target', obj(root('SetPowerTarget', r).power_target));
  return Number.isFinite(w) ? w : undefined;
}
