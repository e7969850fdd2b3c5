import { ErrorCode, HashflexError } from '../../../agent/errors';

/**
 * VNish's REST replies (`/api/v1` on the web port, 80), as pure functions. Field names as VNish's
 * API reference lists them and pyasic reads them (pyasic/web/vnish.py, pyasic/miners/backends/vnish.py,
 * pyasic/config/mining/presets.py):
 *  - `info` (no token): { miner: "Antminer S19", model: "s19", fw_name: "Vnish", fw_version: "1.2.6",
 *    hr_measure: "GH/s", system: { network_status: { mac, hostname } } }. Builds from 1.2.7 on are
 *    branded AnthillOS; fw_name says which.
 *  - `summary` (token): { miner: { miner_status: { miner_state, description }, miner_type:
 *    "Antminer S19 (Vnish 1.2.6)", hr_realtime (in hr_measure units), power_consumption (W),
 *    power_usage (W on older builds, pyasic's wattage), chip_temp / pcb_temp { min, max } } }.
 *    miner_state: mining, auto-tuning, initializing, starting, restarting, shutting-down, stopped, failure.
 *  - `settings` (token): { miner: { overclock: { preset: "2350" | "disabled", globals, chains } } }.
 *  - `autotune/presets` (token): a list (some builds: { presets: [...] }) of { name: "2350",
 *    pretty: "2350 watt ~ 85 TH", status: "tuned" | "untuned", modded_psu_required }.
 *  - control endpoints (`mining/stop`, `start`, `settings` POST) answer 200 with an empty body, `{}`,
 *    or `{"restart_required":false,"reboot_required":false}` whether or not the change took; a refusal
 *    is `{"err": "..."}`. So a change is confirmed by reading back, never by the reply.
 * Every parser throws a plain Error with what is missing; the driver makes it a FrameInvalid fault.
 */
export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return NaN;
}

const str = (v: unknown): string => (typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '');

/** `hr_measure` -> factor to TH/s; GH/s when absent (the unit of every SHA-256 build) */
const TO_TH: Record<string, number> = { 'MH/S': 1e-6, 'GH/S': 1e-3, 'TH/S': 1, 'PH/S': 1e3 };

export interface VnishInfo {
  /** "Antminer S19" */
  miner: string;
  /** "Vnish" or "AnthillOS" */
  fwName: string;
  fwVersion: string;
  /** multiply a summary hashrate by this for TH/s */
  toTh: number;
}

export function parseInfo(v: unknown): VnishInfo {
  if (!isObj(v)) throw new Error('info: not a JSON object');
  const unit = str(v.hr_measure).toUpperCase();
  return { miner: str(v.miner), fwName: str(v.fw_name), fwVersion: str(v.fw_version), toTh: TO_TH[unit] ?? 1e-3 };
}

/** the firmware names itself VNish (or its later AnthillOS brand) */
export const isVnishFirmware = (info: VnishInfo): boolean => /vnish|anthill/i.test(info.fwName);

export interface VnishSummary {
  /** miner_status.miner_state, lower-cased */
  state: string;
  /** what the firmware says about a failure */
  description: string;
  /** measured input power (W); NaN when absent or absurd */
  watts: number;
  /** TH/s; NaN when absent or absurd */
  ths: number;
  /** hottest chip or board (°C); NaN when none reads */
  tempC: number;
}

/** above these a reading is a misreading, not a measurement (a whole rack of S21s is ~40 kW) */
const MAX_WATTS = 20_000;
const MAX_THS = 10_000;

export function parseSummary(v: unknown, toTh: number): VnishSummary {
  const m = isObj(v) ? v.miner : undefined;
  if (!isObj(m)) throw new Error('summary: no "miner" object');
  const st = m.miner_status;
  const state = isObj(st) ? str(st.miner_state).toLowerCase() : '';
  if (!state) throw new Error('summary: no miner_status.miner_state');
  const power = [num(m.power_consumption), num(m.power_usage)].find((w) => Number.isFinite(w));
  const watts = power !== undefined && power >= 0 && power <= MAX_WATTS ? power : NaN;
  const rate = [num(m.hr_realtime), num(m.instant_hashrate)].find((h) => Number.isFinite(h));
  const ths = rate !== undefined && rate >= 0 && rate * toTh <= MAX_THS ? rate * toTh : NaN;
  let tempC = NaN;
  for (const k of ['chip_temp', 'pcb_temp']) {
    const t = isObj(m[k]) ? num((m[k] as Obj).max) : NaN;
    // 0 is an absent sensor; 150 °C and up is a misreading
    if (t > 0 && t < 150) tempC = Number.isNaN(tempC) ? t : Math.max(tempC, t);
  }
  return { state, description: isObj(st) ? str(st.description) : '', watts, ths, tempC };
}

export interface VnishSettings {
  /** overclock.preset: a preset's name, or "disabled" (manual frequencies) */
  preset: string;
  /** the overclock object as read: a preset write sends it back with only the preset changed */
  overclock: Obj;
}

export function parseSettings(v: unknown): VnishSettings {
  const m = isObj(v) ? v.miner : undefined;
  const oc = isObj(m) ? m.overclock : undefined;
  if (!isObj(oc)) throw new Error('settings: no miner.overclock object');
  const preset = str(oc.preset);
  if (!preset) throw new Error('settings: no miner.overclock.preset');
  return { preset, overclock: oc };
}

export interface Preset {
  name: string;
  /** the profile's power (W), from its name or its "pretty" text */
  watts: number;
  /** the hashrate the firmware promises at it (TH/s), NaN if it does not say */
  ths: number;
  /** autotuned on this machine (an untuned one is tuned when first chosen: minutes at reduced hashrate) */
  tuned: boolean;
  /** needs a modified PSU: never chosen on a stock one */
  moddedPsu: boolean;
}

/** the presets list; entries without a power ("disabled": manual mode) are left out */
export function parsePresets(v: unknown): Preset[] {
  const list = Array.isArray(v) ? v : isObj(v) && Array.isArray(v.presets) ? v.presets : undefined;
  if (!list) throw new Error('autotune/presets: not a list of presets');
  const out: Preset[] = [];
  for (const p of list) {
    if (!isObj(p)) continue;
    const name = str(p.name);
    const pretty = str(p.pretty);
    const watts = /^\d+$/.test(name) ? Number(name) : num(/(\d+)\s*watt/i.exec(pretty)?.[1]);
    if (!name || !(watts > 0 && watts <= MAX_WATTS)) continue;
    const ths = num(/~\s*([\d.]+)\s*TH/i.exec(pretty)?.[1]);
    out.push({ name, watts, ths, tuned: str(p.status).toLowerCase() === 'tuned', moddedPsu: p.modded_psu_required === true });
  }
  return out;
}

/**
 * A control endpoint's reply body: undefined when it is one of the firmware's uninformative
 * acceptances (empty, `{}`, `{"success":true}`, the settings flags), else why it was refused;
 * `invalid` when the body is not JSON at all (something else answered, or it came garbled).
 */
export function refusalOf(body: string): { why: string; invalid: boolean } | undefined {
  if (body.trim() === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return { why: `reply is not JSON: ${JSON.stringify(body.slice(0, 60))}`, invalid: true };
  }
  if (Array.isArray(v)) return undefined;
  if (!isObj(v)) return { why: `reply is not a JSON object: ${JSON.stringify(body.slice(0, 60))}`, invalid: true };
  if (v.err !== undefined) return { why: `firmware said: ${str(v.err) || JSON.stringify(v.err)}`, invalid: false };
  if (v.success === false) return { why: 'firmware said success: false', invalid: false };
  return undefined;
}

/** throws unless the reply is one of the firmware's acceptances (which say nothing more) */
export function accepted(what: string, body: string): void {
  const r = refusalOf(body);
  if (r) throw new HashflexError(`${what}: ${r.why}`, r.invalid ? ErrorCode.FrameInvalid : ErrorCode.DeviceFault);
}

/** a settings reply that says the change acts only after a restart of the miner program */
export function restartRequired(body: string): boolean {
  try {
    return (JSON.parse(body) as { restart_required?: unknown }).restart_required === true;
  } catch {
    return false;
  }
}
