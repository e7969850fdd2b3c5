import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { createLocalServer } from '../agent/server/local';
import { siteMetrics } from '../agent/server/site-metrics';
import type { NetworkMinerTelemetry } from '../agent/telemetry';
import { openPage, type Browser } from './fixtures/uplink/chromium';
import { body, rmDir, tmpDir } from './fixtures/uplink/util';
import { needs } from './harness/peers';
import { virtualSite } from './harness/virtual-site';

// Network miners on the local server: /metrics per miner, the dashboard's miners table, and a
// live-view history that stays small with a thousand miners (their list only in the newest frame).

/** the value of one sample line, e.g. value(text, 'hashflex_miner_on{miner="m0",driver="virtual"}') */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('/metrics has per-miner gauges (on, kW, TH/s, temperature, state, fault) labelled with miner and driver, and each miner\'s link counters', async () => {
  const r = await virtualSite({ boards: 1, miners: 3, config: { control: { mode: 'setpoint', setpoint_kw: 20, board_on_delay_ms: 0, stagger_ms: 0 } } });
  r.plant.generationKw = 0;
  await r.start();
  try {
    await r.run(120_000);
    r.miners[0].counters.requests = 7;
    r.miners[0].counters.timeouts = 2;
    r.miners[2].faults.down = true;
    await r.run(10_000);
    const text = siteMetrics(r.s);
    const t = r.s.telemetry().network_miners!;
    for (const [i, m] of t.entries()) {
      const l = `miner="m${i}",driver="virtual"`;
      assert.is(value(text, `hashflex_miner_on{${l}}`), m.on ? 1 : 0, `on m${i}`);
      assert.is(value(text, `hashflex_miner_kw{${l}}`), m.kw, `kw m${i}`);
      assert.is(value(text, `hashflex_miner_ths{${l}}`), m.ths ?? Number.NaN, `ths m${i}`);
      assert.is(value(text, `hashflex_miner_temp_c{${l}}`), m.temp_c ?? Number.NaN, `temp m${i}`);
      // one state series per state, 1 for the one in force
      const states = ['hashing', 'waking', 'stopping', 'sleeping', 'unreachable', 'unknown'].map((s) => value(text, `hashflex_miner_state{${l},state="${s}"}`));
      assert.equal(states.filter((v) => v === 1).length, 1, `one state in force for m${i}`);
      assert.is(value(text, `hashflex_miner_state{${l},state="${m.state}"}`), 1);
    }
    assert.is(t[0].state, 'hashing');
    assert.ok(t[0].kw > 1 && (t[0].ths ?? 0) > 0, 'a hashing miner draws and hashes');
    assert.is(value(text, 'hashflex_miner_state{miner="m2",driver="virtual",state="unreachable"}'), 1);
    assert.is(value(text, 'hashflex_miner_fault{miner="m2",driver="virtual"}'), 1);
    assert.is(value(text, 'hashflex_miner_fault{miner="m0",driver="virtual"}'), 0);
    // link counters per miner beside the meter's and the boards', as the boards have them
    assert.is(value(text, 'hashflex_link_requests_total{link="m0"}'), 7);
    assert.is(value(text, 'hashflex_link_timeouts_total{link="m0"}'), 2);
    assert.ok(value(text, 'hashflex_link_timeouts_total{link="m2"}')! > 0, 'the unreachable miner counts its timeouts');
    assert.ok(value(text, 'hashflex_link_requests_total{link="meter"}') !== undefined);
    assert.ok(value(text, 'hashflex_link_requests_total{link="hb0"}') !== undefined);
    // every family declared once, and every sample line a name, optional labels and a number
    for (const name of ['hashflex_miner_on', 'hashflex_miner_kw', 'hashflex_miner_ths', 'hashflex_miner_temp_c', 'hashflex_miner_state', 'hashflex_miner_fault']) {
      assert.is(text.split('\n').filter((l) => l === `# TYPE ${name} gauge`).length, 1, name);
    }
    for (const l of text.split('\n').filter((x) => x && !x.startsWith('#'))) assert.match(l, /^[a-z_]+(\{[^}]*\})? (-?[\d.e+-]+|NaN)$/);
  } finally {
    await r.s.stop();
  }
});

test('A site without network miners has the miner families with no samples', async () => {
  const r = await virtualSite({ boards: 1 });
  await r.start();
  try {
    await r.run(2000);
    const text = siteMetrics(r.s);
    assert.match(text, /^# TYPE hashflex_miner_on gauge$/m);
    assert.not.match(text, /^hashflex_miner_/m);
  } finally {
    await r.s.stop();
  }
});

const miners = (n: number, seq: number): NetworkMinerTelemetry[] =>
  Array.from({ length: n }, (_, i) => ({ id: `wm-${String(i).padStart(3, '0')}`, on: true, kw: 3.4, ths: 110 + (seq % 3), temp_c: 65, state: 'hashing' }));

function history(url: string): Promise<{ frames: Record<string, any>[]; drivers?: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/live`);
    ws.once('message', (d) => { resolve(JSON.parse(d.toString())); ws.terminate(); });
    ws.once('error', reject);
  });
}

test('The live history keeps the per-miner list of the newest frame only, and sends the miners\' drivers with it', async () => {
  const feed = new EventEmitter();
  const drivers = Object.fromEntries(miners(1000, 0).map((m, i) => [m.id, i % 2 ? 'whatsminer' : 'avalon']));
  const srv = await createLocalServer({ listen: '127.0.0.1:0', status: () => ({}), metrics: () => '', telemetry: feed, history: 50, minerDrivers: () => drivers });
  try {
    const frame = (i: number) => ({ type: 'telemetry', seq: i + 1, ts: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), ...body(i), network_miners: miners(1000, i) });
    for (let i = 0; i < 60; i++) feed.emit('telemetry', frame(i));
    const h = await history(srv.url);
    assert.is(h.frames.length, 50);
    assert.equal(h.frames.map((f) => f.seq), Array.from({ length: 50 }, (_, i) => i + 11));
    assert.ok(h.frames.slice(0, -1).every((f) => f.network_miners === undefined), 'older frames without the per-miner list');
    assert.ok(h.frames.every((f) => typeof f.grid.kw === 'number' && typeof f.miners.kw === 'number'), 'every frame keeps what the plots need');
    assert.is(h.frames[49].network_miners.length, 1000, 'the newest frame whole');
    assert.is(h.frames[49].network_miners[0].ths, 110 + (59 % 3));
    assert.equal(h.drivers, drivers);
    // a client watching gets each frame whole
    const live = new WebSocket(`${srv.url.replace('http', 'ws')}/live`);
    const got = new Promise<Record<string, any>>((resolve) => {
      let n = 0;
      live.on('message', (d) => { if (n++ === 1) resolve(JSON.parse(d.toString())); });
    });
    await new Promise((r) => live.once('open', r));
    // the history message is the first; wait for it before the next frame
    await new Promise((r) => setTimeout(r, 50));
    feed.emit('telemetry', frame(60));
    const f = await got;
    assert.is(f.seq, 61);
    assert.is(f.network_miners.length, 1000);
    live.terminate();
  } finally {
    await srv.close();
  }
});

test('Without miners the history message has no drivers and frames are kept as they came', async () => {
  const feed = new EventEmitter();
  const srv = await createLocalServer({ listen: '127.0.0.1:0', status: () => ({}), metrics: () => '', telemetry: feed, minerDrivers: () => ({}) });
  try {
    feed.emit('telemetry', { type: 'telemetry', seq: 1, ts: new Date().toISOString(), ...body(1) });
    const h = await history(srv.url);
    assert.is(h.drivers, undefined);
    assert.equal(h.frames[0].boards, body(1).boards);
  } finally {
    await srv.close();
  }
});

const browserTest = needs('chromium');

browserTest('The dashboard lists network miners: id, driver, state, kW, TH/s and temperature, a faulted one marked', async () => {
  const feed = new EventEmitter();
  const list = miners(3, 0);
  list[1] = { ...list[1], state: 'sleeping', on: false, kw: 0.03, ths: 0, temp_c: 41.2 };
  list[2] = { ...list[2], state: 'unreachable', ths: null, temp_c: null, fault: 'unreachable: no answer on its API' };
  const drivers = { 'wm-000': 'whatsminer', 'wm-001': 'antminer', 'wm-002': 'avalon' };
  const srv = await createLocalServer({ listen: '127.0.0.1:0', token: 'dash-tok', status: () => ({}), metrics: () => '', telemetry: feed, minerDrivers: () => drivers });
  const dir = tmpDir('chromium-miners');
  let page: Browser | undefined;
  try {
    feed.emit('telemetry', { type: 'telemetry', seq: 1, ts: new Date().toISOString(), ...body(1), network_miners: list });
    page = await openPage(`${srv.url}/?token=dash-tok`, dir);
    await page.until(`document.getElementById('miners').rows.length === 4`);
    const rows = await page.eval<string[][]>(`[...document.getElementById('miners').rows].map((r) => [...r.cells].map((c) => c.textContent))`);
    assert.equal(rows[0], ['miner', 'driver', 'state', 'kW', 'TH/s', '°C']);
    assert.equal(rows[1], ['wm-000', 'whatsminer', 'hashing', '3.40', '110.0', '65.0']);
    assert.equal(rows[2], ['wm-001', 'antminer', 'sleeping', '0.03', '0.0', '41.2']);
    assert.equal(rows[3], ['wm-002', 'avalon', 'unreachable !', '3.40', '\u2013', '\u2013']);
    assert.is(await page.eval<string>(`document.getElementById('miners').rows[3].title`), 'unreachable: no answer on its API');
    assert.is(await page.eval<string>(`document.getElementById('miners').caption.textContent`), 'network miners: 1 of 3 hashing');
    // a live frame updates the table
    feed.emit('telemetry', { type: 'telemetry', seq: 2, ts: new Date().toISOString(), ...body(2), network_miners: list.map((m) => ({ ...m, state: 'hashing', fault: undefined })) });
    await page.until(`document.getElementById('miners').caption.textContent === 'network miners: 3 of 3 hashing'`);
  } finally {
    await page?.close();
    await srv.close();
    rmDir(dir);
  }
});

test.run();
