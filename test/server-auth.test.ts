import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { QUERY_TOKEN_PATHS } from '../agent/server/auth';
import { createLocalServer, type LocalServer } from '../agent/server/local';

/**
 * Where the local server takes the token from (issue 11): the Authorization header (and the
 * dashboard cookie) on every route; `?token=` only on the sign-in page `/` and the live
 * WebSocket `/live`, the two a browser may have to reach without a header.
 */
const TOKEN = 'query-auth-tok-7';
let srv: LocalServer;

test.before(async () => {
  srv = await createLocalServer({
    listen: '127.0.0.1:0',
    token: TOKEN,
    status: () => ({ state: 'running' }),
    metrics: () => 'hashflex_up 1\n',
    telemetry: new EventEmitter(),
  });
});
test.after(async () => { await srv.close(); });

function ws(path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const c = new WebSocket(srv.url.replace('http', 'ws') + path, { headers });
    c.once('open', () => { c.terminate(); resolve(101); });
    c.once('unexpected-response', (_req, res) => { c.terminate(); resolve(res.statusCode ?? 0); });
    c.once('error', () => resolve(0));
  });
}

const status = async (path: string, init: RequestInit = {}) => (await fetch(srv.url + path, { redirect: 'manual', ...init })).status;

test('the query token is accepted on / and /live only', () => {
  assert.equal([...QUERY_TOKEN_PATHS].sort(), ['/', '/live']);
});

test('?token= with the right token is refused on /status, /metrics, /dashboard.js and unknown paths', async () => {
  for (const p of ['/status', '/metrics', '/dashboard.js', '/nope']) {
    assert.is(await status(`${p}?token=${TOKEN}`), 401, `GET ${p}?token=`);
  }
  assert.is(await status(`/status?token=${TOKEN}`, { method: 'HEAD' }), 401, 'HEAD /status?token=');
  // a percent-encoded path is still /status
  assert.is(await status(`/%73tatus?token=${TOKEN}`), 401);
});

test('the Authorization header works on every route, whatever the query says', async () => {
  const headers = { authorization: `Bearer ${TOKEN}` };
  assert.is(await status('/status', { headers }), 200);
  assert.is(await status('/metrics', { headers }), 200);
  assert.is(await status('/dashboard.js', { headers }), 200);
  assert.is(await status('/', { headers }), 200);
  assert.is(await status('/nope', { headers }), 404);
  assert.is(await status('/status?token=wrong', { headers }), 200, 'a wrong query token beside a good header');
  assert.is(await ws('/live', headers), 101);
});

test('?token= signs in on / (cookie + redirect), and the cookie then opens the other routes', async () => {
  const r = await fetch(`${srv.url}/?token=${TOKEN}`, { redirect: 'manual' });
  assert.is(r.status, 303);
  const cookie = r.headers.get('set-cookie')!.split(';')[0];
  assert.is(await status('/status', { headers: { cookie } }), 200);
  assert.is(await status('/metrics', { headers: { cookie } }), 200);
  assert.is(await status('/?token=wrong'), 401);
});

test('?token= opens the live WebSocket; a wrong one, or none, does not', async () => {
  assert.is(await ws(`/live?token=${TOKEN}`), 101);
  assert.is(await ws('/live?token=wrong'), 401);
  assert.is(await ws('/live'), 401);
});

test.run();
