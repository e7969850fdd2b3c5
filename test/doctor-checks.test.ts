import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from 'ws';
import { validateConfig } from '../agent/config';
import { windowOf, type MeterWindow } from '../agent/doctor/devices';
import { cycleFigures, cycleVerdict, unsteadyKw, type Cycle, type Trend } from '../agent/doctor/enable-step';
import { portHint, portProblem } from '../agent/doctor/port-error';
import { checkClock, checkUplink } from '../agent/doctor/system';
import type { DoctorContext } from '../agent/doctor/types';
import { builtinScenario } from '../sim/scenarios/builtin';
import { tmpdir } from './harness/cli';

/**
 * The doctor's judgements on their own, without the simulated site: the enable check's
 * arithmetic against a site that moves, the operating system's reasons for a port that will not
 * open, the WebSocket uplink check against a controller that records what it is sent, and the
 * quiet scenario that `hashflex sim --hardware-only` holds by default.
 */

const enable = suite('enable step');

/** a 100-chip BM1366 board at 50 MHz, as in issue 19 */
const E = 0.285;
/** a window mean of 8 samples, spread 5 W, at t seconds */
const w = (kw: number, tS: number, sd = 0.005): MeterWindow => ({ kw, sd, n: 8, t: tS * 1000 });
/** the doctor's readings 3.5 s apart (2 s settle, 1.5 s window), 1 s of bring-up before `on` */
const T = { from: 0, to: 3.5, on: 8, low: 11.5, after: 15 };

function readings(site: (tS: number) => number, board: { on: number; low: number }): { c: Cycle; trend: Trend } {
  const trend = { from: w(site(T.from), T.from), to: w(site(T.to), T.to) };
  const c = { off: trend.to, on: w(site(T.on) + board.on, T.on), low: w(site(T.low) + board.low, T.low), offAfter: w(site(T.after), T.after) };
  return { c, trend };
}

enable('A load ramping by four times the board while it measures is subtracted: the line passes on the first cycle', () => {
  const ramp = (t: number) => 1 + 0.1 * t; // +1.15 kW over the cycle
  const { c, trend } = readings(ramp, { on: E, low: 0 });
  // what the old three-reading bracket saw: power "went" with the line by on - low = E - 0.35 kW, less than nothing
  assert.ok(c.on.kw - c.low.kw < 0);
  const f = cycleFigures(c, trend);
  assert.ok(Math.abs(f.came_kw - E) < 0.01, `came ${f.came_kw}`);
  assert.ok(Math.abs(f.stayed_kw) < 0.01, `stayed ${f.stayed_kw}`);
  assert.ok(f.moved_kw > 4 * E);
  assert.is(cycleVerdict(f, E), 'pass');
});

enable('A line that does not cut the board is "stuck", a board the meter does not see is "unseen"', () => {
  const ramp = (t: number) => 1 - 0.05 * t;
  const stuck = readings(ramp, { on: E, low: E });
  assert.is(cycleVerdict(cycleFigures(stuck.c, stuck.trend), E), 'stuck');
  const unseen = readings(ramp, { on: 0.01, low: 0 });
  assert.is(cycleVerdict(cycleFigures(unseen.c, unseen.trend), E), 'unseen');
});

enable('A load that curves as much as the board draws cannot be told from it: no verdict, and the move is reported', () => {
  // 0.01 kW/s²: a straight line between the off readings is 0.3 kW off at the on reading
  const curve = (t: number) => 1 + 0.01 * t * t;
  for (const board of [{ on: E, low: 0 }, { on: E, low: E }, { on: 0, low: 0 }]) {
    const { c, trend } = readings(curve, board);
    const f = cycleFigures(c, trend);
    assert.is(cycleVerdict(f, E), undefined, JSON.stringify(f));
    assert.ok(unsteadyKw([f]) > E, String(unsteadyKw([f])));
  }
});

enable('Meter readings that scatter more than the board draws give no verdict either', () => {
  const { c, trend } = readings(() => 1, { on: E, low: 0 });
  const noisy = { ...c, on: { ...c.on, sd: 0.3 } };
  assert.is(cycleVerdict(cycleFigures(noisy, trend), E), undefined);
  assert.is(cycleVerdict(cycleFigures(c, trend), E), 'pass');
});

enable('A window on a ramp has the mean at its mean time, and its scatter is about the ramp, not across it', () => {
  const samples = Array.from({ length: 9 }, (_, i) => ({ kw: 1 + 0.002 * i * 50, mono: 1000 + i * 50 }));
  const win = windowOf(samples, 0);
  assert.ok(Math.abs(win.kw - 1.4) < 1e-9);
  assert.is(win.t, 1200);
  assert.ok(win.sd < 1e-9, String(win.sd));
  assert.is(win.n, 9);
  assert.ok(Number.isNaN(windowOf([], 5).kw));
});

enable.run();

const ports = suite('port errors');

ports('The operating system\'s reason is read from serialport\'s messages (bindings-cpp serialport_unix.cpp) and from error codes', () => {
  assert.is(portProblem('cannot open /dev/ttyUSB0: Error: Permission denied, cannot open /dev/ttyUSB0'), 'EACCES');
  assert.is(portProblem('cannot open /dev/ttyUSB0: Error Resource temporarily unavailable Cannot lock port'), 'EBUSY');
  assert.is(portProblem('Error: Device or resource busy, cannot open /dev/ttyACM0'), 'EBUSY');
  assert.is(portProblem('rtu:/dev/ttyUSB1@9600 unit 1 fn 4: Error: No such file or directory, cannot open /dev/ttyUSB1'), 'ENOENT');
  assert.is(portProblem(Object.assign(new Error('open failed'), { code: 'EACCES' })), 'EACCES');
  assert.is(portProblem(new Error('wrapped', { cause: new Error('Error: No such file or directory, cannot open /dev/x') })), 'ENOENT');
  for (const other of ['hb0 bring-up: no answer in 3000 ms', 'connect ECONNREFUSED 127.0.0.1:1', undefined, new Error('CRC')]) assert.is(portProblem(other), undefined);
});

ports('Each reason has its own hint: dialout, the service holding the port, no such device', () => {
  assert.match(portHint('EACCES', '/dev/ttyUSB0', 'io.path'), 'add the service user to the `dialout` group');
  assert.match(portHint('EBUSY', '/dev/ttyUSB0', 'io.path'), 'another process holds the port (is the hashflex service still running? systemctl stop hashflex)');
  const enoent = portHint('ENOENT', '/dev/ttyUSB0', 'io.path');
  assert.match(enoent, /no such device \/dev\/ttyUSB0: is the cable/);
  assert.match(enoent, /io\.path/);
  for (const p of ['EACCES', 'EBUSY', 'ENOENT'] as const) assert.not.match(portHint(p, '/dev/x', 'k'), /baud/);
});

ports.run();

const uplink = suite('ws uplink');
const TOKEN = 'uplink-token-5678';

interface Controller {
  url: string;
  /** Authorization headers of plain HTTP requests */
  gets: Array<string | undefined>;
  /** per WebSocket connection: frames received, and the close code */
  conns: Array<{ frames: string[]; code?: number }>;
  close(): Promise<void>;
}

/** a controller that authenticates at the upgrade and records everything it is sent */
async function controller(opts: { date101?: Date; dateHttp?: Date } = {}): Promise<Controller> {
  const gets: Controller['gets'] = [];
  const conns: Controller['conns'] = [];
  const server = http.createServer((req, res) => {
    gets.push(req.headers.authorization);
    res.writeHead(426, opts.dateHttp ? { date: opts.dateHttp.toUTCString() } : {}).end('websocket only\n');
  });
  const wss = new WebSocketServer({ noServer: true });
  // the ws package's server writes its 101 with no Date (RFC 9110 §6.6.1: optional on a 1xx)
  if (opts.date101) wss.on('headers', (h) => h.push(`Date: ${opts.date101!.toUTCString()}`));
  server.on('upgrade', (req, socket, head) => {
    if (req.url !== '/uplink') return socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: Controller['conns'][number] = { frames: [] };
      conns.push(conn);
      ws.on('message', (m) => conn.frames.push(String(m)));
      ws.on('close', (code) => { conn.code = code; });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/uplink`, gets, conns,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const dir = tmpdir('hashflex-doctor-checks-');
function ctx(url: string, token?: string): DoctorContext {
  const config = validateConfig({
    agent: { id: 'a1' }, meter: { tcp: '127.0.0.1:1502' }, boards: [{ id: 'hb0', serial: { path: '/dev/null' } }],
    uplink: { url, ...(token ? { token } : {}) }, storage: { dir },
  });
  return { config, opts: { uplinkTimeoutMs: 3000, now: Date.now }, uplinkOk: false } as unknown as DoctorContext;
}
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
};

uplink('The check upgrades with the bearer token, sends no frame (no hello) and closes 1000; the clock is read from the 101\'s Date', async () => {
  const c = await controller({ date101: new Date(Date.now() - 3_600_000) });
  try {
    const x = ctx(c.url, TOKEN);
    const r = await checkUplink(x);
    assert.is(r.status, 'pass', r.detail);
    await until(() => c.conns[0]?.code !== undefined);
    assert.equal(c.conns, [{ frames: [], code: 1000 }]);
    const clock = await checkClock(x);
    assert.is(clock.status, 'fail');
    const skew = clock.data!.skew_s as number;
    assert.ok(skew >= 3599 && skew <= 3601, String(skew));
    assert.equal(c.gets, [], 'no plain request when the 101 has the time');
  } finally {
    await c.close();
  }
});

uplink('Without a Date on the 101, the clock check asks the same url with the same token', async () => {
  const c = await controller({ dateHttp: new Date(Date.now() + 3_600_000) });
  try {
    const x = ctx(c.url, TOKEN);
    assert.is((await checkUplink(x)).status, 'pass');
    const clock = await checkClock(x);
    assert.is(clock.status, 'fail');
    const skew = clock.data!.skew_s as number;
    assert.ok(skew <= -3599 && skew >= -3601, String(skew));
    assert.equal(c.gets, [`Bearer ${TOKEN}`]);
  } finally {
    await c.close();
  }
});

uplink('A refused token names uplink.token; a url that reaches a web server but not the endpoint names its path', async () => {
  const c = await controller();
  try {
    const refused = await checkUplink(ctx(c.url, 'not-the-token-1'));
    assert.is(refused.status, 'fail');
    assert.match(refused.detail, /HTTP 401/);
    assert.match(refused.hint!, /uplink\.token/);
    assert.not.ok(`${refused.detail}${refused.hint}`.includes('not-the-token-1'));
    const wrongPath = await checkUplink(ctx(c.url.replace('/uplink', '/ws'), TOKEN));
    assert.is(wrongPath.status, 'fail');
    assert.match(wrongPath.detail, /HTTP 404/);
    assert.match(wrongPath.hint!, /path/);
    const x = ctx(c.url.replace('/uplink', '/ws'), TOKEN);
    await checkUplink(x);
    assert.is((await checkClock(x)).data!.skew_s, undefined, 'no skew from a controller not reached');
    assert.equal(c.conns, []);
  } finally {
    await c.close();
  }
});

uplink.after(() => fs.rmSync(dir, { recursive: true, force: true }));

uplink.run();

const quiet = suite('quiet scenario');

quiet('The quiet scenario holds still: steady generation and load, nominal frequency, the relay never closes', () => {
  const s = builtinScenario('quiet')!;
  const first = s.at(0);
  for (let t = 0; t <= 1200; t += 0.5) {
    const p = s.at(t);
    assert.is(p.relay, false, `relay at ${t} s`);
    assert.is(p.hz, s.nominalHz ?? 60);
    assert.is(p.generationKw, first.generationKw);
    assert.is(p.baseLoadKw, first.baseLoadKw);
  }
  // demo, by contrast, closes its relay 4:00–4:10 of every 10 minutes (what failed the relay check)
  assert.is(builtinScenario('demo')!.at(245).relay, true);
});

quiet.run();
