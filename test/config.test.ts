import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig, validateConfig } from '../agent/config';
import { ErrorCode } from '../agent/errors';
import { hashflex, tmpdir } from './harness/cli';

const good = {
  agent: { id: 'board-17' },
  meter: { model: 'sdm630', tcp: '127.0.0.1:1502', unit: 1 },
  boards: [{ id: 'hb0', serial: { path: '/dev/ttyUSB0' }, enable_pin: 2 }],
  io: { path: '/dev/ttyACM0' },
  fans: [{ id: 'fan0', pwm_pin: 9, tach_pin: 'A0' }],
  grid: { relay: { pin: 7, active: 'low' } },
};

function problems(doc: unknown): string[] {
  try {
    validateConfig(doc);
  } catch (e) {
    assert.instance(e, ConfigError);
    assert.is((e as ConfigError).code, ErrorCode.ConfigInvalid);
    return (e as ConfigError).problems;
  }
  assert.unreachable('config was accepted');
  return [];
}

test('a minimal config gets the documented defaults', () => {
  const c = validateConfig(good);
  assert.is(c.meter.poll_ms, 50);
  assert.is(c.meter.stale_ms, 1000);
  assert.is(c.boards[0].model, 'bm1366');
  assert.is(c.boards[0].serial.hasOwnProperty('baud') && (c.boards[0].serial as { baud: number }).baud, 115200);
  assert.is(c.grid.nominal_hz, 60);
  assert.is(c.grid.underfrequency.trip_hz, 59.7);
  assert.is(c.grid.underfrequency.release, 'manual');
  assert.is(c.control.mode, 'surplus');
  assert.is(c.control.margin_kw, 0.2);
});

test('on a 50 Hz grid the default under-frequency trip is 49.7 Hz', () => {
  assert.is(validateConfig({ ...good, grid: { nominal_hz: 50 } }).grid.underfrequency.trip_hz, 49.7);
});

test('every problem is reported with the path of its key', () => {
  const p = problems({
    agent: { id: 'has space' },
    meter: { tcp: 'nohost', poll_ms: 'fast' },
    boards: [{ id: 'hb0', serial: { tcp: '127.0.0.1:99999' }, chips: 0 }],
    control: { mode: 'max' },
    colour: 'blue',
  });
  const keys = p.map((l) => l.split(':')[0]);
  for (const k of ['agent.id', 'meter.tcp', 'meter.poll_ms', 'boards[0].serial.tcp', 'boards[0].chips', 'control.mode', 'colour']) {
    assert.ok(keys.includes(k), `expected a problem at ${k} in\n${p.join('\n')}`);
  }
  assert.ok(p.some((l) => l.startsWith('colour: unknown key')));
});

test('a meter needs exactly one of tcp or serial', () => {
  assert.ok(problems({ ...good, meter: { model: 'sdm630' } }).some((l) => l.startsWith('meter: give exactly one')));
  assert.ok(problems({ ...good, meter: { tcp: '127.0.0.1:502', serial: { path: '/dev/x' } } }).some((l) => l.startsWith('meter: ')));
});

test('duplicate board ids and pins used twice are refused', () => {
  const p = problems({
    ...good,
    boards: [{ id: 'hb0', serial: { path: '/a' }, enable_pin: 9 }, { id: 'hb0', serial: { path: '/b' }, enable_pin: 7 }],
  });
  assert.ok(p.some((l) => l.startsWith('boards[1].id: duplicate')));
  assert.ok(p.some((l) => l.startsWith('fans[0].pwm_pin: pin 9 is already used by boards[0].enable_pin')));
  assert.ok(p.some((l) => l.startsWith('grid.relay.pin: pin 7 is already used')));
});

test('pins without an io board, and a trip frequency above nominal, are refused', () => {
  const { io: _io, ...noIo } = good;
  assert.ok(problems(noIo).some((l) => l.startsWith('io: ')));
  assert.ok(problems({ ...good, grid: { underfrequency: { trip_hz: 60.2 } } }).some((l) => l.startsWith('grid.underfrequency.trip_hz: must be below')));
});

test('a token file is read, and a missing one is a problem at its key', () => {
  const dir = tmpdir();
  fs.writeFileSync(path.join(dir, 'token'), 's3cret-token\n');
  const file = path.join(dir, 'a.yaml');
  fs.writeFileSync(file, JSON.stringify({ ...good, uplink: { url: 'ws://127.0.0.1:9/x', token_file: 'token' } }));
  assert.is(loadConfig(file).uplink!.token, 's3cret-token');
  fs.writeFileSync(file, JSON.stringify({ ...good, uplink: { url: 'ws://127.0.0.1:9/x', token_file: 'missing' } }));
  try {
    loadConfig(file);
    assert.unreachable();
  } catch (e) {
    assert.match((e as ConfigError).problems.join('\n'), /^uplink\.token_file: cannot read missing/m);
  }
  fs.rmSync(dir, { recursive: true });
});

test('YAML syntax errors name the line', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'a.yaml');
  fs.writeFileSync(file, 'agent:\n  id: x\nmeter: [unclosed\n');
  try {
    loadConfig(file);
    assert.unreachable();
  } catch (e) {
    assert.match((e as ConfigError).problems[0], /^\(yaml\) line \d+/);
  }
  fs.rmSync(dir, { recursive: true });
});

test('hashflex config check exits 2 with one line per problem, and 0 on a good file', async () => {
  const dir = tmpdir();
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, 'agent: { id: ok }\nmeter: { tcp: "x:0" }\nboards: []\ncontrol: { mode: max }\n');
  const p = hashflex(['config', 'check', bad]);
  assert.is(await p.exited, 2);
  const lines = p.out().trim().split('\n');
  assert.equal(lines.map((l) => l.split(':')[0]).sort(), ['boards', 'control.mode', 'meter.tcp']);
  const okFile = path.join(dir, 'good.yaml');
  fs.writeFileSync(okFile, JSON.stringify(good));
  const q = hashflex(['config', 'check', okFile]);
  assert.is(await q.exited, 0);
  assert.match(q.out(), /ok/);
  fs.rmSync(dir, { recursive: true });
});

test('hashflex run with a bad config exits 2 and never opens a port', async () => {
  const server = net.createServer();
  let connections = 0;
  server.on('connection', (s) => { connections++; s.destroy(); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const dir = tmpdir();
  const file = path.join(dir, 'bad.yaml');
  fs.writeFileSync(file, JSON.stringify({ ...good, meter: { tcp: `127.0.0.1:${port}` }, boards: [{ id: 'hb0', serial: { tcp: `127.0.0.1:${port}` }, chips: 0 }] }));
  try {
    const p = hashflex(['run', '-c', file]);
    assert.is(await p.exited, 2);
    assert.match(p.err(), /^boards\[0\]\.chips: /m);
    assert.is(connections, 0);
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true });
  }
});

test('unknown commands and options are usage errors with exit 2', async () => {
  assert.is(await hashflex(['frobnicate']).exited, 2);
  assert.is(await hashflex(['sim', '--bogus']).exited, 2);
  assert.is(await hashflex(['run']).exited, 2);
});

test.run();
