/**
 * The Avalon `estats` reply (cgminer `stats` with Canaan's extra fields): `STATS[i]["MM ID0"]` is one
 * string of bracketed fields, `Key[value]` separated by spaces, the value a number, a list of
 * numbers separated by spaces, or text (`SYSTEMSTATU[Work: In Work, Hash Board: 3]`). Newer home
 * and A15 firmware name the key `MM ID0:Summary` and wrap the string in `'STATS':{…}`. Sources:
 * Canaan's "Avalon A10 API manual" §3.3 (Canaan-Creative/avalon10-docs, Universal API/), pyasic's
 * AvalonMiner.parse_estats (pyasic/miners/backends/avalonminer.py) and the fixtures of asic-rs
 * (src/test/json/cgminer/avalon/, src/miners/backends/avalonminer/).
 *
 * Which field holds the watts (the miner's own reading, what the meter sees):
 *  - `WALLPOWER[w]`: wall power, where the firmware reports it (pyasic's _get_wattage).
 *  - `PS[err vctl vhash iout pout vset pin]` with 7 or more fields: `PS[6]`, the power drawn at the
 *    PSU's input (pyasic reads PS[6] as the watts of the Nano 3S; an A1246 reports
 *    PS[0 1214 1316 242 3189 1320 3504] with MPO[3200]: 3189 W out to the boards, 3504 W in).
 *  - the A10/A11 six-field `PS[…]`: `PS[4]`, "output power … just the power to hash boards"
 *    (A10 manual §2.7): it leaves out the control board, fans and PSU losses.
 */
export type Fields = ReadonlyMap<string, string>;

const FIELD = /(\w+)\[([^\]]*)\]/g;

/** Every `Key[value]` of an MM string; a key seen twice keeps its first value. */
export function parseMmFields(mm: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of mm.matchAll(FIELD)) if (!out.has(m[1])) out.set(m[1], m[2].trim());
  return out;
}

/** the numbers of a field (`%` and unit words dropped); [] if absent */
export function numbers(f: Fields, key: string): number[] {
  const raw = f.get(key);
  if (raw === undefined) return [];
  const out: number[] = [];
  for (const part of raw.split(/\s+/)) {
    const n = Number(part.replace(/%$/, ''));
    if (part !== '' && Number.isFinite(n)) out.push(n);
  }
  return out;
}

export function number(f: Fields, key: string, index = 0): number | undefined {
  return numbers(f, key)[index];
}

export type WorkState = 'work' | 'idle' | 'init' | 'unknown';

export interface EstatsInfo {
  /** the miner's own power reading (W), undefined if none of the known fields is there */
  watts?: number;
  wattsField?: 'WALLPOWER' | 'PS[6]' | 'PS[4]';
  /** GH/s now: GHSspd where reported, else the boards' MGHS summed, else GHSavg */
  ghs?: number;
  /** the theoretical hash rate at the present setting (GHSmm, GH/s) */
  ghsmm?: number;
  /** hottest chip (°C): TMax, else the boards' MTmax */
  tempC?: number;
  /** SoftOFF[n]: > 0 while the firmware is in its soft-off standby */
  softOff?: number;
  /** SYSTEMSTATU's `Work: In …` */
  work: WorkState;
  systemStatus?: string;
  workLevel?: number;
  workMode?: number;
  /** MPO: the power limit (W) at the present mode */
  mpoW?: number;
  /** the PSU's error code, PS[0] (A10 manual appendix 1); 0 is OK */
  psuError?: number;
  elapsedS?: number;
  /** the MM modules read (MM Count; one on A12 and later) */
  modules: number;
}

/** The MM strings of a `stats`/`estats` reply, in order: every `MM IDn` (or `MM IDn:Summary`) key. */
export function mmStrings(reply: Record<string, unknown>): string[] {
  const rows = reply.STATS;
  if (!Array.isArray(rows)) return [];
  const out: string[] = [];
  for (const row of rows) {
    if (!row || typeof row !== 'object') continue;
    for (const [k, v] of Object.entries(row as Record<string, unknown>)) {
      if (/^MM ID\d+(:|$)/.test(k) && typeof v === 'string') out.push(v);
    }
  }
  return out;
}

/** Read an `estats` reply; throws if it carries no MM string (not an Avalon's estats). */
export function parseEstats(reply: Record<string, unknown>): EstatsInfo {
  const mms = mmStrings(reply);
  if (mms.length === 0) throw new Error('estats reply has no "MM ID" field');
  const parts = mms.map((s) => readModule(parseMmFields(s)));
  const first = parts[0];
  const sum = (pick: (p: EstatsInfo) => number | undefined): number | undefined => {
    const vals = parts.map(pick).filter((v): v is number => v !== undefined);
    return vals.length ? vals.reduce((a, b) => a + b, 0) : undefined;
  };
  const temps = parts.map((p) => p.tempC).filter((v): v is number => v !== undefined);
  const offs = parts.map((p) => p.softOff).filter((v): v is number => v !== undefined);
  return {
    ...first,
    watts: sum((p) => p.watts),
    ghs: sum((p) => p.ghs),
    ghsmm: sum((p) => p.ghsmm),
    tempC: temps.length ? Math.max(...temps) : undefined,
    softOff: offs.length ? Math.max(...offs) : undefined,
    modules: parts.length,
  };
}

function readModule(f: Fields): EstatsInfo {
  const ps = numbers(f, 'PS');
  const wall = number(f, 'WALLPOWER');
  let watts: number | undefined;
  let wattsField: EstatsInfo['wattsField'];
  if (wall !== undefined) [watts, wattsField] = [wall, 'WALLPOWER'];
  else if (ps.length >= 7) [watts, wattsField] = [ps[6], 'PS[6]'];
  else if (ps.length >= 5) [watts, wattsField] = [ps[4], 'PS[4]'];

  const boards = numbers(f, 'MGHS');
  const ghs = number(f, 'GHSspd') ?? (boards.length ? boards.reduce((a, b) => a + b, 0) : undefined) ?? number(f, 'GHSavg');
  const mtmax = numbers(f, 'MTmax');
  const tempC = number(f, 'TMax') ?? (mtmax.length ? Math.max(...mtmax) : undefined) ?? number(f, 'TAvg');
  const status = f.get('SYSTEMSTATU');
  return {
    watts,
    wattsField,
    ghs,
    ghsmm: number(f, 'GHSmm'),
    tempC,
    softOff: number(f, 'SoftOFF'),
    work: workOf(status),
    systemStatus: status,
    workLevel: number(f, 'WORKLEVEL'),
    workMode: number(f, 'WORKMODE'),
    mpoW: number(f, 'MPO'),
    psuError: ps.length ? ps[0] : undefined,
    elapsedS: number(f, 'Elapsed'),
    modules: 1,
  };
}

/** `Work: In Work, Hash Board: 3` → work; `In Idle` → idle (soft-off); `In Init` → init (waking) */
export function workOf(status: string | undefined): WorkState {
  const m = /Work:\s*In\s+(\w+)/i.exec(status ?? '');
  const w = m?.[1].toLowerCase();
  return w === 'work' ? 'work' : w === 'idle' ? 'idle' : w === 'init' ? 'init' : 'unknown';
}
