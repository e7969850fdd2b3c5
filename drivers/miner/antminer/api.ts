/**
 * The stock Antminer (bmminer) replies on the cgminer-style API, TCP 4028, as pure functions.
 * Field names as pyasic reads them (pyasic/miners/backends/bmminer.py, antminer.py; the factory's
 * model look-up in pyasic/miners/factory.py):
 *  - `version`: VERSION[0] { BMMiner, API, Miner, CompileTime (the firmware build, pyasic's
 *    fw_ver), Type: "Antminer S19j Pro" }.
 *  - `summary`: SUMMARY[0] { "GHS 5s" (GH/s, a number or a string of one), "GHS av", Elapsed }.
 *  - `stats`: STATS[0] is the version block, STATS[1] the miner: fan1..fan4 (RPM), temp{n} (board),
 *    temp2_{n} (chip), temp_chip{n} / temp_pcb{n} ("58-58-66-66": a string of sensors on newer
 *    X19/X21 builds), total_rateideal with rate_unit (GH by default), chain_rate{n}, Elapsed.
 *    The firmware writes the two STATS objects with nothing between them (`}{`): parseRpcReply
 *    in drivers/miner/rpc.ts mends that.
 */
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return NaN;
}

/** the reply's STATUS says success (S or I), else the firmware's message */
export function statusError(reply: Obj): string | undefined {
  const st = Array.isArray(reply.STATUS) ? reply.STATUS[0] : undefined;
  if (!isObj(st)) return 'reply has no STATUS';
  if (st.STATUS === 'S' || st.STATUS === 'I') return undefined;
  return `API error ${String(st.Code ?? '?')}: ${String(st.Msg ?? st.Description ?? '')}`;
}

function first(reply: Obj, key: string): Obj | undefined {
  const a = reply[key];
  return Array.isArray(a) && isObj(a[0]) ? a[0] : undefined;
}

export interface VersionInfo {
  /** VERSION[0].Type, e.g. "Antminer S19j Pro" */
  type: string;
  /** the model without the make, e.g. "S19j Pro" */
  model: string;
  /** the firmware build (CompileTime), or the miner program's version */
  firmware: string;
  /** the API's own version */
  api: string;
  /** the whole VERSION[0] text upper-cased, for telling firmware families apart */
  text: string;
}

export function parseVersion(reply: Obj): VersionInfo {
  const v = first(reply, 'VERSION');
  if (!v) throw new Error('version: no VERSION block');
  const type = String(v.Type ?? '').trim();
  return {
    type,
    model: modelName(type),
    firmware: String(v.CompileTime ?? v.BMMiner ?? v.CGMiner ?? v.Miner ?? '').trim(),
    api: String(v.API ?? ''),
    text: JSON.stringify(reply).toUpperCase(),
  };
}

/** "Antminer S19j Pro (88)" -> "S19j Pro" (pyasic cuts at " (" too) */
export function modelName(type: string): string {
  return type.split(' (')[0].replace(/^\s*antminer\s*/i, '').trim();
}

export interface SummaryInfo {
  /** TH/s over the firmware's 5 s window; NaN if absent */
  ths: number;
  thsAvg: number;
  elapsedS: number;
}

export function parseSummary(reply: Obj): SummaryInfo {
  const s = first(reply, 'SUMMARY');
  if (!s) throw new Error('summary: no SUMMARY block');
  const ths = num(s['GHS 5s']) / 1000;
  if (!Number.isFinite(ths)) throw new Error('summary: no "GHS 5s" hashrate');
  return { ths, thsAvg: num(s['GHS av']) / 1000, elapsedS: num(s.Elapsed) };
}

export interface StatsInfo {
  /** hottest chip or board sensor (°C); NaN if none reads */
  tempC: number;
  /** fan speeds (RPM), fans that report 0 included */
  fans: number[];
  /** the hashrate the firmware expects at its setting (TH/s); NaN if unknown */
  idealThs: number;
}

/** board (temp1), chip (temp2_1), sensor strings (temp_chip1, temp_pcb1) and temp_max; not temp_num, not temp_pic */
const TEMP_KEY = /^temp(\d+|2_\d+|_chip\d+|_pcb\d+|_max)$/;

const UNIT_TO_TH: Record<string, number> = { MH: 1e-6, GH: 1e-3, TH: 1, PH: 1e3 };

export function parseStats(reply: Obj): StatsInfo {
  const blocks = Array.isArray(reply.STATS) ? reply.STATS.filter(isObj) : [];
  // STATS[1] on stock firmware; the last block that carries miner fields on anything else
  const s = blocks.find((b, i) => i > 0 && ('fan_num' in b || 'temp_num' in b || 'total_rateideal' in b)) ?? blocks[1];
  if (!s) throw new Error('stats: no miner block');
  let tempC = NaN;
  const take = (t: number) => {
    // 0 is an absent sensor; above 150 °C is a misreading, not a temperature
    if (Number.isFinite(t) && t > 0 && t < 150) tempC = Number.isNaN(tempC) ? t : Math.max(tempC, t);
  };
  const fans: number[] = [];
  for (const [k, v] of Object.entries(s)) {
    if (TEMP_KEY.test(k)) {
      if (typeof v === 'string' && v.includes('-')) for (const part of v.split('-')) take(num(part));
      else take(num(v));
    } else if (/^fan\d+$/.test(k)) {
      const f = num(v);
      if (Number.isFinite(f)) fans.push(f);
    }
  }
  const unit = typeof s.rate_unit === 'string' ? s.rate_unit.toUpperCase() : 'GH';
  const idealThs = num(s.total_rateideal) * (UNIT_TO_TH[unit] ?? 1e-3);
  return { tempC, fans, idealThs: idealThs > 0 ? idealThs : NaN };
}
