import fs from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YNode } from 'yaml';
import { CellError, parseCommand, parseExpectation, parseFault } from './cells';
import { hold, interpolate, valueNoise, type Points } from './series';
import type { Expectation, Scenario, ScenarioCommand, ScenarioFault, ScenarioSite } from './types';

/**
 * Scenario files a test engineer writes: CSV (one row per time point, `# key: value` lines for
 * the header fields) or JSON (YAML accepted too) with the same fields. Every error names the
 * file, line and column: `FILE:LINE:COL: what is wrong`. The format is documented in README.md
 * ("Scenario files").
 */
export class ScenarioError extends Error {
  constructor(readonly file: string, readonly line: number, readonly col: number, readonly problem: string) {
    super(`${file}:${line}:${col}: ${problem}`);
  }
}

const COLUMNS = ['t_s', 'hz', 'generation_kw', 'load_kw', 'relay', 'command', 'fault'] as const;
type Column = (typeof COLUMNS)[number];
const HEADER_KEYS = ['name', 'description', 'nominal_hz', 'duration_s', 'seed', 'noise_hz', 'noise_generation_kw', 'noise_load_kw', 'expect', 'boards', 'miners', 'meter_hz'] as const;

/** What both formats reduce to before it becomes a Scenario. */
interface Draft {
  name?: string;
  description?: string;
  nominalHz?: 50 | 60;
  durationS?: number;
  seed?: number;
  /** the site it is written for (`--boards` / `--miners` override it) */
  boards?: number;
  miners?: number;
  meterHz?: number;
  noise: { hz: number; generationKw: number; loadKw: number };
  hz: Points;
  generation: Points;
  load: Points;
  relay: Points;
  commands: ScenarioCommand[];
  faults: ScenarioFault[];
  expect: Expectation[];
  lastT: number;
}

type Fail = (problem: string, line: number, col: number) => never;

export function loadScenarioFile(file: string, seed?: number): Scenario {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScenarioError(file, 1, 1, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseScenario(text, file, seed);
}

export function parseScenario(text: string, file: string, seed?: number): Scenario {
  // spreadsheets save CSV with a byte-order mark; it is not part of the first column's name
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const fail: Fail = (problem, line, col) => { throw new ScenarioError(file, line, col, problem); };
  const ext = path.extname(file).toLowerCase();
  const isDoc = ext === '.json' || ext === '.yaml' || ext === '.yml' || (ext !== '.csv' && /^\s*\{/.test(text));
  const d: Draft = {
    noise: { hz: 0, generationKw: 0, loadKw: 0 }, hz: [], generation: [], load: [], relay: [], commands: [], faults: [], expect: [], lastT: 0,
  };
  if (isDoc) parseDoc(text, d, fail, ext !== '.yaml' && ext !== '.yml');
  else parseCsv(text, d, fail);
  return build(d, path.basename(file).replace(/\.[^.]*$/, ''), seed);
}

// ---- CSV -----------------------------------------------------------------------------------

function parseCsv(text: string, d: Draft, fail: Fail): void {
  const lines = text.split(/\r?\n/);
  let header: { col: Column; at: number }[] | undefined;
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (!raw.trim()) return;
    const hashAt = raw.indexOf('#');
    if (raw.trimStart().startsWith('#')) {
      // `# key: value` sets a header field; other comments are free text
      const m = /^(\s*#\s*)([a-z_]+)\s*:\s?(.*)$/.exec(raw);
      if (!m) return;
      if (!(HEADER_KEYS as readonly string[]).includes(m[2])) fail(`unknown header field "${m[2]}" (${HEADER_KEYS.join(', ')})`, line, m[1].length + 1);
      const at = (off: number) => ({ line, col: raw.length - m[3].length + off + 1 });
      setHeader(d, m[2], m[3].trim(), (p, off = 0) => fail(p, line, at(off).col));
      return;
    }
    const body = hashAt >= 0 ? raw.slice(0, hashAt) : raw;
    const cells: { v: string; at: number }[] = [];
    let start = 0;
    for (const part of body.split(',')) {
      cells.push({ v: part, at: start });
      start += part.length + 1;
    }
    if (!header) {
      header = [];
      for (const c of cells) {
        const name = c.v.trim().toLowerCase() as Column;
        const col = c.at + (c.v.length - c.v.trimStart().length) + 1;
        if (!COLUMNS.includes(name)) fail(`unknown column "${c.v.trim()}" (${COLUMNS.join(', ')})`, line, col);
        if (header.some((h) => h.col === name)) fail(`column "${name}" appears twice`, line, col);
        header.push({ col: name, at: col });
      }
      if (!header.some((h) => h.col === 't_s')) fail('the header needs a t_s column (seconds from the start)', line, 1);
      return;
    }
    if (cells.length > header.length) fail(`${cells.length} cells but the header has ${header.length} columns`, line, cells[header.length].at + 1);
    const row: Partial<Record<Column, { v: string; col: number }>> = {};
    cells.forEach((c, k) => {
      if (c.v.trim()) row[header![k].col] = { v: c.v.trim(), col: c.at + (c.v.length - c.v.trimStart().length) + 1 };
    });
    addRow(d, row, (p, cell, off = 0) => fail(p, line, cell ? cell.col + off : 1));
  });
  if (!header) fail('no header row (t_s,hz,generation_kw,load_kw,relay,command,fault)', Math.max(1, lines.length), 1);
}

type RowFail = (problem: string, cell?: { col: number }, offset?: number) => never;

function addRow(d: Draft, row: Partial<Record<Column, { v: string; col: number }>>, fail: RowFail): void {
  const tc = row.t_s;
  if (!tc) fail('t_s is missing (seconds from the start)');
  const t = Number(tc.v);
  if (!Number.isFinite(t) || t < 0) fail(`t_s must be seconds >= 0, got "${tc.v}"`, tc);
  if (t < d.lastT) fail(`t_s ${t} goes back in time (previous row: ${d.lastT})`, tc);
  d.lastT = t;
  const numeric = (c: Column, into: Points, min: number, max: number, unit: string) => {
    const cell = row[c];
    if (!cell) return;
    const v = Number(cell.v);
    if (!Number.isFinite(v) || v < min || v > max) fail(`${c} must be a number ${min}..${max} ${unit}, got "${cell.v}"`, cell);
    into.push([t, v]);
  };
  numeric('hz', d.hz, 40, 70, 'Hz');
  numeric('generation_kw', d.generation, 0, 1e6, 'kW');
  numeric('load_kw', d.load, 0, 1e6, 'kW');
  if (row.relay) {
    const v = row.relay.v.toLowerCase();
    const on = ['1', 'true', 'on', 'closed', 'active'].includes(v);
    if (!on && !['0', 'false', 'off', 'open', 'inactive'].includes(v)) fail(`relay must be 0/1 (or open/closed), got "${row.relay.v}"`, row.relay);
    d.relay.push([t, on ? 1 : 0]);
  }
  // several commands or faults at one time: separated by ';'
  const each = (cell: { v: string; col: number } | undefined, f: (s: string) => void) => {
    if (!cell) return;
    let off = 0;
    for (const part of cell.v.split(';')) {
      const lead = part.length - part.trimStart().length;
      try {
        if (part.trim()) f(part.trim());
      } catch (e) {
        if (e instanceof CellError) fail(e.message, cell, off + lead + e.offset);
        throw e;
      }
      off += part.length + 1;
    }
  };
  each(row.command, (s) => d.commands.push(parseCommand(s, t)));
  each(row.fault, (s) => d.faults.push(parseFault(s, t)));
}

function setHeader(d: Draft, key: string, v: string, fail: (p: string, offset?: number) => never): void {
  const n = () => {
    const x = Number(v);
    if (v === '' || !Number.isFinite(x)) fail(`${key} must be a number, got "${v}"`);
    return x;
  };
  switch (key) {
    case 'name': if (!/^[\w.-]{1,64}$/.test(v)) fail(`name must be 1-64 of A-Za-z0-9_.-, got "${v}"`); d.name = v; break;
    case 'description': d.description = v; break;
    case 'nominal_hz': { const x = n(); if (x !== 50 && x !== 60) fail(`nominal_hz must be 50 or 60, got ${v}`); d.nominalHz = x; break; }
    case 'duration_s': { const x = n(); if (!(x > 0)) fail(`duration_s must be > 0, got ${v}`); d.durationS = x; break; }
    case 'seed': { const x = n(); if (!Number.isInteger(x)) fail(`seed must be an integer, got ${v}`); d.seed = x; break; }
    case 'boards': { const x = n(); if (!Number.isInteger(x) || x < 0 || x > 64) fail(`boards must be an integer 0..64, got ${v}`); d.boards = x; break; }
    case 'miners': { const x = n(); if (!Number.isInteger(x) || x < 0 || x > 1000) fail(`miners must be an integer 0..1000, got ${v}`); d.miners = x; break; }
    case 'meter_hz': { const x = n(); if (!(x >= 0.1 && x <= 50)) fail(`meter_hz must be 0.1..50, got ${v}`); d.meterHz = x; break; }
    case 'noise_hz': case 'noise_generation_kw': case 'noise_load_kw': {
      const x = n();
      if (x < 0) fail(`${key} must be >= 0, got ${v}`);
      if (key === 'noise_hz') d.noise.hz = x;
      else if (key === 'noise_generation_kw') d.noise.generationKw = x;
      else d.noise.loadKw = x;
      break;
    }
    case 'expect':
      try {
        d.expect.push(parseExpectation(v));
      } catch (e) {
        if (e instanceof CellError) fail(e.message, e.offset);
        throw e;
      }
      break;
  }
}

// ---- JSON / YAML ---------------------------------------------------------------------------

function parseDoc(text: string, d: Draft, fail: Fail, json: boolean): void {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const pos = (n: YNode | null | undefined, off = 0) => lc.linePos((n?.range?.[0] ?? 0) + off);
  const at: (p: string, n: YNode | null | undefined, off?: number) => never = (p, n, off = 0) => { const { line, col } = pos(n, off); return fail(p, line, col); };
  if (json) {
    // JSON's own grammar gives the clearer syntax message ("Expected ',' or '}'..."); YAML's
    // parser then gives every value its position
    try {
      JSON.parse(text);
    } catch (e) {
      const m = /^(.*?)(?: in JSON)? at position (\d+)/.exec((e as Error).message);
      const { line, col } = lc.linePos(m ? Number(m[2]) : 0);
      fail(`not valid JSON: ${(m ? m[1] : (e as Error).message).replace(/^JSON\.parse: /, '')}`, line, col);
    }
  }
  if (doc.errors.length) {
    const e = doc.errors[0];
    const { line, col } = lc.linePos(e.pos[0]);
    fail(e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''), line, col);
  }
  const root = doc.contents;
  if (!isMap(root)) return at('a scenario file is an object: {"points": [...], ...}', root);
  let points: YNode | undefined;
  for (const pair of root.items) {
    const key = pair.key as YNode;
    const name = isScalar(key) ? String(key.value) : '';
    const val = pair.value as YNode;
    const scalar = () => (isScalar(val) ? String(val.value ?? '') : at(`${name} must be a single value`, val));
    if (name === 'points') points = val;
    else if (name === 'expect') {
      if (!isSeq(val)) at('expect must be a list of strings, e.g. ["trip within 250 ms of 59.7 Hz"]', val);
      for (const item of val.items as YNode[]) {
        if (!isScalar(item) || typeof item.value !== 'string') at('each expectation is a string', item);
        try {
          d.expect.push(parseExpectation(item.value as string));
        } catch (e) {
          if (e instanceof CellError) at(e.message, item, e.offset + quoteOffset(item));
          throw e;
        }
      }
    } else if (name === 'noise') {
      if (!isMap(val)) at('noise is an object: {"hz": 0.005, "generation_kw": 0.2, "load_kw": 0.05}', val);
      for (const np of val.items) {
        const k = isScalar(np.key) ? String(np.key.value) : '';
        if (!['hz', 'generation_kw', 'load_kw'].includes(k)) at(`unknown noise field "${k}" (hz, generation_kw, load_kw)`, np.key as YNode);
        const v = np.value as YNode;
        setHeader(d, `noise_${k}`, isScalar(v) ? String(v.value) : '', (p) => at(p, v));
      }
    } else if ((HEADER_KEYS as readonly string[]).includes(name) && !name.startsWith('noise_')) {
      setHeader(d, name, scalar(), (p) => at(p, val));
    } else at(`unknown field "${name}" (name, description, nominal_hz, duration_s, seed, boards, miners, meter_hz, noise, points, expect)`, key);
  }
  if (!points) return at('points is missing: [{"t_s": 0, "hz": 60, "generation_kw": 6, "load_kw": 1}, ...]', root);
  if (!isSeq(points)) return at('points must be a list of objects', points);
  for (const item of points.items as YNode[]) {
    if (!isMap(item)) at('each point is an object like {"t_s": 0, "hz": 60}', item);
    const row: Partial<Record<Column, { v: string; col: number }>> = {};
    const nodes = new Map<Column, YNode>();
    for (const pair of item.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!(COLUMNS as readonly string[]).includes(k)) at(`unknown point field "${k}" (${COLUMNS.join(', ')})`, pair.key as YNode);
      const v = pair.value as YNode;
      const vals = isSeq(v) ? (v.items as YNode[]) : [v];
      const strs = vals.map((n) => (isScalar(n) && n.value !== null ? String(n.value) : at(`${k} must be a value`, n)));
      if ((k === 'command' || k === 'fault') && vals.length > 1) {
        // a list of commands: check each against its own node, then join as a CSV cell would
        vals.forEach((n, j) => addOne(d, k as Column, strs[j], item, (p, off) => at(p, n, off + quoteOffset(n))));
        continue;
      }
      row[k as Column] = { v: strs[0], col: 0 };
      nodes.set(k as Column, vals[0]);
    }
    addRow(d, row, (p, cell, off = 0) => {
      const c = [...nodes.entries()].find(([k]) => row[k] === cell)?.[1];
      return at(p, c ?? item, c ? off + quoteOffset(c) : 0);
    });
  }
}

function addOne(d: Draft, k: Column, s: string, item: YNode, fail: (p: string, off: number) => never): void {
  const tNode = isMap(item) ? item.items.find((p) => isScalar(p.key) && p.key.value === 't_s') : undefined;
  const t = Number(tNode && isScalar(tNode.value) ? tNode.value.value : NaN);
  if (!(t >= 0)) return fail('t_s is missing (seconds from the start)', 0);
  try {
    if (k === 'command') d.commands.push(parseCommand(s, t));
    else d.faults.push(parseFault(s, t));
  } catch (e) {
    if (e instanceof CellError) fail(e.message, e.offset);
    throw e;
  }
}

/** a quoted string's text starts one character after its node */
function quoteOffset(n: YNode): number {
  return isScalar(n) && (n.type === 'QUOTE_DOUBLE' || n.type === 'QUOTE_SINGLE') ? 1 : 0;
}

// ---- the scenario --------------------------------------------------------------------------

function build(d: Draft, fallbackName: string, seedArg?: number): Scenario {
  const nominal = d.nominalHz ?? 60;
  const seed = seedArg ?? d.seed ?? 1;
  const { noise } = d;
  const byTime = <T extends { atS: number }>(a: T[]) => a.sort((x, y) => x.atS - y.atS);
  return {
    name: d.name ?? fallbackName,
    description: d.description ?? 'a scenario file',
    durationS: d.durationS ?? Math.max(1, d.lastT),
    nominalHz: nominal,
    seed,
    commands: byTime(d.commands),
    faults: byTime(d.faults),
    expect: d.expect,
    ...siteOf(d),
    at(t) {
      // noise channels draw from different seeds so they do not move together
      const hz = interpolate(d.hz, t, nominal) + (noise.hz ? noise.hz * valueNoise(t, seed * 3 + 1, 0.5) : 0);
      const gen = interpolate(d.generation, t, 0) + (noise.generationKw ? noise.generationKw * valueNoise(t, seed * 3 + 2, 2) : 0);
      const load = interpolate(d.load, t, 0) + (noise.loadKw ? noise.loadKw * valueNoise(t, seed * 3 + 3, 5) : 0);
      return { hz, generationKw: Math.max(0, gen), baseLoadKw: Math.max(0, load), relay: hold(d.relay, t, 0) === 1 };
    },
  };
}

/** the header's site fields, present only where given */
function siteOf(d: Draft): { site?: ScenarioSite } {
  const site: ScenarioSite = {};
  if (d.boards !== undefined) site.boards = d.boards;
  if (d.miners !== undefined) site.miners = d.miners;
  if (d.meterHz !== undefined) site.meterHz = d.meterHz;
  return Object.keys(site).length ? { site } : {};
}
