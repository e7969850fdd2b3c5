/**
 * The dashboard page served by the local server: no build step and no third-party script (the
 * board is often offline), three canvas plots over the last minutes (grid kW, miner kW against
 * its target, grid frequency) and the latest state, boards and fans, and network miners (id,
 * driver, state, kW, TH/s, temperature; a row in red with the fault as its tooltip). It reads
 * /live, which starts with the recent history so the plots are full at once (and the miners'
 * drivers, which telemetry does not carry); the cookie set at sign-in authenticates both the
 * page and the socket.
 */

export const SIGN_IN_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>hashflex: sign in</title>
<style>body{font:16px system-ui,sans-serif;background:#10151c;color:#e6edf3;display:grid;place-items:center;height:100vh;margin:0}
form{background:#18202b;padding:24px 28px;border-radius:8px}input{font:inherit;padding:6px;margin:8px 0;width:260px}
button{font:inherit;padding:6px 14px}</style></head>
<body><form method="get" action="/"><div>hashflex dashboard: local token</div>
<input type="password" name="token" autocomplete="current-password" autofocus><br><button>Sign in</button></form></body></html>
`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>hashflex</title>
<style>
body{font:14px system-ui,sans-serif;background:#10151c;color:#e6edf3;margin:0;padding:14px 18px}
h1{font-size:18px;margin:0 0 10px;display:flex;gap:14px;align-items:center}
.badge{padding:2px 10px;border-radius:10px;font-size:13px;background:#30363d}
.running{background:#1f6f3f}.curtailed,.ramping{background:#8a6d1a}.tripped,.fault{background:#a12d2d}
#link{font-size:12px;color:#8b949e;margin-left:auto}
.kpis{display:flex;gap:22px;margin-bottom:10px}.kpi b{display:block;font-size:20px}
.plots{display:grid;grid-template-columns:1fr;gap:10px}
.plot{background:#161b22;border-radius:6px;padding:6px 10px}
.plot h2{font-size:13px;font-weight:500;margin:2px 0;color:#8b949e}
canvas{width:100%;height:170px;display:block}
table{border-collapse:collapse;margin-top:10px;font-size:13px}td,th{padding:2px 10px;text-align:right}th{color:#8b949e;font-weight:500}
caption{text-align:left;color:#8b949e;padding:2px 10px}tr.fault td{color:#f85149}
</style></head>
<body>
<h1>hashflex <span id="state" class="badge">…</span> <span id="mode" class="badge">…</span><span id="link">connecting…</span></h1>
<div class="kpis">
 <div class="kpi">grid<b id="k-grid">–</b></div><div class="kpi">frequency<b id="k-hz">–</b></div>
 <div class="kpi">miners<b id="k-miners">–</b></div><div class="kpi">target<b id="k-target">–</b></div>
</div>
<div class="plots">
 <div class="plot"><h2>grid kW (+ import / − export)</h2><canvas id="p-grid"></canvas></div>
 <div class="plot"><h2>miner kW (solid) and target (dashed)</h2><canvas id="p-miners"></canvas></div>
 <div class="plot"><h2>grid frequency Hz</h2><canvas id="p-hz"></canvas></div>
</div>
<table id="program"></table>
<table id="boards"></table>
<table id="miners"></table>
<script src="/dashboard.js"></script>
</body></html>
`;

// String.raw: esbuild cannot escape characters in it, so it is kept ASCII (\u escapes in the
// page's own string literals) and the board bundle stays one-byte text (scripts/package/build.ts)
export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var WINDOW_MS = (Number(new URLSearchParams(location.search).get('minutes')) || 10) * 60000;
  var pts = []; // {t, grid, hz, miners, target}
  var last = null;
  var drivers = {}; // network miner id -> firmware family (sent with the history)
  var $ = function (id) { return document.getElementById(id); };

  function add(f) {
    if (!f || f.type !== 'telemetry') return;
    var t = Date.parse(f.ts);
    pts.push({ t: t, grid: f.grid.kw, hz: f.grid.hz, miners: f.miners.kw, target: f.miners.target_kw });
    while (pts.length && pts[0].t <= t - WINDOW_MS) pts.shift();
    last = f;
  }

  function nice(lo, hi) {
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
    var span = hi - lo, step = Math.pow(10, Math.floor(Math.log10(span / 4)));
    if (span / step > 20) step *= 5; else if (span / step > 8) step *= 2;
    return { lo: Math.floor(lo / step) * step, hi: Math.ceil(hi / step) * step, step: step };
  }

  function plot(id, series, opts) {
    var c = $(id), dpr = window.devicePixelRatio || 1;
    var w = c.clientWidth, h = c.clientHeight;
    if (c.width !== w * dpr) { c.width = w * dpr; c.height = h * dpr; }
    c.setAttribute('data-points', String(pts.length)); // lets a headless check see what was drawn
    var g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    var L = 52, R = 8, T = 6, B = 20, pw = w - L - R, ph = h - T - B;
    var now = pts.length ? pts[pts.length - 1].t : Date.now(), t0 = now - WINDOW_MS;
    var lo = Infinity, hi = -Infinity;
    pts.forEach(function (p) { series.forEach(function (s) { var v = p[s.key]; if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    if (opts.include !== undefined) { lo = Math.min(lo, opts.include); hi = Math.max(hi, opts.include); }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    var ax = nice(lo, hi);
    var X = function (t) { return L + ((t - t0) / WINDOW_MS) * pw; };
    var Y = function (v) { return T + ph - ((v - ax.lo) / (ax.hi - ax.lo)) * ph; };
    g.font = '11px system-ui, sans-serif'; g.fillStyle = '#8b949e'; g.strokeStyle = '#30363d'; g.lineWidth = 1;
    for (var v = ax.lo; v <= ax.hi + ax.step / 2; v += ax.step) {
      var y = Math.round(Y(v)) + 0.5;
      g.beginPath(); g.moveTo(L, y); g.lineTo(L + pw, y); g.stroke();
      g.fillText(v.toFixed(opts.digits), 4, y + 4);
    }
    for (var m = 0; m <= WINDOW_MS / 60000; m += WINDOW_MS > 600000 ? 5 : 1) {
      var x = X(now - m * 60000);
      g.fillText(m === 0 ? 'now' : '-' + m + ' min', x - 14, h - 5);
    }
    if (opts.include !== undefined) {
      g.strokeStyle = '#6e7681'; g.setLineDash([2, 3]); g.beginPath();
      g.moveTo(L, Y(opts.include)); g.lineTo(L + pw, Y(opts.include)); g.stroke(); g.setLineDash([]);
    }
    series.forEach(function (s) {
      g.strokeStyle = s.color; g.lineWidth = 1.8; g.setLineDash(s.dash || []); g.beginPath();
      var started = false;
      pts.forEach(function (p) {
        var val = p[s.key]; if (!isFinite(val)) { started = false; return; }
        if (!started) { g.moveTo(X(p.t), Y(val)); started = true; } else g.lineTo(X(p.t), Y(val));
      });
      g.stroke(); g.setLineDash([]);
    });
  }

  function fmt(v, d, unit) { return typeof v === 'number' && isFinite(v) ? v.toFixed(d) + (unit ? ' ' + unit : '') : '\u2013'; }

  function render() {
    plot('p-grid', [{ key: 'grid', color: '#58a6ff' }], { digits: 1, include: 0 });
    plot('p-miners', [{ key: 'miners', color: '#3fb950' }, { key: 'target', color: '#d29922', dash: [6, 4] }], { digits: 1 });
    plot('p-hz', [{ key: 'hz', color: '#bc8cff' }], { digits: 2 });
    if (!last) return;
    $('state').textContent = last.state; $('state').className = 'badge ' + last.state;
    $('mode').textContent = last.mode;
    $('k-grid').textContent = fmt(last.grid.kw, 2, 'kW');
    $('k-hz').textContent = fmt(last.grid.hz, 3, 'Hz');
    $('k-miners').textContent = fmt(last.miners.kw, 2, 'kW');
    $('k-target').textContent = fmt(last.miners.target_kw, 2, 'kW');
    var rows = '<tr><th>board</th><th>on</th><th>MHz</th><th>kW</th><th>°C</th></tr>';
    (last.boards || []).forEach(function (b) {
      rows += '<tr><td>' + esc(b.id) + '</td><td>' + (b.on ? 'on' : 'off') + '</td><td>' + fmt(b.mhz, 0, '') +
        '</td><td>' + fmt(b.kw, 2, '') + '</td><td>' + fmt(b.temp_c, 1, '') + '</td></tr>';
    });
    (last.fans || []).forEach(function (f) {
      rows += '<tr><td>' + esc(f.id) + '</td><td>fan</td><td colspan="2">' + Math.round(f.duty * 100) + ' %</td><td>' + fmt(f.rpm, 0, 'rpm') + '</td></tr>';
    });
    $('boards').innerHTML = rows;
    // the OpenADR events in force (telemetry's openadr, when the agent is a VEN)
    var oa = last.openadr, prows = '';
    if (oa) {
      (oa.active || []).forEach(function (a) {
        prows += '<tr><td>' + esc(a.program) + '</td><td>' + esc(a.event) + '</td><td>' + esc(a.type) + '</td><td>' + esc(a.value) +
          '</td><td>' + (a.until ? new Date(a.until).toLocaleTimeString() : 'open') + '</td></tr>';
      });
      $('program').innerHTML = '<caption>OpenADR: ' + (oa.connected ? 'VTN connected' : 'VTN away') + (oa.fault ? ' (' + esc(oa.fault) + ')' : '') +
        ', ' + (oa.active || []).length + ' event(s) in force</caption>' +
        (prows ? '<tr><th>program</th><th>event</th><th>type</th><th>value</th><th>until</th></tr>' + prows : '');
    } else $('program').innerHTML = '';
    var nm = last.network_miners || [], hashing = 0;
    var mrows = '';
    nm.forEach(function (m) {
      if (m.state === 'hashing') hashing++;
      mrows += '<tr' + (m.fault ? ' class="fault" title="' + esc(m.fault) + '"' : '') + '><td>' + esc(m.id) + '</td><td>' + esc(drivers[m.id] || '') +
        '</td><td>' + esc(m.state) + (m.fault ? ' !' : '') + '</td><td>' + fmt(m.kw, 2, '') + '</td><td>' + fmt(m.ths, 1, '') + '</td><td>' + fmt(m.temp_c, 1, '') + '</td></tr>';
    });
    $('miners').innerHTML = nm.length
      ? '<caption>network miners: ' + hashing + ' of ' + nm.length + ' hashing</caption><tr><th>miner</th><th>driver</th><th>state</th><th>kW</th><th>TH/s</th><th>°C</th></tr>' + mrows
      : '';
  }

  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }

  var pending = false;
  function schedule() { if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; render(); }); } }

  var retry = 1000;
  function connect() {
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/live');
    ws.onopen = function () { retry = 1000; $('link').textContent = 'live'; };
    ws.onmessage = function (ev) {
      var m = JSON.parse(ev.data);
      if (m.type === 'history') { pts = []; drivers = m.drivers || {}; m.frames.forEach(add); } else add(m);
      schedule();
    };
    ws.onclose = function () {
      $('link').textContent = 'disconnected, retrying\u2026';
      // a changed token makes the cookie stale: go back to the sign-in form instead of retrying
      fetch('/status').then(function (r) { if (r.status === 401) location.href = '/'; }, function () {});
      setTimeout(connect, retry); retry = Math.min(retry * 2, 30000);
    };
  }
  window.addEventListener('resize', schedule);
  render();
  connect();
})();
`;
