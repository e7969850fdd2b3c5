import fs from 'node:fs';
import path from 'node:path';
import { boardStrip, clock, esc, timeChart, type Mark, type Span, type TimeFrame } from './svg';
import { openAdrSection } from './openadr-html';
import { tally, type RunLog, type Summary } from './summary';

/**
 * The report of a simulation run: one self-contained HTML file (inline CSS and SVG, no script,
 * nothing fetched) and the JSON summary beside it. `FILE.html` gets `FILE.json`; any other name
 * gets `.json` appended.
 */
export interface ReportMeta {
  /** how the run was paced, e.g. "time-leap, as fast as possible" */
  pacing: string;
  wallS: number;
  /** the JSON summary's file name, for the footer */
  jsonName?: string;
}

export function jsonPathFor(file: string): string {
  return /\.html?$/i.test(file) ? file.replace(/\.html?$/i, '.json') : `${file}.json`;
}

export function writeReport(file: string, summary: Summary, log: RunLog, meta: ReportMeta): { html: string; json: string } {
  const json = jsonPathFor(file);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, renderReport(summary, log, { ...meta, jsonName: path.basename(json) }));
  fs.writeFileSync(json, `${JSON.stringify(summary, null, 2)}\n`);
  return { html: file, json };
}

const STATE_COLORS: Record<string, string> = {
  running: '#16a34a', ramping: '#84cc16', fault: '#f59e0b', curtailed: '#2563eb', tripped: '#dc2626', starting: '#d1d5db',
};
const C = { grid: '#2563eb', miners: '#ea580c', surplus: '#16a34a', hz: '#7c3aed', trip: '#dc2626', fault: '#6b7280', command: '#0891b2', relay: '#b91c1c' };

/** the badge: class and text */
export function verdictBadge(s: Summary): { cls: string; text: string } {
  const n = tally(s);
  const notReached = n.notReached ? ` · ${n.notReached} not reached` : '';
  switch (s.verdict) {
    case 'none': return { cls: 'none', text: 'no expectations declared' };
    case 'pass': return { cls: 'pass', text: 'PASS' };
    case 'fail': return { cls: 'fail', text: `FAIL · ${n.failed} failed${notReached}` };
    case 'incomplete': return { cls: 'incomplete', text: `INCOMPLETE${notReached || ` · ${clock(s.duration_s, true)} of ${clock(s.scenario.duration_s, true)}`}` };
  }
}

/** why a run is incomplete, in one sentence (the report's head and the command's summary line) */
export function incompleteNote(s: Summary): string {
  const n = tally(s);
  const why = s.ended_by === 'signal' ? 'it was stopped (SIGINT/SIGTERM)' : s.ended_by === 'duration' ? '--duration asked for less' : 'it ended';
  const cut = s.duration_s < s.scenario.duration_s;
  const covered = cut ? `the run covered ${clock(s.duration_s, true)} of the scenario's ${clock(s.scenario.duration_s, true)} because ${why}` : 'the run ended before the scenario showed them';
  const nr = n.notReached ? `${n.notReached} of ${n.total} expectation${n.total === 1 ? '' : 's'} not reached: ` : '';
  return `${nr}${covered}${cut && n.passed ? `; its passes hold for that part only` : ''}`;
}

/** a duration in ms or s, or a dash */
const ms = (x: number | null) => (x === null ? '–' : `${x} ms`);
const sec = (x: number | null) => (x === null ? '–' : `${x.toFixed(1)} s`);

/**
 * Network miners: one row per miner with its response to each curtail the controller sent (stop
 * carried out by the firmware after X ms, power gone after Y s) and its faults.
 */
function minersSection(s: Summary): string {
  const ms_ = s.network_miners ?? [];
  const fam = new Map<string, number>();
  for (const m of ms_) fam.set(m.family, (fam.get(m.family) ?? 0) + 1);
  const curtails = s.commands.filter((c) => c.action === 'curtail' && c.delivered).length;
  const stops = ms_.flatMap((m) => m.curtails.filter((c) => c.stop_accepted_ms !== null).map((c) => ({ id: m.id, v: c.stop_accepted_ms! })));
  const gone = ms_.flatMap((m) => m.curtails.filter((c) => c.power_gone_s !== null && !c.asleep).map((c) => ({ id: m.id, v: c.power_gone_s! })));
  const worst = (xs: { id: string; v: number }[]) => xs.reduce<{ id: string; v: number } | undefined>((w, x) => (!w || x.v > w.v ? x : w), undefined);
  const ws = worst(stops);
  const wg = worst(gone);
  const settled = (s.settled ?? []).map((x) => `${x.ok ? '' : 'not '}settled ${(x.ms / 1000).toFixed(1)} s after the ${esc(x.source)} trip${x.grid_drop_kw !== undefined ? ` (meter −${x.grid_drop_kw.toFixed(1)} kW)` : ''}`);
  const head = [
    `${ms_.length} miner${ms_.length === 1 ? '' : 's'} (${[...fam].map(([f, n]) => `${n} ${esc(f)}`).join(', ')})`,
    curtails ? `${curtails} curtail${curtails === 1 ? '' : 's'} sent` : 'no curtail sent',
    ...(ws ? [`slowest stop accepted after ${ws.v} ms (${esc(ws.id)})`] : []),
    ...(wg ? [`slowest power gone after ${wg.v.toFixed(1)} s (${esc(wg.id)})`] : []),
    ...settled,
  ].join(' · ');
  const cell = (m: NonNullable<Summary['network_miners']>[number], f: (c: NonNullable<Summary['network_miners']>[number]['curtails'][number]) => string) =>
    (m.curtails.length ? m.curtails.map(f).join('<br>') : '<span class="muted">no curtail</span>');
  const row = (m: NonNullable<Summary['network_miners']>[number]) => `<tr><td>${esc(m.id)}</td><td>${esc(m.family)}</td><td>${esc(m.host ?? '')}</td>`
    + `<td class="num">${cell(m, (c) => (c.stop_accepted_ms === null ? (c.asleep ? '<span class="muted">asleep already</span>' : '<span class="bad">not seen</span>') : ms(c.stop_accepted_ms)))}</td>`
    + `<td class="num">${cell(m, (c) => (c.power_gone_s === null ? (c.asleep ? '<span class="muted">asleep already</span>' : '<span class="bad">not gone</span>') : sec(c.power_gone_s)))}</td>`
    + `<td>${m.faults.length ? m.faults.map(esc).join('<br>') : '<span class="muted">none</span>'}</td></tr>`;
  return `<h2>Network miners</h2>
<p class="muted">Each miner's response to every curtail the controller sent, as its simulated firmware saw it: the stop carried out (Antminer sleep mode, Whatsminer power_off, Avalon softoff answered) and the power gone (the machine asleep, at standby), counted from the moment the curtail was sent.</p>
<div class="card" style="margin-bottom:8px">${head}</div>
<table class="miners"><tr><th>miner</th><th>family</th><th>address</th><th>stop accepted after</th><th>power gone after</th><th>faults</th></tr>
${ms_.map(row).join('')}
</table>`;
}

export function renderReport(s: Summary, log: RunLog, meta: ReportMeta): string {
  const b = log.recorder.buckets;
  const tS = b.map((x) => x.tS);
  const widthS = b.map((x, i) => (i + 1 < b.length ? b[i + 1].tS - x.tS : i > 0 ? x.tS - b[i - 1].tS : 1));
  const t1 = Math.max(log.durationS, (tS.at(-1) ?? 0) + (widthS.at(-1) ?? 0));
  // a point stands for its bucket's mean: plot it mid-bucket, or a drop shows before its cause
  const tMid = tS.map((t, i) => Math.min(t1, t + widthS[i] / 2));
  const tf: TimeFrame = { t0: 0, t1: t1 || 1, width: 1100, left: 64, right: 16 };
  const marks: Mark[] = s.trips.map((t) => ({ tS: t.t_s, color: C.trip, label: `trip ${t.source} at ${clock(t.t_s, true)}` }));
  const cmdMarks: Mark[] = s.commands.map((c) => ({ tS: c.t_s, color: C.command, label: `${c.action}${c.kw !== undefined ? ` ${c.kw} kW` : ''} at ${clock(c.t_s, true)}` }));
  const spans: Span[] = s.faults.map((f) => ({ from: f.t_s, to: f.until_s, color: C.fault, label: `${f.kind}${f.target ? ` ${f.target}` : ''}` }));

  const power = timeChart({
    tf, height: 260, unit: 'kW', tS: tMid, zero: true, spans, marks: [...marks, ...cmdMarks], labels: true,
    lines: [
      { label: 'surplus', color: C.surplus, values: b.map((x) => x.surplus.mean), fill: true, width: 1.2 },
      { label: 'miners', color: C.miners, values: b.map((x) => x.miners.mean), width: 1.8 },
      { label: 'grid', color: C.grid, values: b.map((x) => x.grid.mean), width: 1.4 },
    ],
  });
  const nominal = s.scenario.nominal_hz;
  const hz = timeChart({
    tf, height: 180, unit: 'Hz', tS: tMid, spans, marks,
    bands: [{ color: C.hz, lo: b.map((x) => x.hz.min), hi: b.map((x) => x.hz.max) }],
    lines: [{ label: 'frequency', color: C.hz, values: b.map((x) => x.hz.mean), width: 1.4 }],
    refs: [{ y: log.tripHz, label: `trip ${log.tripHz} Hz`, color: C.trip }, { y: nominal, label: `${nominal} Hz`, color: '#9ca3af' }],
  });
  const boards = boardStrip({
    tf, tS, widthS, spans, marks, stateColors: STATE_COLORS, states: b.map((x) => x.state),
    rows: [...log.boards, ...(log.minerStrip ?? [])].map((id, k) => ({ label: id, values: b.map((x) => x.boards[k] ?? 0) })),
  });

  const e = s.energy;
  const relay = boardStrip({
    tf, tS, widthS, marks, ariaLabel: 'relay contact',
    // a 10 s closing in a day's two-minute buckets still shows: the floor opacity
    rows: [{ label: 'relay', color: C.relay, floor: 0.45, values: b.map((x) => (x.relay.max > 0 ? x.relay.mean : 0)) }],
  });
  const badge = verdictBadge(s);
  const faultKinds = [...new Set(s.faults.map((f) => f.kind))].join(', ');
  const delivered = s.commands.filter((c) => c.delivered).length;
  const tile = (label: string, value: string, sub = '') => `<div class="tile"><div class="label">${label}</div><div class="value">${value}</div><div class="sub">${sub}</div></div>`;
  const rows = <T>(items: T[], empty: string, cols: number, f: (x: T) => string) => (items.length ? items.map(f).join('') : `<tr><td colspan="${cols}" class="muted">${empty}</td></tr>`);
  const legend = (items: [string, string, string?][]) => `<div class="legend">${items.map(([c, l, k]) => `<span><i style="background:${c}${k === 'dash' ? ';height:0;border-top:2px dashed ' + c : ''}"></i>${l}</span>`).join('')}</div>`;
  const seen = new Set(b.map((x) => x.state));
  const statesLegend = Object.entries(STATE_COLORS).filter(([k]) => k !== 'starting' || seen.has(k)).map(([k, c]) => [c, k === 'starting' ? 'agent starting' : k] as [string, string]);

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>hashflex sim: ${esc(s.scenario.name)} — ${esc(badge.text)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f9fafb;margin:0}
main{max-width:1140px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.muted,.sub{color:#6b7280}.head{display:flex;justify-content:space-between;align-items:flex-start;gap:16px}
.badge{font-weight:700;font-size:18px;padding:8px 18px;border-radius:8px;color:#fff;white-space:nowrap}
.badge.pass{background:#16a34a}.badge.fail{background:#dc2626}.badge.incomplete{background:#d97706}.badge.none{background:#6b7280;font-size:14px}
.note{margin-top:6px;color:#92400e}
.tiles{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;margin-top:18px}
.tile{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px}
.tile .label{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.04em}.tile .value{font-size:22px;font-weight:650}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px}
.legend{display:flex;gap:16px;font-size:12px;color:#374151;margin:0 0 4px 64px;flex-wrap:wrap}
.legend i{display:inline-block;width:14px;height:8px;margin-right:5px;vertical-align:middle;border-radius:2px}
svg .tick{font-size:11px;fill:#6b7280}svg .unit{font-size:12px;fill:#374151}svg .ref{font-size:11px}svg .lbl{font-size:10.5px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e5e7eb;border-radius:8px;overflow:hidden}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #f3f4f6;vertical-align:top}th{background:#f3f4f6;font-weight:600;font-size:12px}
td.num{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#16a34a;font-weight:650}.bad{color:#dc2626;font-weight:650}.skip{color:#6b7280;font-weight:650}
footer{margin-top:28px;font-size:12px;color:#6b7280}code{font-size:12px}
</style></head><body><main>
<div class="head"><div>
<h1>${esc(s.scenario.name)}</h1>
<div>${esc(s.scenario.description)}</div>
<div class="muted">${s.rig === 'leap' ? 'time-leap rig (real agent core on a virtual clock)' : 'real-wire rig (meter on Modbus TCP, boards and I/O on serial lines, controller over WebSocket)'}
· ${esc(meta.pacing)} · ${clock(s.duration_s, true)} simulated in ${meta.wallS.toFixed(1)} s · ${s.boards} boards${s.network_miners ? ` · ${s.network_miners.length} network miners${s.rig === 'wire' ? ' (their firmware APIs on loopback)' : ''}` : ''} · seed ${s.scenario.seed ?? '–'}</div>
${s.verdict === 'incomplete' || (s.verdict === 'fail' && tally(s).notReached) ? `<div class="note">${esc(incompleteNote(s))}</div>` : ''}
</div><div class="badge ${badge.cls}">${esc(badge.text)}</div></div>
<div class="tiles">
${tile('Usable surplus used', `${e.usable_used_pct.toFixed(1)} %`, `${e.used_kwh.toFixed(2)} of ${e.usable_kwh.toFixed(2)} kWh`)}
${tile('All surplus used', `${e.surplus_used_pct.toFixed(1)} %`, `of ${e.surplus_kwh.toFixed(2)} kWh (miners' capacity caps it)`)}
${tile('Miner-caused import', `${e.miner_import_pct.toFixed(2)} %`, `${e.miner_import_kwh.toFixed(3)} kWh of ${e.miner_kwh.toFixed(2)} kWh mined`)}
${tile('Trips', String(s.trips.length), [...new Set(s.trips.map((t) => t.source))].join(', ') || 'none')}
${tile('Faults injected', String(s.faults.length), esc(faultKinds) || 'none')}
${tile('Controller commands', String(s.commands.length), s.commands.length ? `${delivered} delivered` : 'none')}
</div>
<h2>Expectations</h2>
<table><tr><th style="width:90px">result</th><th>expectation</th><th>measured</th></tr>
${rows(s.expectations, 'none declared', 3, (x) => `<tr><td class="${x.result === 'pass' ? 'ok' : x.result === 'fail' ? 'bad' : 'skip'}">${x.result === 'pass' ? '✓ pass' : x.result === 'fail' ? '✗ fail' : '– not reached'}</td><td>${esc(x.expect)}</td><td>${esc(x.measured)}</td></tr>`)}
</table>
<h2>Power</h2>
<div class="card">${legend([[C.surplus, 'surplus (generation − site load)'], [C.miners, 'miners'], [C.grid, 'grid (+ import, − export)'], [C.trip, 'trip', 'dash'], [C.command, 'command', 'dash'], [C.fault, 'fault injected']])}${power}</div>
<h2>Grid signals: frequency and relay contact</h2>
<div class="card">${legend([[C.hz, 'frequency (band: min–max per point)'], [C.trip, 'under-frequency trip setting; trips', 'dash'], [C.relay, 'relay contact closed (the grid operator\'s trip signal, an input)']])}${hz}${relay}</div>
<h2>${log.minerStrip?.length ? 'Boards, network miners and site state' : 'Boards and site state'}</h2>
<div class="card">${legend([['#ea580c', log.minerStrip?.length ? 'hashing (darker = closer to full frequency, or to a miner\'s rated power)' : 'board hashing (darker = closer to full frequency)'], ...statesLegend])}${boards}${log.minerStrip && s.network_miners && log.minerStrip.length < s.network_miners.length ? `<div class="muted">the first ${log.minerStrip.length} of ${s.network_miners.length} miners</div>` : ''}</div>
${s.network_miners ? minersSection(s) : ''}
${s.openadr_events ? openAdrSection(s) : ''}
<h2>Trips</h2>
${s.rig === 'leap' ? `<p class="muted">In the time-leap rig the agent&rsquo;s own processing takes no virtual time, so its latency reads 0 ms${s.network_miners ? ' (with network miners: their stand-ins&rsquo; API time, 10–20 ms)' : ''}; &ldquo;signal &rarr; all boards off&rdquo; still includes the meter poll and sustain time. Real latencies: <code>--speed 1</code> or <code>hashflex bench trip</code>.</p>` : ''}
<table><tr><th>time</th><th>source</th><th>agent latency</th><th>signal at</th><th>signal → all boards off</th></tr>
${rows(s.trips, 'no trips', 5, (t) => `<tr><td>${clock(t.t_s, true)} <span class="muted">(${t.t_s} s)</span></td><td>${esc(t.source)}</td><td class="num">${t.latency_ms} ms</td><td>${t.signal_t_s !== undefined ? `${t.signal_t_s} s` : '–'}</td><td class="num">${t.from_signal_ms !== undefined ? `${t.from_signal_ms} ms` : '–'}</td></tr>`)}
</table>
<h2>Faults injected</h2>
<table><tr><th>from</th><th>to</th><th>fault</th><th>what the agent showed</th></tr>
${rows(s.faults, 'none', 4, (f) => `<tr><td>${clock(f.t_s, true)}</td><td>${clock(f.until_s, true)}</td><td>${esc(f.kind)}${f.target ? ` ${esc(f.target)}` : ''}</td><td>${f.seen.length ? f.seen.map(esc).join('<br>') : '<span class="bad">nothing</span>'}</td></tr>`)}
</table>
<h2>Controller commands</h2>
<table><tr><th>time</th><th>command</th><th>delivered</th><th>ack</th></tr>
${rows(s.commands, 'none', 4, (c) => `<tr><td>${clock(c.t_s, true)}</td><td>${esc(c.action)}${c.kw !== undefined ? ` ${c.kw} kW for ${c.ttl_s} s` : ''}</td><td>${c.delivered ? 'yes' : '<span class="muted">no (controller unreachable)</span>'}</td><td>${c.ok === undefined ? '–' : c.ok ? '<span class="ok">ok</span>' : `<span class="bad">refused</span> ${esc(c.error ?? '')}`}</td></tr>`)}
</table>
<h2>Agent events</h2>
<table><tr><th>time</th><th>event</th><th>source</th><th>detail</th></tr>
${rows(s.events.slice(0, 200), 'none', 4, (ev) => `<tr><td>${clock(ev.t_s, true)}</td><td>${esc(ev.kind)}</td><td>${esc(ev.source)}</td><td>${esc(ev.detail ?? '')}</td></tr>`)}
${s.events.length > 200 ? `<tr><td colspan="4" class="muted">… ${s.events.length - 200} more in the JSON summary</td></tr>` : ''}
</table>
<footer>hashflex sim · ${b.length} points per series (each a mean of the run's samples; the frequency band shows min and max) · ${meta.jsonName ? `JSON summary: <code>${esc(meta.jsonName)}</code> beside this file` : ''}</footer>
</main></body></html>
`;
}
