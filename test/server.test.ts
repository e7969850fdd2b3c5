import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { ErrorCode, isHashflexError } from '../agent/errors';
import { cookieValue, COOKIE_NAME, safeEqual } from '../agent/server/auth';
import { createLocalServer, parseListen, type LocalServer } from '../agent/server/local';
import { uplinkMetrics } from '../agent/server/metrics';
import { Uplink } from '../agent/uplink/client';
import { Journal } from '../agent/uplink/journal';
import { VirtualClock } from '../agent/clock';
import { body, rmDir, tmpDir, waitFor } from './fixtures/uplink/util';

const TOKEN = 'local-tok-42';

async function start(over: { token?: string; listen?: string; history?: number } = {}): Promise<{ srv: LocalServer; feed: EventEmitter }> {
  const feed = new EventEmitter();
  const srv = await createLocalServer({
    listen: over.listen ?? '127.0.0.1:0',
    token: 'token' in over ? over.token : TOKEN,
    status: () => ({ state: 'running', uplink: { connected: true } }),
    metrics: async () => '# TYPE hashflex_up gauge\nhashflex_up 1\n',
    telemetry: feed,
    history: over.history,
  });
  return { srv, feed };
}

const frame = (seq: number) => ({ type: 'telemetry', seq, ts: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), ...body(seq) });

function openWs(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; msgs: any[]; feed: EventEmitter }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const msgs: any[] = [];
    const feed = new EventEmitter();
    ws.on('message', (d) => { msgs.push(JSON.parse(d.toString())); feed.emit('msg'); });
    ws.once('open', () => resolve({ ws, msgs, feed }));
    ws.once('unexpected-response', (_req, res) => { reject(Object.assign(new Error('refused'), { status: res.statusCode })); ws.terminate(); });
    ws.once('error', reject);
  });
}

test('Every route and the live stream refuse a missing or wrong token with 401', async () => {
  const { srv } = await start();
  try {
    for (const p of ['/status', '/metrics', '/', '/dashboard.js', '/nope']) {
      assert.is((await fetch(srv.url + p)).status, 401, `no token on ${p}`);
      assert.is((await fetch(srv.url + p, { headers: { authorization: 'Bearer local-tok-43' } })).status, 401, `wrong token on ${p}`);
      assert.is((await fetch(srv.url + p, { headers: { cookie: `${COOKIE_NAME}=${cookieValue('other')}` } })).status, 401, `wrong cookie on ${p}`);
    }
    assert.is((await fetch(`${srv.url}/status?token=nope`)).status, 401);
    const page = await fetch(`${srv.url}/`);
    assert.match(await page.text(), /name="token"/, 'the page offers a sign-in form');
    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Array<Record<string, string>>) {
      const e = await openWs(`${srv.url.replace('http', 'ws')}/live`, headers).then(() => undefined, (x) => x);
      assert.is(e?.status, 401);
    }
  } finally {
    await srv.close();
  }
});

test('With the bearer token /status answers JSON and /metrics Prometheus text', async () => {
  const { srv } = await start();
  const auth = { authorization: `Bearer ${TOKEN}` };
  try {
    const s = await fetch(`${srv.url}/status`, { headers: auth });
    assert.is(s.status, 200);
    assert.match(s.headers.get('content-type')!, /application\/json/);
    assert.equal(await s.json(), { state: 'running', uplink: { connected: true } });
    const m = await fetch(`${srv.url}/metrics`, { headers: auth });
    assert.is(m.status, 200);
    assert.match(m.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    assert.match(await m.text(), /^hashflex_up 1$/m);
    assert.is((await fetch(`${srv.url}/status`, { method: 'POST', headers: auth })).status, 405);
    assert.is((await fetch(`${srv.url}/nope`, { headers: auth })).status, 404);
  } finally {
    await srv.close();
  }
});

test('Signing in once with ?token sets a cookie, drops the token from the address, and the cookie opens page and stream', async () => {
  const { srv, feed } = await start();
  try {
    const r = await fetch(`${srv.url}/?token=${TOKEN}`, { redirect: 'manual' });
    assert.is(r.status, 303);
    assert.is(r.headers.get('location'), '/');
    const setCookie = r.headers.get('set-cookie')!;
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.not.match(setCookie, new RegExp(TOKEN), 'the cookie is not the token itself');
    const cookie = setCookie.split(';')[0];
    const page = await fetch(`${srv.url}/`, { headers: { cookie } });
    assert.is(page.status, 200);
    assert.match(await page.text(), /<canvas id="p-grid">/);
    assert.is((await fetch(`${srv.url}/dashboard.js`, { headers: { cookie } })).status, 200);
    const c = await openWs(`${srv.url.replace('http', 'ws')}/live`, { cookie });
    if (c.msgs.length === 0) await waitFor(c.feed, 'msg');
    const next = waitFor(c.feed, 'msg');
    feed.emit('telemetry', frame(1));
    await next;
    assert.is(c.msgs[1].seq, 1);
    c.ws.terminate();
  } finally {
    await srv.close();
  }
});

test('The live stream starts with the recent history, then carries each telemetry frame in order', async () => {
  const { srv, feed } = await start({ history: 5 });
  try {
    for (let i = 1; i <= 8; i++) feed.emit('telemetry', frame(i));
    const c = await openWs(`${srv.url.replace('http', 'ws')}/live`, { authorization: `Bearer ${TOKEN}` });
    if (c.msgs.length === 0) await waitFor(c.feed, 'msg');
    assert.is(c.msgs[0].type, 'history');
    assert.equal(c.msgs[0].frames.map((f: { seq: number }) => f.seq), [4, 5, 6, 7, 8]);
    const more = new Promise<void>((res) => c.feed.on('msg', () => { if (c.msgs.length === 4) res(); }));
    for (let i = 9; i <= 11; i++) feed.emit('telemetry', frame(i));
    await more;
    assert.equal(c.msgs.slice(1).map((m) => m.seq), [9, 10, 11]);
    // a bare body (a site without an uplink) is stamped as a telemetry frame
    const bare = waitFor(c.feed, 'msg');
    feed.emit('telemetry', body(12));
    await bare;
    assert.is(c.msgs[4].type, 'telemetry');
    assert.ok(!Number.isNaN(Date.parse(c.msgs[4].ts)));
    assert.is(srv.clients, 1);
    c.ws.terminate();
  } finally {
    await srv.close();
  }
});

test('A live client sending an oversized frame is cut off while another keeps its stream', async () => {
  const { srv, feed } = await start();
  const url = `${srv.url.replace('http', 'ws')}/live`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  try {
    const bad = await openWs(url, auth);
    const good = await openWs(url, auth);
    const closed = new Promise<number>((r) => bad.ws.once('close', (code) => r(code)));
    bad.ws.send('garbage that is ignored');
    bad.ws.send('x'.repeat(10_000));
    assert.is(await closed, 1009);
    if (good.msgs.length === 0) await waitFor(good.feed, 'msg');
    feed.emit('telemetry', frame(1));
    await waitFor(good.feed, 'msg', () => good.msgs.length === 2);
    assert.is(good.msgs[1].seq, 1);
    good.ws.terminate();
  } finally {
    await srv.close();
  }
});

test('Without a token the server listens only on loopback, and listen addresses are checked', async () => {
  const e = await start({ token: undefined, listen: '0.0.0.0:0' }).then(() => undefined, (x) => x);
  assert.ok(isHashflexError(e, ErrorCode.ConfigInvalid));
  const { srv } = await start({ token: undefined });
  try {
    assert.is((await fetch(`${srv.url}/status`)).status, 200);
  } finally {
    await srv.close();
  }
  assert.equal(parseListen('[::1]:8080'), { host: '::1', port: 8080 });
  assert.throws(() => parseListen('8080'), (x: unknown) => isHashflexError(x, ErrorCode.ConfigInvalid));
  assert.ok(safeEqual('abc', 'abc'));
  assert.not.ok(safeEqual('abc', 'abcd'));
});

test('The uplink metrics are well-formed Prometheus text and count the journal backlog', () => {
  const dir = tmpDir('metrics');
  const journal = Journal.open({ dir });
  try {
    const up = new Uplink({ url: 'ws://127.0.0.1:9/', agentId: 'a', version: '0.1.0', bootId: 'b', journal }, new VirtualClock());
    up.telemetry(body());
    up.telemetry(body());
    const text = uplinkMetrics(up, journal);
    const samples = new Map<string, number>();
    for (const line of text.trimEnd().split('\n')) {
      if (line.startsWith('#')) {
        assert.match(line, /^# (HELP|TYPE) hashflex_[a-z_]+ .+$/);
        continue;
      }
      const m = /^(hashflex_[a-z_]+) (-?\d+(\.\d+)?)$/.exec(line);
      assert.ok(m, `sample line: ${line}`);
      samples.set(m![1], Number(m![2]));
    }
    assert.is(samples.get('hashflex_journal_frames'), 2);
    assert.is(samples.get('hashflex_journal_last_seq'), 2);
    assert.is(samples.get('hashflex_uplink_connected'), 0);
    for (const [k] of samples) if (k.endsWith('_total')) assert.match(text, new RegExp(`# TYPE ${k} counter`));
  } finally {
    journal.close();
    rmDir(dir);
  }
});

test.run();
