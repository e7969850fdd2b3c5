import type { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { type Clock, realClock } from '../clock';
import { ErrorCode, HashflexError } from '../errors';
import { logger } from '../log';
import { authenticate, sessionCookie } from './auth';
import { DASHBOARD_HTML, DASHBOARD_JS, SIGN_IN_HTML } from './dashboard';

/**
 * The local status server on `local.listen` (for the technician on site, and for a Prometheus
 * scraper): GET /status (JSON), GET /metrics (Prometheus text), GET / (dashboard page),
 * GET /live (WebSocket: recent history, then every telemetry frame as the uplink journals it).
 *
 * Every route needs the bearer token: the Authorization header or the dashboard cookie anywhere,
 * `?token=` only on `/` (sign-in) and `/live` (see auth.ts); anything else gets 401. It only reads: nothing here can command the site, so a slow or hostile
 * client can cost itself frames but never the control loop a moment (sends to a client that does
 * not drain are skipped; client frames are capped at 1 KiB and ignored).
 */

export interface LocalServerOptions {
  /** "HOST:PORT" (port 0 = a free port) */
  listen: string;
  /** required unless HOST is a loopback address */
  token?: string;
  status: () => object;
  metrics: () => string | Promise<string>;
  /**
   * emits 'telemetry' with each telemetry frame (the Uplink does). A bare body without `type`/`ts`
   * (a site running without an uplink) is stamped here with the clock's time.
   */
  telemetry: EventEmitter;
  clock?: Clock;
  /** history sent to a new live client (frames, default 600: ten minutes at 1 Hz) */
  history?: number;
  /** most live clients at once (default 16) */
  maxClients?: number;
  /** each network miner's firmware family by id, sent with the history (the dashboard's miners table) */
  minerDrivers?: () => Record<string, string>;
}

export interface LocalServer {
  readonly url: string;
  readonly port: number;
  readonly clients: number;
  /** frames not sent to live clients because they were not keeping up */
  readonly skipped: number;
  close(): Promise<void>;
}

const SLOW_CLIENT_BYTES = 1024 * 1024;

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new HashflexError(`local.listen: expected HOST:PORT, got "${listen}"`, ErrorCode.ConfigInvalid);
  return { host: m[1] ?? m[2], port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export async function createLocalServer(opts: LocalServerOptions): Promise<LocalServer> {
  const { host, port } = parseListen(opts.listen);
  if (opts.token === undefined && !isLoopback(host)) {
    throw new HashflexError('local.token: required when local.listen is not a loopback address', ErrorCode.ConfigInvalid);
  }
  // the config refuses it too (security.ts); here because an empty token would key the cookie's
  // HMAC with the empty string, a cookie anyone can compute
  if (opts.token === '') throw new HashflexError('local.token: is empty', ErrorCode.ConfigInvalid);
  const log = logger('local');
  const token = opts.token;
  const keep = opts.history ?? 600;
  // the history is for the plots: each frame kept without its per-miner list (with a thousand
  // network miners a frame is ~80 KB, ten minutes of them ~50 MB); the newest is kept whole, so
  // a new client's tables fill at once
  const history: string[] = [];
  let newest: object | undefined;
  let skipped = 0;

  const server = http.createServer((req, res) => {
    void route(req, res).catch((e) => {
      log.error({ err: e, path: req.url?.split('?')[0] }, 'local server handler failed'); // the query may hold ?token=
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'internal error' }));
    });
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024, clientTracking: true });

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const base = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...base, allow: 'GET, HEAD' }).end();
      return;
    }
    const via = authenticate(req, url, token);
    if (!via) {
      const page = url.pathname === '/';
      res.writeHead(401, { ...base, 'www-authenticate': 'Bearer realm="hashflex"', 'content-type': page ? 'text/html; charset=utf-8' : 'text/plain' });
      res.end(page ? SIGN_IN_HTML : 'unauthorized\n');
      return;
    }
    if (via === 'query' && url.pathname === '/' && token !== undefined) {
      // sign in: set the cookie and take the token out of the address bar and history
      res.writeHead(303, { ...base, 'set-cookie': sessionCookie(token), location: '/' }).end();
      return;
    }
    switch (url.pathname) {
      case '/status':
        res.writeHead(200, { ...base, 'content-type': 'application/json' }).end(JSON.stringify(opts.status()));
        return;
      case '/metrics': {
        const text = await opts.metrics();
        res.writeHead(200, { ...base, 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text);
        return;
      }
      case '/':
        res.writeHead(200, {
          ...base,
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'",
        }).end(DASHBOARD_HTML);
        return;
      case '/dashboard.js':
        res.writeHead(200, { ...base, 'content-type': 'text/javascript; charset=utf-8' }).end(DASHBOARD_JS);
        return;
      default:
        res.writeHead(404, { ...base, 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://local');
    const refuse = (code: number, text: string): void => {
      socket.end(`HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== '/live') return refuse(404, 'Not Found');
    if (!authenticate(req, url, token)) return refuse(401, 'Unauthorized');
    if (wss.clients.size >= (opts.maxClients ?? 16)) return refuse(503, 'Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate());
      ws.on('message', () => { /* the live view is one-way; client frames are ignored */ });
      const frames = newest ? [...history.slice(0, -1), JSON.stringify(newest)] : history;
      const drivers = opts.minerDrivers?.();
      ws.send(`{"type":"history","frames":[${frames.join(',')}]${drivers && Object.keys(drivers).length ? `,"drivers":${JSON.stringify(drivers)}` : ''}}`);
    });
  });

  const clock = opts.clock ?? realClock;
  const onTelemetry = (frame: { type?: unknown; ts?: unknown; network_miners?: unknown }): void => {
    let f: typeof frame;
    let slim: string;
    let text: string | undefined;
    try {
      f = frame.type === 'telemetry' && typeof frame.ts === 'string' ? frame : { ...frame, type: 'telemetry', ts: new Date(clock.now()).toISOString() };
      if (f.network_miners === undefined) slim = text = JSON.stringify(f);
      else {
        const { network_miners: _, ...rest } = f;
        slim = JSON.stringify(rest);
        // the whole frame only for clients watching now
        if (wss.clients.size) text = JSON.stringify(f);
      }
    } catch {
      return; // not JSON-able: nothing to show, and never the reporter's problem
    }
    history.push(slim);
    newest = f;
    if (history.length > keep) history.splice(0, history.length - keep);
    if (text === undefined) return;
    for (const ws of wss.clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > SLOW_CLIENT_BYTES) skipped++;
      else ws.send(text);
    }
  };
  opts.telemetry.on('telemetry', onTelemetry);

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new HashflexError(`local.listen: cannot listen on ${opts.listen}: ${e.message}`, ErrorCode.ConfigInvalid, {}, { cause: e })));
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  log.info({ listen: `${shownHost}:${bound}` }, 'local status server listening');

  return {
    url: `http://${shownHost}:${bound}`,
    port: bound,
    get clients() { return wss.clients.size; },
    get skipped() { return skipped; },
    async close() {
      opts.telemetry.off('telemetry', onTelemetry);
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
