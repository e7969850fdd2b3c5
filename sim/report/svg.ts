/**
 * Inline SVG charts for the report: no scripts, no external files, readable when printed.
 * Every chart shares one time axis so trips and faults line up from plot to plot.
 */
export interface Mark { tS: number; label: string; color: string }
export interface Span { from: number; to: number; label: string; color: string }
export interface Line { label: string; color: string; values: number[]; width?: number; dash?: string; fill?: boolean }
export interface Band { color: string; lo: number[]; hi: number[] }

export interface TimeFrame {
  t0: number;
  t1: number;
  width: number;
  /** plot area inset: left axis labels, right margin */
  left: number;
  right: number;
}

export const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const f1 = (x: number) => (Math.round(x * 10) / 10).toString();

export function clock(s: number, withSeconds: boolean): string {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  const mm = String(m).padStart(2, '0'), ss = String(sec).padStart(2, '0');
  if (h > 0) return withSeconds ? `${h}:${mm}:${ss}` : `${h}:${mm}`;
  return `${m}:${ss}`;
}

function timeTicks(t0: number, t1: number): { ts: number[]; seconds: boolean } {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  const step = steps.find((s) => (t1 - t0) / s <= 10) ?? 86400;
  const ts: number[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) ts.push(t);
  return { ts, seconds: step < 60 || (t1 - t0) < 3600 };
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= n) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

const fmtTick = (v: number) => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v * 100) / 100) : String(Math.round(v * 1000) / 1000));

/** x pixel of a time */
export function xOf(tf: TimeFrame, t: number): number {
  return tf.left + ((t - tf.t0) / Math.max(1e-9, tf.t1 - tf.t0)) * (tf.width - tf.left - tf.right);
}

/** background spans (faults), vertical marks (trips, commands) and the time axis, shared by all charts */
function overlay(tf: TimeFrame, top: number, bottom: number, spans: Span[], marks: Mark[], axis: boolean, labels = false): string {
  let s = '';
  // labels only while they can be read; hover titles always. A label goes on the first line
  // (down from the top for marks, up from the bottom for spans) where it runs into no other.
  const say = labels && spans.length + marks.length <= 16;
  const placer = () => {
    const ends: number[] = [];
    return (x: number, text: string) => {
      let k = ends.findIndex((end) => end < x);
      if (k < 0) k = ends.push(0) - 1;
      ends[k] = x + text.length * 6 + 8;
      return k;
    };
  };
  const spanRow = placer();
  for (const sp of [...spans].sort((a, b) => a.from - b.from)) {
    const x0 = xOf(tf, Math.max(tf.t0, sp.from)), x1 = xOf(tf, Math.min(tf.t1, sp.to));
    // under the lines (axis pass) the shading; over them (label pass) only the name
    if (axis || !labels) s += `<rect x="${f1(x0)}" y="${top}" width="${f1(Math.max(1.5, x1 - x0))}" height="${bottom - top}" fill="${sp.color}" opacity="0.16"><title>${esc(sp.label)}</title></rect>`;
    if (say) s += `<text x="${f1(x0 + 3)}" y="${bottom - 4 - 12 * spanRow(x0 + 3, sp.label)}" class="lbl" fill="#4b5563">${esc(sp.label)}</text>`;
  }
  const row = placer();
  for (const m of [...marks].sort((a, b) => a.tS - b.tS)) {
    const x = f1(xOf(tf, m.tS));
    s += `<line x1="${x}" x2="${x}" y1="${top}" y2="${bottom}" stroke="${m.color}" stroke-width="1.2" stroke-dasharray="4 3"><title>${esc(m.label)}</title></line>`;
    const text = m.label.replace(/ at [\d:]+$/, '');
    if (say) s += `<text x="${x}" y="${top + 2 + 12 * row(Number(x), text)}" dx="3" dy="9" class="lbl" fill="${m.color}">${esc(text)}</text>`;
  }
  if (axis) {
    const { ts, seconds } = timeTicks(tf.t0, tf.t1);
    for (const t of ts) {
      const x = f1(xOf(tf, t));
      s += `<line x1="${x}" x2="${x}" y1="${bottom}" y2="${bottom + 4}" stroke="#6b7280"/><text x="${x}" y="${bottom + 16}" text-anchor="middle" class="tick">${clock(t, seconds)}</text>`;
    }
  }
  return s;
}

/** A time chart: lines (optionally filled to zero), min–max bands, reference lines. */
export function timeChart(o: {
  tf: TimeFrame; height: number; unit: string; tS: number[]; lines: Line[]; bands?: Band[];
  refs?: { y: number; label: string; color: string }[]; spans?: Span[]; marks?: Mark[]; yMin?: number; yMax?: number; zero?: boolean;
  /** write the marks' and spans' names on the chart */
  labels?: boolean;
}): string {
  const { tf, height } = o;
  const top = 10, bottom = height - 24;
  const all: number[] = [];
  for (const l of o.lines) for (const v of l.values) if (Number.isFinite(v)) all.push(v);
  for (const b of o.bands ?? []) for (const v of [...b.lo, ...b.hi]) if (Number.isFinite(v)) all.push(v);
  for (const r of o.refs ?? []) all.push(r.y);
  if (o.zero) all.push(0);
  let lo = o.yMin ?? Math.min(...all), hi = o.yMax ?? Math.max(...all);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
  const pad = (hi - lo) * 0.06 || 0.5;
  lo -= pad; hi += pad;
  const y = (v: number) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  let s = `<svg viewBox="0 0 ${tf.width} ${height}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg">`;
  for (const t of niceTicks(lo, hi)) {
    const yy = f1(y(t));
    s += `<line x1="${tf.left}" x2="${tf.width - tf.right}" y1="${yy}" y2="${yy}" stroke="${t === 0 ? '#9ca3af' : '#e5e7eb'}"/><text x="${tf.left - 6}" y="${yy}" dy="4" text-anchor="end" class="tick">${fmtTick(t)}</text>`;
  }
  s += `<text x="12" y="${(top + bottom) / 2}" transform="rotate(-90 12 ${(top + bottom) / 2})" text-anchor="middle" class="unit">${esc(o.unit)}</text>`;
  s += overlay(tf, top, bottom, o.spans ?? [], [], true);
  const path = (vals: number[]) => vals.map((v, i) => `${i ? 'L' : 'M'}${f1(xOf(tf, o.tS[i]))},${f1(y(v))}`).join('');
  for (const b of o.bands ?? []) {
    const up = b.hi.map((v, i) => `${i ? 'L' : 'M'}${f1(xOf(tf, o.tS[i]))},${f1(y(v))}`).join('');
    const down = b.lo.map((v, i) => [xOf(tf, o.tS[i]), y(v)] as const).reverse().map(([xx, yy]) => `L${f1(xx)},${f1(yy)}`).join('');
    s += `<path d="${up}${down}Z" fill="${b.color}" opacity="0.25" stroke="none"/>`;
  }
  for (const l of o.lines) {
    if (!l.values.length) continue;
    if (l.fill) {
      const z = f1(y(Math.max(lo, Math.min(hi, 0))));
      s += `<path d="${path(l.values)}L${f1(xOf(tf, o.tS.at(-1)!))},${z}L${f1(xOf(tf, o.tS[0]))},${z}Z" fill="${l.color}" opacity="0.18" stroke="none"/>`;
    }
    s += `<path d="${path(l.values)}" fill="none" stroke="${l.color}" stroke-width="${l.width ?? 1.6}"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''} stroke-linejoin="round"/>`;
  }
  for (const r of o.refs ?? []) {
    const yy = f1(y(r.y));
    s += `<line x1="${tf.left}" x2="${tf.width - tf.right}" y1="${yy}" y2="${yy}" stroke="${r.color}" stroke-dasharray="6 4"/><text x="${tf.width - tf.right - 4}" y="${yy}" dy="-4" text-anchor="end" class="ref" fill="${r.color}">${esc(r.label)}</text>`;
  }
  s += overlay(tf, top, bottom, o.labels ? o.spans ?? [] : [], o.marks ?? [], false, o.labels);
  return `${s}</svg>`;
}

/** a strip row: shade = value (0 = blank, 1 = full colour) */
export interface StripRow {
  label: string;
  values: number[];
  /** default the boards' orange */
  color?: string;
  /** opacity of the smallest value above 0 (a short event in a long bucket stays visible) */
  floor?: number;
}

/**
 * One row per board (shade = share of full frequency) and a site-state row beneath; with no
 * `states`, only the rows (the relay contact's strip).
 */
export function boardStrip(o: {
  tf: TimeFrame; tS: number[]; widthS: number[]; rows: StripRow[]; states?: string[];
  stateColors?: Record<string, string>; spans?: Span[]; marks?: Mark[]; ariaLabel?: string;
}): string {
  const { tf } = o;
  const rowH = 16, gap = 3, top = 6;
  const n = o.rows.length;
  const stateY = top + n * (rowH + gap) + 6;
  const bottom = o.states ? stateY + rowH : top + n * (rowH + gap) - gap;
  const height = bottom + 24;
  let s = `<svg viewBox="0 0 ${tf.width} ${height}" width="100%" role="img"${o.ariaLabel ? ` aria-label="${esc(o.ariaLabel)}"` : ''} xmlns="http://www.w3.org/2000/svg">`;
  // consecutive points of the same shade become one rectangle: a day stays a few kB
  const cells = (yy: number, color: (i: number) => string | undefined, opacity: (i: number) => number) => {
    let out = '';
    let run: { c: string; op: number; from: number; to: number } | undefined;
    const emit = () => {
      if (!run || run.op <= 0.01) return;
      const x0 = xOf(tf, run.from), x1 = xOf(tf, run.to);
      out += `<rect x="${f1(x0)}" y="${yy}" width="${f1(Math.max(0.6, x1 - x0 + 0.3))}" height="${rowH}" fill="${run.c}" fill-opacity="${run.op.toFixed(2)}"/>`;
    };
    for (let i = 0; i < o.tS.length; i++) {
      const c = color(i) ?? 'none';
      const op = Math.round(opacity(i) * 20) / 20;
      if (run && run.c === c && run.op === op) { run.to = o.tS[i] + o.widthS[i]; continue; }
      emit();
      run = { c, op, from: o.tS[i], to: o.tS[i] + o.widthS[i] };
    }
    emit();
    return out;
  };
  o.rows.forEach((r, k) => {
    const yy = top + k * (rowH + gap);
    const floor = r.floor ?? 0.25;
    s += `<rect x="${tf.left}" y="${yy}" width="${tf.width - tf.left - tf.right}" height="${rowH}" fill="#f3f4f6"/>`;
    s += cells(yy, () => r.color ?? '#ea580c', (i) => (r.values[i] > 0 ? floor + (1 - floor) * Math.min(1, r.values[i]) : 0));
    s += `<text x="${tf.left - 6}" y="${yy + rowH - 4}" text-anchor="end" class="tick">${esc(r.label)}</text>`;
  });
  const states = o.states;
  if (states) {
    s += cells(stateY, (i) => o.stateColors?.[states[i]] ?? '#9ca3af', () => 1);
    s += `<text x="${tf.left - 6}" y="${stateY + rowH - 4}" text-anchor="end" class="tick">state</text>`;
  }
  s += overlay(tf, top, bottom, o.spans ?? [], o.marks ?? [], true);
  return `${s}</svg>`;
}
