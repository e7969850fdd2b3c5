import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import * as assert from 'uvu/assert';
import { createLocalServer } from '../agent/server/local';
import { type Browser, openPage } from './fixtures/uplink/chromium';
import { body, rmDir, tmpDir } from './fixtures/uplink/util';
import { needs } from './harness/peers';

/**
 * The dashboard in a real browser: Debian's headless Chromium signs in with ?token= (cookie +
 * redirect), loads the page and its script, opens /live with the cookie and draws the ten
 * minutes of history, then follows a live frame. Set HASHFLEX_SCREENSHOT=FILE to keep the picture.
 * Skipped where chromium is not on PATH. A failure anywhere, the browser's start included, still
 * closes the browser, the server and the temp dir (finally), so the run exits.
 */
const test = needs('chromium');

test('The dashboard signs in, streams and plots ten minutes of telemetry in headless Chromium', async () => {
  const feed = new EventEmitter();
  const srv = await createLocalServer({ listen: '127.0.0.1:0', token: 'dash-tok', status: () => ({}), metrics: () => '', telemetry: feed });
  const dir = tmpDir('chromium');
  let page: Browser | undefined;
  try {
    const start = Date.UTC(2026, 0, 1, 12);
    const frame = (i: number) => {
      const b = body(i);
      const tripped = i > 400 && i < 430;
      b.grid.hz = 60 + 0.03 * Math.sin(i / 40) - (tripped ? 0.35 : 0);
      b.miners.kw = tripped ? 0 : 6 + 2 * Math.sin(i / 90);
      b.miners.target_kw = tripped ? 0 : 6.2 + 2 * Math.sin(i / 90);
      b.grid.kw = 0.2 + b.miners.kw - (6 + 2.2 * Math.sin(i / 90));
      b.state = i >= 599 ? 'curtailed' : 'running';
      return { type: 'telemetry', seq: i + 1, ts: new Date(start + i * 1000).toISOString(), ...b };
    };
    for (let i = 0; i < 600; i++) feed.emit('telemetry', frame(i));
    page = await openPage(`${srv.url}/?token=dash-tok`, dir);
    await page.until(`document.getElementById('link').textContent === 'live' && document.getElementById('p-hz').dataset.points === '600'`);
    assert.is(await page.eval<string>('location.pathname + location.search'), '/', 'the token left the address bar');
    assert.is(await page.eval<string>('document.cookie'), '', 'the session cookie is HttpOnly');
    assert.is(await page.eval<string>(`document.getElementById('state').textContent`), 'curtailed');
    for (const id of ['p-grid', 'p-miners', 'p-hz']) {
      assert.is(await page.eval<string>(`document.getElementById('${id}').dataset.points`), '600', id);
    }
    assert.match(await page.eval<string>(`document.getElementById('boards').textContent`), /hb0on4851\.5561\.5/);
    // a live frame moves the view: the window keeps ten minutes, so the oldest point falls out
    feed.emit('telemetry', { ...frame(600), state: 'ramping' });
    await page.until(`document.getElementById('state').textContent === 'ramping'`);
    assert.is(await page.eval<string>(`document.getElementById('p-hz').dataset.points`), '600');
    // the OpenADR events in force, when the agent is a VEN
    assert.is(await page.eval<string>(`document.getElementById('program').textContent`), '', 'no OpenADR table without a VEN');
    const openadr = { connected: true, notifications: 'webhook', active: [{ program: 'ers-30', event: 'emergency', type: 'ALERT_GRID_EMERGENCY', value: 'grid <b>emergency</b>' }] };
    feed.emit('telemetry', { ...frame(601), state: 'curtailed', openadr });
    await page.until(`document.getElementById('program').textContent.includes('ALERT_GRID_EMERGENCY')`);
    assert.match(await page.eval<string>(`document.getElementById('program').textContent`), /OpenADR: VTN connected, 1 event\(s\) in force.*ers-30emergencyALERT_GRID_EMERGENCYgrid <b>emergency<\/b>open/);
    // the canvas holds a drawing, not a blank: many distinct pixel values
    const colours = await page.eval<number>(`(() => { const c = document.getElementById('p-grid'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set(); for (let i = 0; i < d.length; i += 4) s.add(d[i] << 16 | d[i + 1] << 8 | d[i + 2]); return s.size; })()`);
    assert.ok(colours > 20, `grid plot has ${colours} colours`);
    const png = await page.screenshot();
    assert.is(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.ok(png.length > 20_000, 'the screenshot has content');
    if (process.env.HASHFLEX_SCREENSHOT) fs.writeFileSync(process.env.HASHFLEX_SCREENSHOT, png);
  } finally {
    await page?.close();
    await srv.close();
    rmDir(dir);
  }
});

test.run();
