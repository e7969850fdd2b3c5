import { FAULT_KINDS, type Expectation, type FaultKind, type ScenarioCommand, type ScenarioFault } from './types';

/**
 * The small text forms a scenario file writes commands, faults and expectations in. One grammar
 * for CSV cells, JSON strings and the built-ins, so the README documents it once.
 * Errors carry the character offset in the text, so a file error can point at its column.
 */
export class CellError extends Error {
  constructor(message: string, readonly offset = 0) {
    super(message);
  }
}

/** words with their offsets in the text */
function words(text: string): { w: string; at: number }[] {
  const out: { w: string; at: number }[] = [];
  const re = /\S+/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push({ w: m[0], at: m.index });
  return out;
}

function num(tok: { w: string; at: number } | undefined, what: string, end: number, min = -Infinity): number {
  if (!tok) throw new CellError(`${what} is missing`, end);
  const v = Number(tok.w.replace(/s$/, ''));
  if (!Number.isFinite(v) || tok.w.trim() === '') throw new CellError(`${what} must be a number, got "${tok.w}"`, tok.at);
  if (v < min) throw new CellError(`${what} must be >= ${min}, got ${v}`, tok.at);
  return v;
}

function noMore(ws: { w: string; at: number }[], from: number): void {
  if (ws.length > from) throw new CellError(`unexpected "${ws[from].w}"`, ws[from].at);
}

/** `curtail` · `release` · `set_power KW TTL_S` */
export function parseCommand(text: string, atS: number): ScenarioCommand {
  const ws = words(text);
  const a = ws[0]?.w;
  if (a === 'curtail' || a === 'release') {
    noMore(ws, 1);
    return { atS, action: a };
  }
  if (a === 'set_power') {
    const kw = num(ws[1], 'set_power kW', text.length, 0);
    const ttlS = num(ws[2], 'set_power ttl_s', text.length, 0.001);
    noMore(ws, 3);
    return { atS, action: 'set_power', kw, ttlS };
  }
  throw new CellError(`unknown command "${a ?? ''}" (curtail, release, set_power KW TTL_S)`, ws[0]?.at ?? 0);
}

/**
 * `meter-silence 20` · `board-garbage hb1 30` · `io-loss 15` · `controller-outage 60` ·
 * `miner-down wm1 45` (durations in s; miner-down names its miner)
 */
export function parseFault(text: string, atS: number): ScenarioFault {
  const ws = words(text);
  const kind = ws[0]?.w as FaultKind;
  if (!FAULT_KINDS.includes(kind)) throw new CellError(`unknown fault "${ws[0]?.w ?? ''}" (${FAULT_KINDS.join(', ')})`, ws[0]?.at ?? 0);
  let i = 1;
  let target: string | undefined;
  if (kind === 'board-garbage' && ws[1] && !/^[\d.]/.test(ws[1].w)) target = ws[i++].w;
  if (kind === 'miner-down') {
    if (!ws[1] || /^[\d.]/.test(ws[1].w)) throw new CellError('miner-down needs the miner\'s id before its duration: miner-down ID S (e.g. miner-down wm1 45)', ws[1]?.at ?? text.length);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(ws[1].w)) throw new CellError(`miner id must be 1-64 of A-Za-z0-9_.-, got "${ws[1].w}"`, ws[1].at);
    target = ws[i++].w;
  }
  const durationS = num(ws[i], `${kind} duration (s)`, text.length, 0.001);
  noMore(ws, i + 1);
  return { atS, kind, durationS, ...(target ? { target } : {}) };
}

const SOURCES = ['command', 'relay', 'underfrequency', 'meter-lost', 'overtemp', 'fan-failure', 'io-lost', 'scada', 'openadr'];
const STATES = ['running', 'curtailed', 'tripped', 'ramping', 'fault'];

/**
 * Expectations, as a test engineer would say them:
 *   trip within 250 ms of 59.7 Hz · trip within 50 ms of relay · trip within 50 ms of curtail
 *   no trip · no trip from underfrequency · trip from meter-lost
 *   surplus used >= 95 % · miner import <= 1 % (also: no miner-caused import above 1 %)
 *   state running at 300 s
 *   every miner's stop accepted within 1000 ms of curtail · power gone within 30 s of curtail
 *   openadr obeyed within 12 s
 */
export function parseExpectation(text: string): Expectation {
  const t = text.trim().replace(/\s+/g, ' ');
  const lead = text.length - text.trimStart().length;
  let m: RegExpExecArray | null;
  if ((m = /^trip within (\S+) ?ms of (.+)$/i.exec(t))) {
    const ms = Number(m[1]);
    if (!(ms > 0)) throw new CellError(`trip latency must be a number of ms > 0, got "${m[1]}"`, lead + 12);
    const sig = m[2].trim().toLowerCase();
    const hz = /^(\S+) ?hz$/.exec(sig);
    if (hz) {
      const f = Number(hz[1]);
      if (!(f > 40 && f < 70)) throw new CellError(`frequency must be in Hz (40..70), got "${hz[1]}"`, lead + t.indexOf(m[2]));
      return { text: t, kind: 'trip-within', ms, signal: { hz: f } };
    }
    if (sig === 'relay' || sig === 'curtail') return { text: t, kind: 'trip-within', ms, signal: sig };
    throw new CellError(`trip within … of what? "N Hz", "relay" or "curtail", got "${m[2]}"`, lead + t.indexOf(m[2]));
  }
  if ((m = /^(?:every miner['\u2019]?s stop|miners['\u2019]? stops?|every miner stop) accepted within (\S+?) ?ms of curtail$/i.exec(t))) {
    const ms = Number(m[1]);
    if (!(ms > 0)) throw new CellError(`stop latency must be a number of ms > 0, got "${m[1]}"`, lead + t.indexOf(m[1]));
    return { text: t, kind: 'miners-stop-within', ms };
  }
  if ((m = /^(?:power gone|settled) within (\S+?) ?s of curtail$/i.exec(t))) {
    const s = Number(m[1]);
    if (!(s > 0)) throw new CellError(`time must be a number of seconds > 0, got "${m[1]}"`, lead + t.indexOf(m[1]));
    return { text: t, kind: 'power-gone-within', s };
  }
  if ((m = /^openadr (?:events? )?obeyed within (\S+?) ?s$/i.exec(t))) {
    const s = Number(m[1]);
    if (!(s > 0)) throw new CellError(`time must be a number of seconds > 0, got "${m[1]}"`, lead + t.indexOf(m[1]));
    return { text: t, kind: 'openadr-obeyed-within', s };
  }
  if ((m = /^no trips?(?: from (\S+))?$/i.exec(t))) {
    if (m[1] && !SOURCES.includes(m[1])) throw new CellError(`unknown trip source "${m[1]}" (${SOURCES.join(', ')})`, lead + t.indexOf(m[1]));
    return { text: t, kind: 'no-trip', ...(m[1] ? { source: m[1] } : {}) };
  }
  if ((m = /^trip from (\S+)$/i.exec(t))) {
    if (!SOURCES.includes(m[1])) throw new CellError(`unknown trip source "${m[1]}" (${SOURCES.join(', ')})`, lead + t.indexOf(m[1]));
    return { text: t, kind: 'trip-from', source: m[1] };
  }
  if ((m = /^surplus used >= ?(\S+?) ?%$/i.exec(t))) return { text: t, kind: 'surplus-used', pct: pct(m[1], lead + t.indexOf(m[1], 13)) };
  if ((m = /^(?:miner import <= ?|no miner-caused import above )(\S+?) ?%$/i.exec(t))) {
    return { text: t, kind: 'miner-import', pct: pct(m[1], lead + t.lastIndexOf(m[1])) };
  }
  if ((m = /^state (\S+) at (\S+?) ?s$/i.exec(t))) {
    if (!STATES.includes(m[1])) throw new CellError(`unknown state "${m[1]}" (${STATES.join(', ')})`, lead + 6);
    const atS = Number(m[2]);
    if (!(atS >= 0)) throw new CellError(`time must be seconds >= 0, got "${m[2]}"`, lead + t.lastIndexOf(m[2]));
    return { text: t, kind: 'state-at', state: m[1], atS };
  }
  throw new CellError(`unknown expectation "${t}" (see README: trip within N ms of H Hz | relay | curtail, no trip [from SRC], trip from SRC, surplus used >= P %, miner import <= P %, state S at T s, every miner's stop accepted within N ms of curtail, power gone within N s of curtail, openadr obeyed within N s)`, lead);
}

function pct(s: string, at: number): number {
  const v = Number(s);
  if (!(v >= 0 && v <= 100)) throw new CellError(`percentage must be 0..100, got "${s}"`, at);
  return v;
}
