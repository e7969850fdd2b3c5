import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { brokerUrl, isMqttUrl, mqttIdentity, mqttOptions } from '../uplink';
import { timer, type CheckResult, type DoctorContext } from './types';

/** Doctor checks of the board itself: the controller link, the clock and the storage. */

export async function checkUplink(ctx: DoctorContext): Promise<CheckResult> {
  const r = timer('uplink');
  const u = ctx.config.uplink;
  if (!u) return r.skip('no uplink configured: the site runs on local policy only');
  if (isMqttUrl(u.url)) return checkMqttUplink(ctx, u, r);
  return checkWsUplink(ctx, u, r);
}

type UplinkSection = NonNullable<DoctorContext['config']['uplink']>;

/**
 * The WebSocket uplink, probed without passing for the agent: the upgrade with the agent's
 * bearer token and CA, as the agent makes it (ws-transport.ts), then an orderly close (1000).
 * No frame is sent. Protocol v1's hello is what makes a connection an agent's (DESIGN.md §4:
 * "first, on every connect"), and a hello from the doctor, with a fresh boot id, would tell the
 * controller the agent rebooted, and with the agent's id would replace a running agent's
 * connection (the controller keeps one per id); a hello under another id would list an agent
 * that does not exist. A controller that authenticates at the upgrade (401/403 otherwise)
 * has accepted the token with its 101; it sees a connection that never said hello and closed.
 * The clock check takes the controller's time from the Date header of that 101 or, where the
 * 101 has none, of the answer to a GET of the same url with the same token (ctx.controllerClock).
 */
async function checkWsUplink(ctx: DoctorContext, u: UplinkSection, r: ReturnType<typeof timer>): Promise<CheckResult> {
  let ca: Buffer | undefined;
  try {
    ca = u.ca_file ? fs.readFileSync(u.ca_file) : undefined;
  } catch (e) {
    return r.fail(`${u.url}: uplink.ca_file: ${(e as Error).message}`, 'fix the uplink section: hashflex config check FILE');
  }
  const timeoutMs = ctx.opts.uplinkTimeoutMs;
  const ws = new WebSocket(u.url, {
    headers: u.token ? { Authorization: `Bearer ${u.token}` } : {},
    ca, handshakeTimeout: timeoutMs, perMessageDeflate: false, maxPayload: 64 * 1024,
  });
  const heard = (res: IncomingMessage) => {
    const theirs = res.headers.date ? Date.parse(res.headers.date) : Number.NaN;
    if (Number.isFinite(theirs)) ctx.controllerClock = { theirs, ours: ctx.opts.now() };
  };
  let status: number | undefined;
  let lastError: string | undefined;
  const outcome = await new Promise<'connected' | 'status' | 'failed'>((resolve) => {
    let settled = false;
    const done = (o: 'connected' | 'status' | 'failed') => { if (!settled) { settled = true; resolve(o); } };
    ws.on('upgrade', heard);
    ws.on('open', () => done('connected'));
    ws.on('unexpected-response', (_req, res) => {
      status = res.statusCode;
      heard(res);
      res.resume();
      done('status');
      ws.terminate();
    });
    ws.on('error', (e) => { lastError ??= e.message; done('failed'); });
  });
  await closeQuietly(ws);
  if (outcome === 'connected') {
    ctx.uplinkOk = true;
    // RFC 9110 §6.6.1 leaves Date optional on a 1xx (the ws package's server sends none): then
    // a GET of the same url with the same token, whose answer (426, 404, …) must carry one
    if (!ctx.controllerClock) await controllerDate(u.url, u.token, ca, timeoutMs).then((res) => heard(res), () => undefined);
    return r.pass(`${u.url}: the controller accepted ${u.token ? 'the token' : 'the connection (no token set)'} (WebSocket upgrade; no hello sent, closed 1000)`);
  }
  if (status === 401 || status === 403) {
    return r.fail(`${u.url}: the controller refused our token (HTTP ${status})`,
      u.token ? `check uplink.token${u.token_file ? ` (read from ${u.token_file})` : ''} against the token the site controller has for ${ctx.config.agent.id}`
        : 'no token is set: put the site token in a file and name it in uplink.token_file');
  }
  if (status !== undefined) {
    return r.fail(`${u.url}: the server answered HTTP ${status}, not a WebSocket upgrade`,
      'uplink.url reaches a web server but not the controller\'s WebSocket endpoint: check its path (and port)');
  }
  return r.fail(`${u.url}: not reachable (${lastError ?? `no answer in ${timeoutMs / 1000} s`})`,
    'check uplink.url (host, port, ws:// or wss://), the network and DNS from this board, a firewall, and for wss:// uplink.ca_file');
}

/** the response to an authenticated GET of the uplink url (http(s) for ws(s)), body discarded */
function controllerDate(url: string, token: string | undefined, ca: Buffer | undefined, timeoutMs: number): Promise<IncomingMessage> {
  const target = new URL(url.replace(/^ws/i, 'http'));
  const get = target.protocol === 'https:' ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(target, { timeout: timeoutMs, headers: token ? { Authorization: `Bearer ${token}` } : {}, ...(ca ? { ca } : {}) }, (res) => {
      res.resume();
      resolve(res);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** close 1000 (or drop a handshake in flight) and wait for the socket to go, at most 1 s */
function closeQuietly(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => { ws.terminate(); resolve(); }, 1000);
    ws.once('close', () => { clearTimeout(t); resolve(); });
    ws.on('error', () => undefined);
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'hashflex doctor: check done');
    else ws.terminate();
  });
}

/**
 * The MQTT uplink, probed without disturbing a running agent: connect to the broker with the
 * agent's credentials and CA (its own client id: a broker drops the older of two clients with
 * one id), subscribe to the agent's command topics, and leave. It publishes nothing: no hello,
 * and above all no retained `state`, which would overwrite the running agent's online state.
 * So it cannot tell whether the broker's ACL lets the agent publish; the controller's view of
 * the agent's hello and telemetry is the proof of that. Nor, on every broker, whether it may
 * read its command topics: EMQX and HiveMQ refuse a denied subscription in the SUBACK (reported
 * here), Mosquitto 2.0 grants it and silently filters what it delivers.
 */
async function checkMqttUplink(ctx: DoctorContext, u: UplinkSection, r: ReturnType<typeof timer>): Promise<CheckResult> {
  // validated config: an MQTT url has a site; the token is the broker password, as in the agent
  const m = { ...mqttOptions(u)!, password: u.token };
  const password = m.password;
  let id: ReturnType<typeof mqttIdentity>;
  let ca: Buffer | undefined;
  try {
    id = mqttIdentity(m, ctx.config.agent.id);
    ca = u.ca_file ? fs.readFileSync(u.ca_file) : undefined;
  } catch (e) {
    return r.fail(`${u.url}: ${(e as Error).message}`, 'fix the uplink section: hashflex config check FILE');
  }
  const { topics: t, username } = id;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mqtt = require('mqtt') as typeof import('mqtt');
  const client = mqtt.connect(brokerUrl(u.url), {
    protocolVersion: 5, clean: true, reconnectPeriod: 0, connectTimeout: ctx.opts.uplinkTimeoutMs,
    clientId: `${id.clientId}-doctor`, username, password, ca,
    properties: { sessionExpiryInterval: 0 },
  });
  let lastError: string | undefined;
  const outcome = await new Promise<'connected' | 'refused' | 'denied' | 'timeout'>((resolve) => {
    const done = (o: 'connected' | 'refused' | 'denied' | 'timeout') => { clearTimeout(timeout); resolve(o); };
    const timeout = setTimeout(() => done('timeout'), ctx.opts.uplinkTimeoutMs);
    client.on('error', (e: Error & { code?: number | string }) => {
      lastError = e.message;
      // CONNACK 134 bad user name or password, 135 not authorized (MQTT 5.0 §3.2.2.2)
      if (e.code === 134 || e.code === 135) done('refused');
    });
    client.on('close', () => done('timeout'));
    client.on('connect', () => {
      client.subscribe({ [t.cmd]: { qos: 1 }, [t.received]: { qos: 1 }, [t.siteCmd]: { qos: 1 } }, (err, granted) => {
        const refused = (granted ?? []).find((g) => g.qos >= 128);
        if (err || refused) {
          lastError = err?.message ?? `SUBACK reason ${refused!.qos} for ${refused!.topic}`;
          done('denied');
        } else done('connected');
      });
    });
  });
  await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  const user = username === undefined ? 'no user name (anonymous)' : `user "${username}"`;
  if (outcome === 'connected') {
    ctx.uplinkOk = true;
    return r.pass(`${u.url}: broker accepted ${user} and the subscriptions to ${t.cmd}, ${t.received} and ${t.siteCmd}`);
  }
  if (outcome === 'refused') {
    return r.fail(`${u.url}: the broker refused ${user} (${lastError ?? 'CONNACK 134/135'})`,
      `check uplink.username (default agent.id) and the broker password in ${u.token_file ? `uplink.token_file (${u.token_file})` : 'uplink.token'} against the broker's user list`);
  }
  if (outcome === 'denied') {
    return r.fail(`${u.url}: the broker let ${user} in but refused the command subscriptions (${lastError})`,
      `allow this user to subscribe to ${t.cmd}, ${t.received} and ${t.siteCmd}, and to publish under ${t.cmd.replace(/\/cmd$/, '/#')}, in the broker's ACL`);
  }
  return r.fail(`${u.url}: not reachable (${lastError ?? `no answer in ${ctx.opts.uplinkTimeoutMs / 1000} s`})`,
    'check uplink.url (broker host and port: mqtt:// 1883, mqtts:// 8883, or the broker\'s WebSocket path for mqtt+ws(s)://), the network and DNS from this board, a firewall, and for TLS uplink.ca_file');
}

/** a wall clock before this is wrong on any board running this software (no RTC, no NTP yet) */
const EARLIEST = Date.UTC(2025, 0, 1);
/** skew against the controller beyond which journaled timestamps mislead (s); Date has 1 s resolution */
const MAX_SKEW_S = 10;

export async function checkClock(ctx: DoctorContext): Promise<CheckResult> {
  const r = timer('clock');
  const now = ctx.opts.now();
  const iso = new Date(now).toISOString();
  const ntp = ntpSynchronized();
  const ntpNote = ntp === undefined ? '' : ntp ? ', NTP synchronized' : ', NTP not synchronized';
  const ntpHint = 'enable time sync: sudo timedatectl set-ntp true (and check that the board reaches its NTP servers)';
  if (now < EARLIEST || now > Date.UTC(2100, 0, 1)) {
    return r.fail(`the clock says ${iso}${ntpNote}`, `${ntpHint}; boards without a battery-backed RTC start in the past until NTP syncs`, { now: iso, ntp });
  }
  // the Date header of the controller's 101 to the uplink check's authenticated upgrade (a
  // broker sends none); whole seconds, so the skew is good to about 1 s
  const c = ctx.controllerClock;
  const skew = c && ctx.uplinkOk ? Math.round((c.ours - c.theirs) / 1000) : undefined;
  const data = { now: iso, ntp, skew_s: skew };
  if (skew !== undefined && Math.abs(skew) > MAX_SKEW_S) {
    return r.fail(`the clock says ${iso}: ${skew > 0 ? 'ahead of' : 'behind'} the controller by ${Math.abs(skew)} s${ntpNote}`, ntpHint, data);
  }
  return r.pass(`${iso}${skew !== undefined ? `, within ${Math.abs(skew)} s of the controller` : ''}${ntpNote}`, data);
}

function ntpSynchronized(): boolean | undefined {
  try {
    const v = execFileSync('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return v === 'yes' ? true : v === 'no' ? false : undefined;
  } catch {
    return undefined; // no systemd (a container, the simulator): nothing to say
  }
}

/** writes + fsyncs of a journal-sized record to time (SD cards vary by 100x) */
const FSYNCS = 20;

export async function checkStorage(ctx: DoctorContext): Promise<CheckResult> {
  const r = timer('storage');
  const s = ctx.config.storage;
  const file = path.join(s.dir, `.doctor-${process.pid}`);
  const times: number[] = [];
  try {
    fs.mkdirSync(s.dir, { recursive: true });
    const fd = fs.openSync(file, 'w');
    try {
      const record = Buffer.alloc(4096, 0x5a);
      for (let i = 0; i < FSYNCS; i++) {
        fs.writeSync(fd, record);
        const t0 = performance.now();
        fs.fsyncSync(fd);
        times.push(performance.now() - t0);
      }
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const user = os.userInfo().username;
    return r.fail(`storage.dir ${s.dir} is not writable (${err.code ?? err.message})`,
      err.code === 'EACCES' || err.code === 'EPERM'
        ? `let the service user write it: sudo chown ${user === 'root' ? 'hashflex' : user}: ${s.dir}`
        : err.code === 'EROFS' ? 'the file system is read-only: put storage.dir on a writable partition'
          : `storage.dir must name a directory the agent can create and write`);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => Math.round(times[Math.min(times.length - 1, Math.floor(p * times.length))] * 100) / 100;
  const freeMb = freeSpaceMb(s.dir);
  const data = { dir: s.dir, fsync_ms: { median: q(0.5), p99: q(0.99), max: q(1) }, free_mb: freeMb };
  if (freeMb !== undefined && freeMb < s.journal_max_mb) {
    return r.fail(`${s.dir}: ${freeMb} MB free, less than storage.journal_max_mb (${s.journal_max_mb})`,
      'free space there, or lower storage.journal_max_mb', data);
  }
  const slow = q(0.99) > 100 ? ' (slow card: keep journal_sync async, consider journal_checkpoint worker)' : '';
  return r.pass(`${s.dir} writable; fsync median ${q(0.5)} ms, p99 ${q(0.99)} ms over ${FSYNCS}; ${freeMb ?? '?'} MB free${slow}`, data);
}

function freeSpaceMb(dir: string): number | undefined {
  try {
    const st = fs.statfsSync(dir);
    return Math.floor((st.bavail * st.bsize) / 2 ** 20);
  } catch {
    return undefined;
  }
}
